//===- TokenScheduler.cpp - Dependency tokens for instruction streams -----===//

#include "compiler/target/TokenScheduler.h"
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>
#include <limits>

using namespace edgellm;
using namespace edgellm::target;
using isa::Opcode;
using isa::Queue;

namespace {

/// Memory spaces: the four on-chip buffers, DDR, then the HBM pseudo-channels.
constexpr unsigned kDdrSpace = 4, kHbmSpace0 = 5;
constexpr uint64_t kInf = std::numeric_limits<uint64_t>::max() / 4;

struct Range {
  unsigned space;
  uint64_t lo, hi; // beats, [lo, hi)
};

struct Access {
  std::vector<Range> reads, writes;
};

bool overlap(const std::vector<Range> &a, const std::vector<Range> &b) {
  for (const Range &x : a)
    for (const Range &y : b)
      if (x.space == y.space && x.lo < y.hi && y.lo < x.hi)
        return true;
  return false;
}

bool conflict(const Access &a, const Access &b) {
  return overlap(a.writes, b.writes) || overlap(a.writes, b.reads) ||
         overlap(a.reads, b.writes);
}

/// Field access with the dynamic part's bound.
class Fields {
public:
  Fields(const isa::Instruction &inst, const RegisterBounds &regMax)
      : inst(inst), spec(inst.spec()), regMax(regMax) {}
  uint64_t get(const char *name) const {
    int i = isa::fieldIndex(spec, name);
    return i < 0 ? 0 : inst.values[unsigned(i)];
  }
  /// The largest value of `name` (+ R[name_reg] if the field has one).
  uint64_t max(const char *name) const {
    uint64_t v = get(name);
    std::string reg = std::string(name) + "_reg";
    int r = isa::fieldIndex(spec, reg.c_str());
    if (r >= 0 && inst.values[unsigned(r)] != 0)
      v += regMax[inst.values[unsigned(r)] % isa::kNumRegs];
    return v;
  }

private:
  const isa::Instruction &inst;
  const isa::InstrSpec &spec;
  const RegisterBounds &regMax;
};

/// An operand in the unified layout: `channels` channels of `rows` rows.
Range unified(unsigned buf, uint64_t addr, uint64_t stride, uint64_t channels, uint64_t rows) {
  uint64_t blocks = (channels + isa::kLanes - 1) / isa::kLanes;
  if (blocks == 0 || rows == 0)
    return {buf, addr, addr};
  uint64_t extent = blocks > 1 ? (blocks - 1) * std::max(stride, rows) + rows : rows;
  return {buf, addr, addr + extent};
}

Range vectorRange(unsigned buf, uint64_t addr, uint64_t n) {
  return {buf, addr, addr + (n + isa::kLanes - 1) / isa::kLanes};
}

/// A 2-D copy's footprint in one linear space: every address from the
/// smallest start to the largest end.
Range copy2d(unsigned space, uint64_t lo, uint64_t hiStart, uint64_t rows, uint64_t stride,
             uint64_t len) {
  if (rows == 0 || len == 0)
    return {space, lo, lo};
  return {space, lo, hiStart + (rows - 1) * stride + len};
}

void hbmRanges(std::vector<Range> &out, uint64_t lo, uint64_t hiStart, uint64_t rows,
               uint64_t stride, uint64_t len, unsigned stripe) {
  if (rows == 0 || len == 0)
    return;
  uint64_t span = (rows - 1) * stride;
  if (stripe <= 1) {
    // Linear: every channel a row touches. A few rows far apart (a KV
    // cache with a row per channel) each get their own ranges; many rows,
    // or rows that overlap, the whole span.
    auto linear = [&](uint64_t a, uint64_t b) {
      for (uint64_t ch = a >> 23; ch <= std::min<uint64_t>((b - 1) >> 23, isa::kHbmChannels - 1);
           ++ch) {
        uint64_t base = ch << 23;
        out.push_back({kHbmSpace0 + unsigned(ch), std::max(a, base) - base,
                       std::min(b, base + isa::kHbmChannelBeats) - base});
      }
    };
    if (rows > 1 && rows <= 64 && stride >= (hiStart - lo) + len) {
      for (uint64_t r = 0; r < rows; ++r)
        linear(lo + r * stride, hiStart + r * stride + len);
    } else {
      linear(lo, hiStart + span + len);
    }
    return;
  }
  uint64_t ch = lo >> 23, off = lo & (isa::kHbmChannelBeats - 1);
  uint64_t per = (len + stripe - 1) / stripe;
  // A dynamic start: from the smallest offset to the end of the channels.
  uint64_t hi = lo == hiStart ? off + span + per : isa::kHbmChannelBeats;
  for (unsigned p = 0; p < stripe && p < len; ++p)
    out.push_back({kHbmSpace0 + unsigned((ch + p) % isa::kHbmChannels), off, hi});
}

bool accessOf(const isa::Instruction &inst, const RegisterBounds &regMax, Access &acc,
              std::string &error) {
  Fields f(inst, regMax);
  auto buf = [&](const char *name) { return unsigned(f.get(name)); };
  switch (inst.opcode) {
  case Opcode::Nop:
  case Opcode::End:
  case Opcode::RegOp:
  case Opcode::Barrier:
  case Opcode::Sync:
    return true;
  case Opcode::Load: {
    uint64_t rows = f.get("rows"), len = f.max("row_len");
    uint64_t srcLo = f.get("src_addr"), srcHi = f.max("src_addr");
    if (f.get("src_mem") == uint32_t(isa::ExtMem::Ddr))
      acc.reads.push_back(copy2d(kDdrSpace, srcLo, srcHi, rows, f.get("src_stride"), len));
    else
      hbmRanges(acc.reads, srcLo, srcHi, rows, f.get("src_stride"), len,
                unsigned(f.get("hbm_stripe")));
    acc.writes.push_back(copy2d(buf("dst_buf"), f.get("dst_addr"), f.max("dst_addr"), rows,
                                f.get("dst_stride"), len));
    return true;
  }
  case Opcode::Store:
  case Opcode::KvAppend: {
    uint64_t rows = f.get("rows"), len = f.max("row_len");
    acc.reads.push_back(copy2d(buf("src_buf"), f.get("src_addr"), f.max("src_addr"), rows,
                               f.get("src_stride"), len));
    uint64_t lo = f.get("dst_addr"), hi = f.max("dst_addr");
    if (inst.opcode == Opcode::Store)
      acc.writes.push_back(copy2d(kDdrSpace, lo, hi, rows, f.get("dst_stride"), len));
    else
      hbmRanges(acc.writes, lo, hi, rows, f.get("dst_stride"), len,
                unsigned(f.get("hbm_stripe")));
    return true;
  }
  case Opcode::MmQ4: {
    uint64_t m = f.max("m"), k = f.get("k"), n = f.get("n");
    acc.reads.push_back(unified(buf("x_buf"), f.get("x_addr"), f.get("x_stride"), k, m));
    uint64_t rowBeats = isa::q4RowBeats(uint32_t(k), isa::Sparsity(f.get("sparsity")));
    acc.reads.push_back({buf("w_buf"), f.get("w_addr"), f.get("w_addr") + n * rowBeats});
    if (f.get("has_bias"))
      acc.reads.push_back(vectorRange(buf("b_buf"), f.get("b_addr"), n));
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), n, m));
    return true;
  }
  case Opcode::MmF16: {
    uint64_t m = f.max("m"), n = f.max("n"), k = f.max("k");
    acc.reads.push_back(unified(buf("a_buf"), f.get("a_addr"), f.get("a_stride"), k, m));
    if (f.get("trans_b"))
      acc.reads.push_back(unified(buf("b_buf"), f.get("b_addr"), f.get("b_stride"), k, n));
    else
      acc.reads.push_back(unified(buf("b_buf"), f.get("b_addr"), f.get("b_stride"), n, k));
    Range c = unified(buf("c_buf"), f.get("c_addr"), f.get("c_stride"), n, m);
    acc.writes.push_back(c);
    if (f.get("acc"))
      acc.reads.push_back(c);
    return true;
  }
  case Opcode::RmsNorm: {
    uint64_t m = f.max("m"), c = f.get("c");
    acc.reads.push_back(unified(buf("x_buf"), f.get("x_addr"), f.get("x_stride"), c, m));
    acc.reads.push_back(vectorRange(buf("g_buf"), f.get("g_addr"), c));
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), c, m));
    return true;
  }
  case Opcode::Softmax: {
    uint64_t m = f.max("m"), n = f.max("n");
    acc.reads.push_back(unified(buf("x_buf"), f.get("x_addr"), f.get("x_stride"), n, m));
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), n, m));
    return true;
  }
  case Opcode::Rope: {
    uint64_t m = f.max("m"), c = f.get("heads") * f.get("head_dim");
    acc.reads.push_back(unified(buf("x_buf"), f.get("x_addr"), f.get("x_stride"), c, m));
    acc.reads.push_back({buf("t_buf"), f.get("t_addr"), f.get("t_addr") + m * f.get("rot_dim") / 8});
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), c, m));
    return true;
  }
  case Opcode::SiluMul: {
    uint64_t m = f.max("m"), c = f.get("c");
    acc.reads.push_back(unified(buf("a_buf"), f.get("a_addr"), f.get("a_stride"), c, m));
    acc.reads.push_back(unified(buf("b_buf"), f.get("b_addr"), f.get("b_stride"), c, m));
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), c, m));
    return true;
  }
  case Opcode::Eltwise: {
    uint64_t m = f.max("m"), c = f.get("c");
    acc.reads.push_back(unified(buf("a_buf"), f.get("a_addr"), f.get("a_stride"), c, m));
    if (f.get("op") != uint32_t(isa::EwOp::Copy))
      acc.reads.push_back(unified(buf("b_buf"), f.get("b_addr"), f.get("b_stride"), c,
                                  f.get("bcast_b") ? 1 : m));
    acc.writes.push_back(unified(buf("y_buf"), f.get("y_addr"), f.get("y_stride"), c, m));
    return true;
  }
  }
  error = std::string("cannot bound the memory access of ") + inst.spec().mnemonic;
  return false;
}

