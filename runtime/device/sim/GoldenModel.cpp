//===- GoldenModel.cpp - The accelerator's functional golden model --------===//

#include "runtime/device/sim/GoldenModel.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace edgellm;
using namespace edgellm::sim;
using isa::kBeatBytes;
using isa::kLanes;

void SparseMemory::read(uint64_t addr, void *dst, uint64_t n) const {
  auto *out = static_cast<uint8_t *>(dst);
  while (n) {
    uint64_t page = addr / kPage, off = addr % kPage, len = std::min(n, kPage - off);
    auto it = pages.find(page);
    if (it == pages.end())
      std::memset(out, 0, len);
    else
      std::memcpy(out, it->second.get() + off, len);
    out += len, addr += len, n -= len;
  }
}

void SparseMemory::write(uint64_t addr, const void *src, uint64_t n) {
  auto *in = static_cast<const uint8_t *>(src);
  while (n) {
    uint64_t page = addr / kPage, off = addr % kPage, len = std::min(n, kPage - off);
    auto &p = pages[page];
    if (!p) {
      p.reset(new uint8_t[kPage]);
      std::memset(p.get(), 0, kPage);
    }
    std::memcpy(p.get() + off, in, len);
    in += len, addr += len, n -= len;
  }
}

GoldenModel::GoldenModel(const hw::TargetDesc &t)
    : target_(t), hbm_(t.hbm.capacityBytes()), ddr_(t.ddr.capacityMiB << 20),
      bufs_{SparseMemory(t.onchip.abufKiB << 10), SparseMemory(t.onchip.wbufKiB << 10),
            SparseMemory(t.onchip.kbufKiB << 10), SparseMemory(t.onchip.pbufKiB << 10)} {}

namespace {

/// Thrown-free fault reporting inside one instruction.
struct Failure {
  isa::Fault fault = isa::Fault::None;
  std::string message;
  explicit operator bool() const { return fault != isa::Fault::None; }
  void set(isa::Fault f, std::string m) {
    if (fault == isa::Fault::None) {
      fault = f;
      message = std::move(m);
    }
  }
};

/// An operand in the unified layout: element (m, c) is lane c % 16 of beat
/// addr + (c / 16) * stride + m.
struct Operand {
  SparseMemory *mem;
  uint64_t addr, stride;
  uint64_t byteOf(uint64_t m, uint64_t c) const {
    return (addr + (c / kLanes) * stride + m) * kBeatBytes + (c % kLanes) * 2;
  }
};

class Exec {
public:
  Exec(GoldenModel &g, Failure &f) : g(g), f(f) {}

  Operand operand(uint32_t buf, uint64_t addr, uint64_t stride, uint64_t rows, uint64_t chans,
                  const char *what) {
    SparseMemory &mem = g.buffer(isa::Buf(buf));
    uint64_t blocks = (chans + kLanes - 1) / kLanes;
    if (blocks > 1 && stride < rows)
      f.set(isa::Fault::Layout, std::string(what) + ": token capacity " + std::to_string(stride) +
                                    " is below the " + std::to_string(rows) + " rows");
    uint64_t lastBeat = blocks == 0 || rows == 0 ? addr : addr + (blocks - 1) * stride + rows;
    if (lastBeat * kBeatBytes > mem.size())
      f.set(isa::Fault::Address, std::string(what) + " lies outside its buffer");
    return {&mem, addr, stride};
  }
  float get(const Operand &o, uint64_t m, uint64_t c) {
    uint16_t h;
    o.mem->read(o.byteOf(m, c), &h, 2);
    return isa::f16ToF32(h);
  }
  uint16_t getBits(const Operand &o, uint64_t m, uint64_t c) {
    uint16_t h;
    o.mem->read(o.byteOf(m, c), &h, 2);
    return h;
  }
  void put(const Operand &o, uint64_t m, uint64_t c, float v) {
    uint16_t h = isa::f32ToF16(v);
    o.mem->write(o.byteOf(m, c), &h, 2);
  }
  void putBits(const Operand &o, uint64_t m, uint64_t c, uint16_t h) {
    o.mem->write(o.byteOf(m, c), &h, 2);
  }
  /// Lanes past `chans` up to the next multiple of 16 get +0.
  void padRow(const Operand &o, uint64_t m, uint64_t chans) {
    for (uint64_t c = chans; c % kLanes; ++c)
      putBits(o, m, c, 0);
  }
  /// A vector of FP16 values from a beat address.
  float vec(uint32_t buf, uint64_t addr, uint64_t i) {
    uint16_t h;
    g.buffer(isa::Buf(buf)).read(addr * kBeatBytes + i * 2, &h, 2);
    return isa::f16ToF32(h);
  }

