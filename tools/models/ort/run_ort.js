// Runs ONNX models with ONNX Runtime (npm onnxruntime-node) on .npy inputs and
// writes the outputs as .npy, so that Python can compare them with the PyTorch
// references. Usage: node run_ort.js job.json
//
// job.json = {
//   "runs":   [{"model": "m.onnx", "inputs": {"input_ids": "a.npy", ...},
//               "outputs": {"logits": "out/logits.npy", ...}}],
//   "greedy": [{"prefill": "p.onnx", "decode": "d.onnx", "input_ids": "ids.npy",
//               "n_new": 32, "mask": true, "tokens_out": "t.npy", "logits_out": "l.npy"}]
// }
// Output names not listed under "outputs" are not written. greedy runs batch 1:
// prefill on the prompt, then one decode step per new token (argmax), feeding
// present_key_values.{i}.* back as past_key_values.{i}.*; logits_out holds the
// logits each token was chosen from ([n_new, vocab]).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = {
  '<f4': ['float32', Float32Array, 4],
  '<i8': ['int64', BigInt64Array, 8],
  '<i4': ['int32', Int32Array, 4],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(file + ': not a .npy file');
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(file + ': fortran order');
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',')
      .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const dt = DTYPES[descr];
  if (!dt) throw new Error(file + ': unsupported dtype ' + descr);
  const off = hstart + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = buf.subarray(off, off + n * dt[2]);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new ort.Tensor(dt[0], new dt[1](copy.buffer, 0, n), shape);
}

function writeNpy(file, tensor) {
  const map = {float32: '<f4', int64: '<i8', int32: '<i4'};
  const descr = map[tensor.type];
  if (!descr) throw new Error('cannot write ' + tensor.type);
  const dims = tensor.dims;
  const shape = dims.length === 0 ? '()' : dims.length === 1 ? '(' + dims[0] + ',)' : '(' + dims.join(', ') + ')';
  let header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ', }';
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

const sessions = new Map();
async function session(model) {
  if (!sessions.has(model)) {
    sessions.set(model, await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1}));
  }
  return sessions.get(model);
}

function int64(values, dims) {
  return new ort.Tensor('int64', BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}

function argmaxRow(t, row, width) {
  const d = t.data;
  let best = 0;
  for (let j = 1; j < width; j++) if (d[row * width + j] > d[row * width + best]) best = j;
  return best;
}

async function runGreedy(g) {
  const pre = await session(g.prefill);
  const dec = await session(g.decode);
  const ids = readNpy(g.input_ids);
  const n = ids.dims[1];
  const feeds = {input_ids: ids, position_ids: int64([...Array(n).keys()], [1, n])};
  if (g.mask) feeds.attention_mask = int64(Array(n).fill(1), [1, n]);
  let out = await pre.run(feeds);
  const vocab = out.logits.dims[2];
  let row = n - 1;
  const tokens = [];
  const logits = new Float32Array(g.n_new * vocab);
  let len = n;
  for (let step = 0; step < g.n_new; step++) {
    logits.set(out.logits.data.subarray(row * vocab, (row + 1) * vocab), step * vocab);
    const tok = argmaxRow(out.logits, row, vocab);
    tokens.push(tok);
    if (step + 1 === g.n_new) break;
    const f = {input_ids: int64([tok], [1, 1]), position_ids: int64([len], [1, 1])};
    if (g.mask) f.attention_mask = int64(Array(len + 1).fill(1), [1, len + 1]);
    for (const name of Object.keys(out)) {
      if (name.startsWith('present_key_values.')) f['past_key_values.' + name.slice(19)] = out[name];
    }
    out = await dec.run(f);
    row = 0;
    len += 1;
  }
  writeNpy(g.tokens_out, int64(tokens, [tokens.length]));
  writeNpy(g.logits_out, new ort.Tensor('float32', logits, [g.n_new, vocab]));
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const r of job.runs || []) {
    const s = await session(r.model);
    const feeds = {};
    for (const [name, file] of Object.entries(r.inputs)) feeds[name] = readNpy(file);
    const out = await s.run(feeds);
    for (const [name, file] of Object.entries(r.outputs)) {
      if (!(name in out)) throw new Error(r.model + ': no output ' + name);
      writeNpy(file, out[name]);
    }
  }
  for (const g of job.greedy || []) await runGreedy(g);
  console.log('onnxruntime-node ' + require('onnxruntime-node/package.json').version + ': ' +
      (job.runs || []).length + ' runs, ' + (job.greedy || []).length + ' greedy generations');
}

main().catch((e) => { console.error(e); process.exit(1); });