unsigned qi(Queue q) { return unsigned(q); }

} // namespace

bool edgellm::target::insertTokens(const std::vector<isa::Instruction> &program,
                                   const RegisterBounds &regMax,
                                   std::vector<isa::Instruction> &out, std::string &error,
                                   ScheduleStats *stats, std::vector<uint32_t> *indexMap) {
  if (indexMap)
    indexMap->clear();
  out.clear();
  out.reserve(program.size() + program.size() / 8);
  // Per queue: indices into `out` of its instructions, with their accesses.
  std::array<std::vector<size_t>, 4> members;
  std::vector<Access> access; // parallel to `out`
  // covered[a][b]: the last index (into out) of queue a that queue b is
  // already ordered after (+1; 0 = nothing).
  std::array<std::array<size_t, 4>, 4> covered{};
  size_t barrier = 0; // instructions before this index are complete
  ScheduleStats st;

  auto push = [&](isa::Instruction inst, Access acc) {
    inst.deps = {};
    out.push_back(inst);
    access.push_back(std::move(acc));
    members[qi(inst.spec().queue)].push_back(out.size() - 1);
    return out.size() - 1;
  };
  // The latest instruction of queue `a` (not yet covered towards `b`) that
  // conflicts with `acc`, as an index + 1 (0: none).
  auto latestConflict = [&](Queue a, Queue b, const Access &acc) -> size_t {
    const auto &list = members[qi(a)];
    size_t floor = std::max(covered[qi(a)][qi(b)], barrier);
    for (size_t i = list.size(); i-- > 0;) {
      size_t idx = list[i];
      if (idx + 1 <= floor)
        break;
      if (conflict(access[idx], acc))
        return idx + 1;
    }
    return 0;
  };
  // Direct token a -> b between neighbours in the load - compute - store chain.
  auto token = [&](size_t producer, Queue a, Queue b, isa::Deps &consumer) {
    bool forward = qi(b) > qi(a); // load->compute, compute->store
    isa::Deps &p = out[producer].deps;
    (forward ? p.signalNext : p.signalPrev) = true;
    (forward ? consumer.waitPrev : consumer.waitNext) = true;
    covered[qi(a)][qi(b)] = producer + 1;
    ++st.tokens;
  };

  for (const isa::Instruction &inst : program) {
    Queue q = inst.spec().queue;
    if (q == Queue::Dispatch) {
      if (indexMap)
        indexMap->push_back(uint32_t(out.size()));
      push(inst, {});
      if (inst.opcode == Opcode::Barrier || inst.opcode == Opcode::End)
        barrier = out.size();
      continue;
    }
    Access acc;
    if (!accessOf(inst, regMax, acc, error))
      return false;
    isa::Deps deps;
    // load <-> store first: a sync in the compute queue relays the token, and
    // being the newest compute instruction it also covers any compute
    // producer the consumer needs.
    Queue far = q == Queue::Load ? Queue::Store : q == Queue::Store ? Queue::Load : q;
    if (far != q) {
      if (size_t p = latestConflict(far, q, acc)) {
        const auto &computes = members[qi(Queue::Compute)];
        if (p <= covered[qi(far)][qi(Queue::Compute)]) {
          // The producer already signalled a compute instruction, which the
          // newest compute instruction follows: relay from that one.
          size_t c = computes.back();
          if (c + 1 > covered[qi(Queue::Compute)][qi(q)])
            token(c, Queue::Compute, q, deps);
        } else {
          isa::Instruction sync;
          sync.opcode = Opcode::Sync;
          size_t s = push(sync, {});
          isa::Deps sd;
          token(p - 1, far, Queue::Compute, sd);
          out[s].deps = sd;
          token(s, Queue::Compute, q, deps);
          ++st.relays;
        }
        covered[qi(far)][qi(q)] = p;
      }
    }
    for (Queue a : {Queue::Load, Queue::Compute, Queue::Store}) {
      if (a == q || a == far)
        continue;
      if (size_t p = latestConflict(a, q, acc))
        token(p - 1, a, q, deps);
    }
    if (indexMap)
      indexMap->push_back(uint32_t(out.size()));
    size_t idx = push(inst, std::move(acc));
    out[idx].deps = deps;
  }
  if (stats)
    *stats = st;
  return tokensBalanced(out, error);
}