  GoldenModel &g;
  Failure &f;
};

/// Copies rows x len beats between memories (docs/isa.md, load/store).
void copy2d(SparseMemory &src, SparseMemory &dst, uint64_t srcAddr, uint64_t dstAddr,
            uint64_t rows, uint64_t len, uint64_t srcStride, uint64_t dstStride,
            uint32_t srcStripe, uint32_t dstStripe, Failure &f) {
  auto striped = [&](uint64_t base, uint64_t r, uint64_t stride, uint64_t j, uint32_t p,
                     bool &bad) -> uint64_t {
    if (p <= 1)
      return base + r * stride + j;
    uint64_t ch = base / isa::kHbmChannelBeats, off = base % isa::kHbmChannelBeats;
    uint64_t o = off + r * stride + j / p;
    if (o >= isa::kHbmChannelBeats)
      bad = true;
    return ((ch + j % p) % isa::kHbmChannels) * isa::kHbmChannelBeats + o;
  };
  uint8_t beat[kBeatBytes];
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t j = 0; j < len; ++j) {
      bool bad = false;
      uint64_t s = striped(srcAddr, r, srcStride, j, srcStripe, bad);
      uint64_t d = striped(dstAddr, r, dstStride, j, dstStripe, bad);
      if (bad || (s + 1) * kBeatBytes > src.size() || (d + 1) * kBeatBytes > dst.size()) {
        f.set(isa::Fault::Address, "copy beat outside its memory (row " + std::to_string(r) +
                                       ", beat " + std::to_string(j) + ")");
        return;
      }
      src.read(s * kBeatBytes, beat, kBeatBytes);
      dst.write(d * kBeatBytes, beat, kBeatBytes);
    }
}

/// docs/isa.md rms_norm step 1-2: lane sums then the fixed tree.
float laneTreeSum(const std::vector<float> &v) {
  float s[kLanes] = {};
  for (size_t i = 0; i < v.size(); ++i)
    s[i % kLanes] = s[i % kLanes] + v[i];
  return isa::treeSum16(s);
}

} // namespace

bool GoldenModel::execute(const Pending &p, RunResult &r) {
  using namespace isa;
  Failure f;
  Exec x(*this, f);
  const Instruction &in = p.inst;
  switch (in.opcode) {
  case Opcode::Load: {
    auto l = as<Load>(in);
    copy2d(l.src_mem == uint32_t(ExtMem::Hbm) ? hbm_ : ddr_, bufs_[l.dst_buf], l.src_addr,
           l.dst_addr, l.rows, l.row_len, l.src_stride, l.dst_stride, l.hbm_stripe, 1, f);
    break;
  }
  case Opcode::Store: {
    auto s = as<Store>(in);
    copy2d(bufs_[s.src_buf], ddr_, s.src_addr, s.dst_addr, s.rows, s.row_len, s.src_stride,
           s.dst_stride, 1, 1, f);
    break;
  }
  case Opcode::KvAppend: {
    auto s = as<KvAppend>(in);
    copy2d(bufs_[s.src_buf], hbm_, s.src_addr, s.dst_addr, s.rows, s.row_len, s.src_stride,
           s.dst_stride, 1, s.hbm_stripe, f);
    break;
  }
  case Opcode::Sync:
    break;
  case Opcode::Eltwise: {
    auto e = as<Eltwise>(in);
    Operand a = x.operand(e.a_buf, e.a_addr, e.a_stride, e.m, e.c, "a");
    Operand b = x.operand(e.b_buf, e.b_addr, e.b_stride, e.bcast_b ? 1 : e.m, e.c, "b");
    Operand y = x.operand(e.y_buf, e.y_addr, e.y_stride, e.m, e.c, "y");
    if (f)
      break;
    for (uint64_t m = 0; m < e.m; ++m) {
      for (uint64_t c = 0; c < e.c; ++c) {
        if (e.op == uint32_t(EwOp::Copy)) {
          x.putBits(y, m, c, x.getBits(a, m, c));
          continue;
        }
        float av = x.get(a, m, c), bv = x.get(b, e.bcast_b ? 0 : m, c);
        x.put(y, m, c, e.op == uint32_t(EwOp::Add) ? av + bv : av * bv);
      }
      x.padRow(y, m, e.c);
    }
    break;
  }
  case Opcode::SiluMul: {
    auto s = as<SiluMul>(in);
    Operand a = x.operand(s.a_buf, s.a_addr, s.a_stride, s.m, s.c, "a");
    Operand b = x.operand(s.b_buf, s.b_addr, s.b_stride, s.m, s.c, "b");
    Operand y = x.operand(s.y_buf, s.y_addr, s.y_stride, s.m, s.c, "y");
    if (f)
      break;
    for (uint64_t m = 0; m < s.m; ++m) {
      for (uint64_t c = 0; c < s.c; ++c) {
        float av = x.get(a, m, c), bv = x.get(b, m, c);
        float t = isaExp(-av);
        float d = 1.0f + t;
        float silu = av / d;
        x.put(y, m, c, silu * bv);
      }
      x.padRow(y, m, s.c);
    }
    break;
  }
  case Opcode::RmsNorm: {
    auto n = as<RmsNorm>(in);
    Operand xi = x.operand(n.x_buf, n.x_addr, n.x_stride, n.m, n.c, "x");
    Operand y = x.operand(n.y_buf, n.y_addr, n.y_stride, n.m, n.c, "y");
    if (f)
      break;
    float eps = f32FromBits(n.eps);
    std::vector<float> sq(n.c), row(n.c);
    for (uint64_t m = 0; m < n.m; ++m) {
      for (uint64_t c = 0; c < n.c; ++c) {
        row[c] = x.get(xi, m, c);
        sq[c] = row[c] * row[c];
      }
      float mean = laneTreeSum(sq) / float(n.c);
      float rinv = 1.0f / std::sqrt(mean + eps);
      for (uint64_t c = 0; c < n.c; ++c) {
        float v = row[c] * rinv;
        x.put(y, m, c, v * x.vec(n.g_buf, n.g_addr, c));
      }
      x.padRow(y, m, n.c);
    }
    break;
  }
  case Opcode::Softmax: {
    auto s = as<Softmax>(in);
    Operand xi = x.operand(s.x_buf, s.x_addr, s.x_stride, s.m, s.n, "x");
    Operand y = x.operand(s.y_buf, s.y_addr, s.y_stride, s.m, s.n, "y");
    if (f)
      break;
    int64_t diag = int64_t(int32_t(s.diag));
    std::vector<float> e(s.n);
    for (uint64_t i = 0; i < s.m; ++i) {
      auto valid = [&](uint64_t j) { return !s.causal || int64_t(j) <= diag + int64_t(i); };
      float mx = -INFINITY;
      bool any = false;
      for (uint64_t j = 0; j < s.n; ++j)
        if (valid(j)) {
          float v = x.get(xi, i, j);
          any = true;
          mx = v > mx ? v : mx;
        }
      for (uint64_t j = 0; j < s.n; ++j)
        e[j] = valid(j) && any ? isaExp(x.get(xi, i, j) - mx) : 0.0f;
      float inv = 1.0f / laneTreeSum(e);
      for (uint64_t j = 0; j < s.n; ++j)
        x.put(y, i, j, valid(j) && any ? e[j] * inv : 0.0f);
      x.padRow(y, i, s.n);
    }
    break;
  }
  case Opcode::Rope: {
    auto ro = as<Rope>(in);
    uint64_t chans = uint64_t(ro.heads) * ro.head_dim;
    Operand xi = x.operand(ro.x_buf, ro.x_addr, ro.x_stride, ro.m, chans, "x");
    Operand y = x.operand(ro.y_buf, ro.y_addr, ro.y_stride, ro.m, chans, "y");
    if (f)
      break;
    SparseMemory &tmem = bufs_[ro.t_buf];
    std::vector<float> row(chans);
    std::vector<uint16_t> bits(chans);
    for (uint64_t i = 0; i < ro.m; ++i) {
      for (uint64_t c = 0; c < chans; ++c) { // read the row first: in place is allowed
        bits[c] = x.getBits(xi, i, c);
        row[c] = f16ToF32(bits[c]);
      }
      std::vector<float> out = row;
      uint64_t tbase = (ro.t_addr + i * (ro.rot_dim / 8)) * kBeatBytes;
      for (uint64_t h = 0; h < ro.heads; ++h)
        for (uint64_t p = 0; p < ro.rot_dim / 2; ++p) {
          uint64_t base = h * ro.head_dim;
          uint64_t a = ro.pairs == uint32_t(PairMode::Interleaved) ? base + 2 * p : base + p;
          uint64_t b2 = ro.pairs == uint32_t(PairMode::Interleaved) ? base + 2 * p + 1
                                                                    : base + p + ro.rot_dim / 2;
          float cs[2];
          tmem.read(tbase + 8 * p, cs, 8);
          float xa = row[a], xb = row[b2];
          out[a] = xa * cs[0] - xb * cs[1];
          out[b2] = xb * cs[0] + xa * cs[1];
        }
      for (uint64_t c = 0; c < chans; ++c) {
        bool rotated = (c % ro.head_dim) < ro.rot_dim;
        if (rotated)
          x.put(y, i, c, out[c]);
        else
          x.putBits(y, i, c, bits[c]); // copied unchanged
      }
      x.padRow(y, i, chans);
    }
    break;
  }
  case Opcode::MmF16: {
    auto mm = as<MmF16>(in);
    Operand a = x.operand(mm.a_buf, mm.a_addr, mm.a_stride, mm.m, mm.k, "a");
    Operand b = mm.trans_b ? x.operand(mm.b_buf, mm.b_addr, mm.b_stride, mm.n, mm.k, "b")
                           : x.operand(mm.b_buf, mm.b_addr, mm.b_stride, mm.k, mm.n, "b");
    Operand c = x.operand(mm.c_buf, mm.c_addr, mm.c_stride, mm.m, mm.n, "c");
    if (f)
      break;
    float alpha = f32FromBits(mm.alpha);
    for (uint64_t i = 0; i < mm.m; ++i) {
      for (uint64_t j = 0; j < mm.n; ++j) {
        float acc = 0.0f;
        for (uint64_t t = 0; t < mm.k; t += kLanes) {
          float prod[kLanes] = {};
          for (uint64_t l = 0; l < kLanes && t + l < mm.k; ++l)
            prod[l] = x.get(a, i, t + l) * (mm.trans_b ? x.get(b, j, t + l) : x.get(b, t + l, j));
          acc = acc + treeSum16(prod);
        }
        float r2 = acc * alpha;
        x.put(c, i, j, mm.acc ? x.get(c, i, j) + r2 : r2);
      }
      x.padRow(c, i, mm.n);
    }
    break;
  }
  case Opcode::MmQ4: {
    auto mq = as<MmQ4>(in);
    Sparsity sp = Sparsity(mq.sparsity);
    Operand xi = x.operand(mq.x_buf, mq.x_addr, mq.x_stride, mq.m, mq.k, "x");
    Operand y = x.operand(mq.y_buf, mq.y_addr, mq.y_stride, mq.m, mq.n, "y");
    uint64_t rowBeats = q4RowBeats(mq.k, sp);
    if ((uint64_t(mq.w_addr) + uint64_t(mq.n) * rowBeats) * kBeatBytes > bufs_[mq.w_buf].size())
      f.set(Fault::Address, "weights lie outside their buffer");
    if (f)
      break;
    SparseMemory &wm = bufs_[mq.w_buf];
    unsigned payload = groupPayloadBytes(sp);
    std::vector<uint8_t> rowBytes(rowBeats * kBeatBytes);
    std::vector<uint16_t> xs(mq.k);
    for (uint64_t n = 0; n < mq.n; ++n) {
      wm.read((mq.w_addr + n * rowBeats) * kBeatBytes, rowBytes.data(), rowBytes.size());
      for (uint64_t m = 0; m < mq.m; ++m) {
        for (uint64_t k = 0; k < mq.k; ++k)
          xs[k] = x.getBits(xi, m, k);
        float acc = 0.0f;
        const uint8_t *p = rowBytes.data();
        for (uint64_t b0 = 0; b0 < mq.k; b0 += kQuantBlock) {
          uint64_t len = std::min<uint64_t>(kQuantBlock, mq.k - b0);
          uint64_t ng = (len + kQuantGroup - 1) / kQuantGroup;
          for (uint64_t g = 0; g < ng; ++g) {
            uint16_t scale = uint16_t(p[2 * g] | p[2 * g + 1] << 8);
            int8_t w[kQuantGroup];
            q4DecodeGroup(p + kBeatBytes + g * payload, sp, w);
            uint64_t s = b0 + g * kQuantGroup;
            unsigned count = unsigned(std::min<uint64_t>(kQuantGroup, mq.k - s));
            float v = q4GroupDot(xs.data() + s, w, count);
            acc = acc + v * f16ToF32(scale);
          }
          p += kBeatBytes + (ng * payload + kBeatBytes - 1) / kBeatBytes * kBeatBytes;
        }
        if (mq.has_bias)
          acc = acc + x.vec(mq.b_buf, mq.b_addr, n);
        x.put(y, m, n, acc);
      }
    }
    for (uint64_t m = 0; m < mq.m; ++m)
      x.padRow(y, m, mq.n);
    break;
  }
  default:
    f.set(Fault::Decode, "not an engine instruction");
  }
  if (f) {
    r.fault = f.fault;
    r.faultIndex = p.index;
    r.message = f.message;
    return false;
  }
  ++r.executed;
  return true;
}