unsigned edgellm::target::hoistWeightLoads(std::vector<isa::Instruction> &program,
                                           const RegisterBounds &regMax, unsigned maxHoist,
                                           std::vector<uint32_t> &order, std::string &error) {
  const size_t n = program.size();
  order.resize(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = uint32_t(i);
  if (maxHoist == 0)
    return 0;
  std::vector<Access> access(n);
  for (size_t i = 0; i < n; ++i)
    if (!accessOf(program[i], regMax, access[i], error))
      return ~0u;
  auto queueOf = [&](size_t i) { return program[i].spec().queue; };
  auto isWeightLoad = [&](size_t i) {
    const isa::Instruction &in = program[i];
    if (in.opcode != Opcode::Load)
      return false;
    Fields f(in, regMax);
    return f.get("src_mem") == uint32_t(isa::ExtMem::Hbm) &&
           f.get("dst_buf") == uint32_t(isa::Buf::Wbuf);
  };
  std::vector<size_t> idx(n); // the result, as indices into program
  for (size_t i = 0; i < n; ++i)
    idx[i] = i;
  unsigned moved = 0;
  size_t prevLoad = SIZE_MAX; // position in idx of the previous load
  for (size_t pos = 0; pos < idx.size(); ++pos) {
    size_t y = idx[pos];
    if (queueOf(y) != Queue::Load)
      continue;
    // Does y wait for a compute instruction placed after the previous load?
    bool stalls = false;
    for (size_t q = prevLoad == SIZE_MAX ? 0 : prevLoad + 1; q < pos && !stalls; ++q)
      stalls = queueOf(idx[q]) == Queue::Compute && conflict(access[idx[q]], access[y]);
    prevLoad = pos;
    if (!stalls || isWeightLoad(y))
      continue;
    // The weight loads after y, in order, that can move up to just before it.
    std::vector<size_t> take; // positions in idx
    for (size_t q = pos + 1; q < idx.size() && take.size() < maxHoist; ++q) {
      size_t x = idx[q];
      if (queueOf(x) == Queue::Dispatch)
        break;
      if (!isWeightLoad(x))
        continue;
      bool blocked = false;
      for (size_t r = pos; r < q && !blocked; ++r)
        blocked = conflict(access[idx[r]], access[x]);
      if (blocked)
        break;
      take.push_back(q);
    }
    if (take.empty())
      continue;
    std::vector<size_t> next;
    next.reserve(idx.size());
    next.insert(next.end(), idx.begin(), idx.begin() + long(pos));
    for (size_t q : take)
      next.push_back(idx[q]);
    for (size_t q = pos, t = 0; q < idx.size(); ++q) {
      if (t < take.size() && take[t] == q) {
        ++t;
        continue;
      }
      next.push_back(idx[q]);
    }
    moved += unsigned(take.size());
    prevLoad = pos + take.size(); // y, now after the moved loads
    pos = prevLoad;
    idx.swap(next);
  }
  std::vector<isa::Instruction> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(program[idx[i]]);
    order[i] = uint32_t(idx[i]);
  }
  program.swap(out);
  return moved;
}

bool edgellm::target::tokensBalanced(const std::vector<isa::Instruction> &program,
                                     std::string &error) {
  // FIFOs: load->compute, compute->load, compute->store, store->compute.
  long fifo[4] = {0, 0, 0, 0};
  for (const isa::Instruction &inst : program) {
    const isa::Deps &d = inst.deps;
    switch (inst.spec().queue) {
    case Queue::Load:
      fifo[0] += d.signalNext;
      fifo[1] -= d.waitNext;
      break;
    case Queue::Compute:
      fifo[0] -= d.waitPrev;
      fifo[1] += d.signalPrev;
      fifo[2] += d.signalNext;
      fifo[3] -= d.waitNext;
      break;
    case Queue::Store:
      fifo[2] -= d.waitPrev;
      fifo[3] += d.signalPrev;
      break;
    case Queue::Dispatch:
      break;
    }
  }
  static const char *names[4] = {"load->compute", "compute->load", "compute->store",
                                 "store->compute"};
  for (int i = 0; i < 4; ++i)
    if (fifo[i] != 0) {
      error = std::string("unbalanced dependency tokens on ") + names[i];
      return false;
    }
  return true;
}