/// Token FIFO between two queues.
static int fifo(isa::Queue from, isa::Queue to) {
  using Q = isa::Queue;
  if (from == Q::Load && to == Q::Compute)
    return 0;
  if (from == Q::Compute && to == Q::Load)
    return 1;
  if (from == Q::Compute && to == Q::Store)
    return 2;
  if (from == Q::Store && to == Q::Compute)
    return 3;
  return -1;
}
static isa::Queue prevOf(isa::Queue q) {
  return q == isa::Queue::Compute ? isa::Queue::Load : isa::Queue::Compute;
}
static isa::Queue nextOf(isa::Queue q) {
  return q == isa::Queue::Load ? isa::Queue::Compute : isa::Queue::Store;
}

bool GoldenModel::drain(RunResult &r, bool untilEmpty) {
  using isa::Queue;
  const uint32_t depth = target_.queues.tokenFifoDepth;
  while (true) {
    // The ready queue head with the smallest program index runs next.
    int best = -1;
    for (Queue q : {Queue::Load, Queue::Compute, Queue::Store}) {
      auto &qu = queues_[unsigned(q)];
      size_t h = heads_[unsigned(q)];
      if (h >= qu.size())
        continue;
      const isa::Deps &d = qu[h].inst.deps;
      std::array<uint32_t, 4> t = tokens_;
      bool ready = true;
      if (d.waitPrev)
        ready &= t[fifo(prevOf(q), q)]-- > 0;
      if (d.waitNext)
        ready &= t[fifo(nextOf(q), q)]-- > 0;
      if (d.signalPrev)
        ready &= ++t[fifo(q, prevOf(q))] <= depth;
      if (d.signalNext)
        ready &= ++t[fifo(q, nextOf(q))] <= depth;
      if (!ready)
        continue;
      if (best < 0 || (randomIssue_ ? (rng_() & 1) != 0
                                    : qu[h].index < queues_[best][heads_[best]].index))
        best = int(q);
    }
    if (best < 0) {
      bool empty = true;
      uint32_t first = UINT32_MAX;
      for (Queue q : {Queue::Load, Queue::Compute, Queue::Store})
        if (heads_[unsigned(q)] < queues_[unsigned(q)].size()) {
          empty = false;
          first = std::min(first, queues_[unsigned(q)][heads_[unsigned(q)]].index);
        }
      if (empty || !untilEmpty)
        return true;
      r.fault = isa::Fault::Deadlock;
      r.faultIndex = first;
      r.message = "waits for a dependency token that never comes";
      return false;
    }
    Queue q = Queue(best);
    const Pending &p = queues_[best][heads_[best]++];
    const isa::Deps &d = p.inst.deps;
    if (d.waitPrev)
      --tokens_[fifo(prevOf(q), q)];
    if (d.waitNext)
      --tokens_[fifo(nextOf(q), q)];
    if (!execute(p, r))
      return false;
    if (d.signalPrev)
      ++tokens_[fifo(q, prevOf(q))];
    if (d.signalNext)
      ++tokens_[fifo(q, nextOf(q))];
  }
}

RunResult GoldenModel::run(const std::vector<isa::Instruction> &program) {
  RunResult r;
  for (auto &q : queues_)
    q.clear();
  heads_ = {};
  tokens_ = {};
  for (uint32_t i = 0; i < program.size(); ++i) {
    isa::Instruction inst = program[i];
    isa::DecodeResult v = isa::validate(inst);
    if (!v) {
      r.fault = isa::Fault::Decode;
      r.faultIndex = i;
      r.message = isa::describe(v, isa::lookup(uint32_t(inst.opcode)));
      return r;
    }
    const isa::InstrSpec &s = inst.spec();
    // Dynamic values are resolved at dispatch: x += R[x_reg].
    for (unsigned fi = 0; fi < s.numFields; ++fi)
      if (int base = s.fields[fi].dynamicOf; base >= 0)
        inst.values[base] += reg(inst.values[fi]);
    switch (s.queue) {
    case isa::Queue::Dispatch:
      if (inst.opcode == isa::Opcode::RegOp) {
        auto o = isa::as<isa::RegOp>(inst);
        uint32_t v = isa::aluResult(isa::AluOp(o.op), reg(o.ra), reg(o.rb) + o.imm);
        setReg(o.rd, v);
        ++r.executed;
      } else if (inst.opcode == isa::Opcode::Barrier || inst.opcode == isa::Opcode::End) {
        if (!drain(r, true))
          return r;
        ++r.executed;
        if (inst.opcode == isa::Opcode::End) {
          if (tokens_ != std::array<uint32_t, 4>{}) {
            r.fault = isa::Fault::UnbalancedTokens;
            r.faultIndex = i;
            r.message = "dependency tokens left at end";
          }
          return r;
        }
      } else {
        ++r.executed; // nop
      }
      break;
    default:
      queues_[unsigned(s.queue)].push_back({i, inst});
      // Run what can run now, keeping the queues short (with random issue
      // the queues fill up to the next barrier, so any order the tokens
      // allow can happen).
      if (!randomIssue_ && !drain(r, false))
        return r;
    }
  }
  r.fault = isa::Fault::NoEnd;
  r.faultIndex = uint32_t(program.size());
  r.message = "the program has no end";
  return r;
}
