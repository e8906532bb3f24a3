//===- Isa.h - The EdgeLLM accelerator ISA ----------------------*- C++ -*-===//
//
// Types, constants and the constexpr instruction table generated from
// Isa.def, plus bit-exact encoding and decoding of one 256-bit instruction.
// Plain C++17 without exceptions or allocation, so the compiler, the runtime,
// the simulator and the HLS kernels can all include it. The stream container
// (header, whole-program checks, text names) is in IsaStream.h.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_ISA_H
#define EDGELLM_HW_ISA_H

#include <array>
#include <cstddef>
#include <cstdint>

namespace edgellm::isa {

/// ISA version carried in every stream header. The major number changes when
/// an encoding changes; a decoder only accepts its own major version.
inline constexpr uint16_t kVersionMajor = 1;
inline constexpr uint16_t kVersionMinor = 0;

/// One instruction is one 256-bit AXI beat.
inline constexpr unsigned kInstrBits = 256;
inline constexpr unsigned kInstrBytes = kInstrBits / 8;
inline constexpr unsigned kInstrWords = kInstrBits / 64;
/// Bytes of one beat of on-chip or off-chip memory (16 FP16 lanes).
inline constexpr unsigned kBeatBytes = 32;
inline constexpr unsigned kLanes = 16;
/// HBM beat addresses: channel * kHbmChannelBeats + offset.
inline constexpr unsigned kHbmChannels = 32;
inline constexpr uint32_t kHbmChannelBeats = 1u << 23; // 256 MiB / 32 B

/// Runtime registers. R0 reads as zero; the host writes R1-R15 before a run.
inline constexpr unsigned kNumRegs = 16;
inline constexpr unsigned kRegZero = 0;
inline constexpr unsigned kRegPos = 1;       ///< position of the step's first token
inline constexpr unsigned kRegPast = 2;      ///< tokens already in the KV cache
inline constexpr unsigned kRegNumTokens = 3; ///< tokens in this step
inline constexpr unsigned kFirstFreeReg = 4;

/// Host interface: the accelerator's AXI-lite control registers (byte
/// offsets). See docs/isa.md, "Host interface".
namespace ctrl {
inline constexpr uint32_t kControl = 0x00;      ///< write 1 to bit 0: start
inline constexpr uint32_t kStatus = 0x04;       ///< kStatus* bits
inline constexpr uint32_t kFaultCode = 0x08;    ///< a Fault value
inline constexpr uint32_t kFaultIndex = 0x0c;   ///< index of the faulting instruction
inline constexpr uint32_t kProgramLo = 0x10;    ///< DDR beat address of the first instruction
inline constexpr uint32_t kProgramHi = 0x14;
inline constexpr uint32_t kProgramCount = 0x18; ///< number of instructions
inline constexpr uint32_t kRegBase = 0x40;      ///< R[r] at kRegBase + 4 r (R0 reads 0)
inline constexpr uint32_t kStatusBusy = 1u << 0;
inline constexpr uint32_t kStatusDone = 1u << 1;
inline constexpr uint32_t kStatusFault = 1u << 2;
} // namespace ctrl

/// Why the device stopped before `end` (ctrl::kFaultCode).
enum class Fault : uint32_t {
  None = 0,
  Decode = 1,           ///< an invalid instruction word
  Address = 2,          ///< an access outside a memory or buffer
  Layout = 3,           ///< an operand's rows exceed its token capacity
  Alias = 4,            ///< an output overlaps an input in a forbidden way
  Deadlock = 5,         ///< a token wait that can never be satisfied
  UnbalancedTokens = 6, ///< token FIFOs not empty at `end`
  NoEnd = 7,            ///< the instruction count ran out before `end`
};

/// Common header: bits [0, 24) of every instruction.
inline constexpr unsigned kOpcodeBits = 6;
inline constexpr unsigned kWaitPrevBit = 6;
inline constexpr unsigned kWaitNextBit = 7;
inline constexpr unsigned kSignalPrevBit = 8;
inline constexpr unsigned kSignalNextBit = 9;
inline constexpr unsigned kHeaderReservedLo = 10; ///< bits [10, 16) must be 0
inline constexpr unsigned kCheckLo = 16;          ///< bits [16, 24): CRC-8
inline constexpr unsigned kFieldsLo = 24;

//===----------------------------------------------------------------------===//
// Enumerations
//===----------------------------------------------------------------------===//

#define EDGELLM_ISA_ENUM_VALUE(Enum, Id, mnemonic, value) Id = value,
#define EDGELLM_ISA_ENUMS(Name, doc, ...) enum class Name : uint32_t { __VA_ARGS__ };
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_ENUMS
#undef EDGELLM_ISA_ENUM_VALUE

enum class Opcode : uint32_t {
#define EDGELLM_ISA_INSTR(Name, mnemonic, opcode, queue, doc) Name = opcode,
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_INSTR
};

/// The engine an instruction runs on. Dispatch instructions are executed by
/// the fetch unit itself, in program order.
enum class Queue : uint32_t { Dispatch, Load, Compute, Store };

/// How a field's value is interpreted (and printed).
enum class FieldKind : uint32_t {
  Uint,
  Bool,
  Reg,
  F32,
#define EDGELLM_ISA_ENUM_VALUE(Enum, Id, mnemonic, value)
#define EDGELLM_ISA_ENUMS(Name, doc, ...) Name,
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_ENUMS
#undef EDGELLM_ISA_ENUM_VALUE
};

/// Dependency flags (see docs/isa.md, "Queues and dependency tokens").
struct Deps {
  bool waitPrev = false, waitNext = false;
  bool signalPrev = false, signalNext = false;
  constexpr bool any() const {
    return waitPrev || waitNext || signalPrev || signalNext;
  }
  friend constexpr bool operator==(const Deps &a, const Deps &b) {
    return a.waitPrev == b.waitPrev && a.waitNext == b.waitNext &&
           a.signalPrev == b.signalPrev && a.signalNext == b.signalNext;
  }
};

//===----------------------------------------------------------------------===//
// The instruction table
//===----------------------------------------------------------------------===//

inline constexpr unsigned kMaxFields = 20;

struct FieldSpec {
  const char *name = nullptr;
  unsigned bits = 0;
  unsigned offset = 0; ///< bit position in the 256-bit word
  FieldKind kind = FieldKind::Uint;
  uint32_t minValue = 0;
  uint32_t maxValue = 0;
  const char *doc = nullptr;
  /// For a register field `x_reg` of a dynamic value `x + R[x_reg]`: the
  /// index of `x` (set by buildTable from the naming rule), else -1.
  int dynamicOf = -1;
};

struct InstrSpec {
  const char *name = nullptr;     ///< C++ name, e.g. "MmQ4"
  const char *mnemonic = nullptr; ///< assembly name, e.g. "mm_q4"
  Opcode opcode = Opcode::Nop;
  Queue queue = Queue::Dispatch;
  const char *doc = nullptr;
  unsigned numFields = 0;
  std::array<FieldSpec, kMaxFields> fields{};
  unsigned usedBits = kFieldsLo; ///< header + fields
};

namespace detail {
struct FieldEntry {
  Opcode op;
  FieldSpec spec;
};
inline constexpr FieldEntry kFieldEntries[] = {
#define EDGELLM_ISA_FIELD(Instr, name, bits, kind, mn, mx, doc)                \
  {Opcode::Instr,                                                              \
   {#name, bits, 0, FieldKind::kind, uint32_t(mn), uint32_t(mx), doc}},
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_FIELD
};
inline constexpr InstrSpec kInstrHeads[] = {
#define EDGELLM_ISA_INSTR(Name, mnemonic, opcode, queue, doc)                  \
  {#Name, #mnemonic, Opcode::Name, Queue::queue, doc},
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_INSTR
};
inline constexpr unsigned kNumInstrs =
    sizeof(kInstrHeads) / sizeof(kInstrHeads[0]);

/// `name` is `base` followed by "_reg".
constexpr bool isRegOf(const char *name, const char *base) {
  while (*base && *name == *base)
    ++name, ++base;
  return *base == 0 && name[0] == '_' && name[1] == 'r' && name[2] == 'e' && name[3] == 'g' &&
         name[4] == 0;
}

constexpr std::array<InstrSpec, kNumInstrs> buildTable() {
  std::array<InstrSpec, kNumInstrs> table{};
  for (unsigned i = 0; i < kNumInstrs; ++i) {
    table[i] = kInstrHeads[i];
    for (const FieldEntry &e : kFieldEntries) {
      if (e.op != table[i].opcode)
        continue;
      FieldSpec f = e.spec;
      f.offset = table[i].usedBits;
      table[i].usedBits += f.bits;
      table[i].fields[table[i].numFields++] = f;
    }
    // Dynamic values: `x_reg` adds a register to `x` (regop's registers are
    // operands, not offsets).
    if (table[i].opcode != Opcode::RegOp)
      for (unsigned r = 0; r < table[i].numFields; ++r)
        for (unsigned b = 0; b < table[i].numFields; ++b)
          if (isRegOf(table[i].fields[r].name, table[i].fields[b].name))
            table[i].fields[r].dynamicOf = int(b);
  }
  return table;
}
} // namespace detail

/// Every instruction, in Isa.def order.
inline constexpr std::array<InstrSpec, detail::kNumInstrs> kInstrTable =
    detail::buildTable();

constexpr bool checkTable() {
  for (const InstrSpec &s : kInstrTable) {
    if (s.usedBits > kInstrBits || s.numFields > kMaxFields ||
        uint32_t(s.opcode) >= (1u << kOpcodeBits))
      return false;
    for (unsigned i = 0; i < s.numFields; ++i) {
      const FieldSpec &f = s.fields[i];
      if (f.bits == 0 || f.bits > 32 || f.minValue > f.maxValue ||
          (f.bits < 32 && f.maxValue >= (1ull << f.bits)))
        return false;
    }
    for (const InstrSpec &t : kInstrTable)
      if (&s != &t && s.opcode == t.opcode)
        return false;
  }
  return true;
}
static_assert(checkTable(), "Isa.def: an instruction overflows 256 bits, has "
                            "a bad field range or a duplicate opcode");

/// The table entry of an opcode, or nullptr if the opcode is not defined.
constexpr const InstrSpec *lookup(uint32_t opcode) {
  for (const InstrSpec &s : kInstrTable)
    if (uint32_t(s.opcode) == opcode)
      return &s;
  return nullptr;
}
constexpr const InstrSpec &spec(Opcode op) { return *lookup(uint32_t(op)); }

/// Index of a field by name in an instruction, or -1.
constexpr int fieldIndex(const InstrSpec &s, const char *name) {
  for (unsigned i = 0; i < s.numFields; ++i) {
    const char *a = s.fields[i].name, *b = name;
    while (*a && *a == *b)
      ++a, ++b;
    if (*a == 0 && *b == 0)
      return int(i);
  }
  return -1;
}

//===----------------------------------------------------------------------===//
// Generic instruction and the 256-bit word
//===----------------------------------------------------------------------===//

using Word = std::array<uint64_t, kInstrWords>;

/// An instruction as opcode + dependency flags + field values in table order.
struct Instruction {
  Opcode opcode = Opcode::Nop;
  Deps deps;
  std::array<uint32_t, kMaxFields> values{};

  const InstrSpec &spec() const { return isa::spec(opcode); }
  friend bool operator==(const Instruction &a, const Instruction &b) {
    return a.opcode == b.opcode && a.deps == b.deps && a.values == b.values;
  }
};

inline uint64_t getBits(const Word &w, unsigned lo, unsigned bits) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bits; ++i) {
    unsigned b = lo + i;
    v |= ((w[b / 64] >> (b % 64)) & 1ull) << i;
  }
  return v;
}
inline void setBits(Word &w, unsigned lo, unsigned bits, uint64_t v) {
  for (unsigned i = 0; i < bits; ++i) {
    unsigned b = lo + i;
    uint64_t bit = 1ull << (b % 64);
    w[b / 64] = ((v >> i) & 1ull) ? (w[b / 64] | bit) : (w[b / 64] & ~bit);
  }
}

/// CRC-8 (polynomial x^8 + x^2 + x + 1, initial value 0xff, no final xor)
/// over the 32 little-endian bytes of the word with the check byte taken as
/// zero. The non-zero start makes an all-zero word invalid.
inline uint8_t checkByte(Word w) {
  setBits(w, kCheckLo, 8, 0);
  uint8_t crc = 0xff;
  for (unsigned i = 0; i < kInstrBytes; ++i) {
    crc ^= uint8_t(w[i / 8] >> (8 * (i % 8)));
    for (int b = 0; b < 8; ++b)
      crc = (crc & 0x80) ? uint8_t((crc << 1) ^ 0x07) : uint8_t(crc << 1);
  }
  return crc;
}

/// Why a word or an instruction is not valid.
enum class DecodeError : uint32_t {
  None,
  UnknownOpcode,
  BadCheck,
  ReservedBits,
  BadDeps,
  FieldRange,
  Constraint, ///< fields in range but inconsistent with each other
};

struct DecodeResult {
  DecodeError error = DecodeError::None;
  /// For FieldRange: the index of the offending field.
  int field = -1;
  uint32_t value = 0;
  /// For Constraint: the rule that is broken.
  const char *rule = nullptr;
  explicit operator bool() const { return error == DecodeError::None; }
};

/// Dependency flags an instruction of this queue may carry: the load queue
/// has no previous queue, the store queue no next one, dispatch none at all.
constexpr bool depsAllowed(Queue q, const Deps &d) {
  switch (q) {
  case Queue::Dispatch:
    return !d.any();
  case Queue::Load:
    return !d.waitPrev && !d.signalPrev;
  case Queue::Compute:
    return true;
  case Queue::Store:
    return !d.waitNext && !d.signalNext;
  }
  return false;
}

/// Index of field `name` of instruction `op`, at compile time.
constexpr unsigned fieldOf(Opcode op, const char *name) {
  int i = fieldIndex(spec(op), name);
  return i < 0 ? kMaxFields : unsigned(i); // kMaxFields fails the static_asserts
}

/// Rules between the fields of one instruction (docs/isa.md, section 6), or
/// nullptr when they hold. `v` are the field values in table order.
inline const char *checkConstraints(Opcode op, const uint32_t *v) {
  switch (op) {
  case Opcode::Load: {
    constexpr unsigned srcMem = fieldOf(Opcode::Load, "src_mem");
    constexpr unsigned stripe = fieldOf(Opcode::Load, "hbm_stripe");
    static_assert(srcMem < kMaxFields && stripe < kMaxFields);
    if (v[srcMem] == uint32_t(ExtMem::Ddr) && v[stripe] != 1)
      return "hbm_stripe must be 1 for a load from DDR";
    return nullptr;
  }
  case Opcode::Rope: {
    constexpr unsigned headDim = fieldOf(Opcode::Rope, "head_dim");
    constexpr unsigned rotDim = fieldOf(Opcode::Rope, "rot_dim");
    static_assert(headDim < kMaxFields && rotDim < kMaxFields);
    if (v[headDim] % 2 != 0)
      return "head_dim must be even";
    if (v[rotDim] % 8 != 0)
      return "rot_dim must be a multiple of 8";
    if (v[rotDim] > v[headDim])
      return "rot_dim must not exceed head_dim";
    return nullptr;
  }
  default:
    return nullptr;
  }
}

/// Checks flags, field ranges and field constraints of an instruction.
inline DecodeResult validate(const Instruction &inst) {
  const InstrSpec *s = lookup(uint32_t(inst.opcode));
  if (!s)
    return {DecodeError::UnknownOpcode, -1, uint32_t(inst.opcode)};
  if (!depsAllowed(s->queue, inst.deps))
    return {DecodeError::BadDeps};
  for (unsigned i = 0; i < s->numFields; ++i) {
    uint32_t v = inst.values[i];
    if (v < s->fields[i].minValue || v > s->fields[i].maxValue)
      return {DecodeError::FieldRange, int(i), v};
  }
  for (unsigned i = s->numFields; i < kMaxFields; ++i)
    if (inst.values[i] != 0)
      return {DecodeError::FieldRange, int(i), inst.values[i]};
  if (const char *rule = checkConstraints(inst.opcode, inst.values.data()))
    return {DecodeError::Constraint, -1, 0, rule};
  return {};
}

/// Encodes a valid instruction (check with validate() first; an undefined
/// opcode encodes as an all-zero word, which no decoder accepts).
inline Word encode(const Instruction &inst) {
  Word w{};
  const InstrSpec *sp = lookup(uint32_t(inst.opcode));
  if (!sp)
    return w;
  const InstrSpec &s = *sp;
  setBits(w, 0, kOpcodeBits, uint32_t(inst.opcode));
  setBits(w, kWaitPrevBit, 1, inst.deps.waitPrev);
  setBits(w, kWaitNextBit, 1, inst.deps.waitNext);
  setBits(w, kSignalPrevBit, 1, inst.deps.signalPrev);
  setBits(w, kSignalNextBit, 1, inst.deps.signalNext);
  for (unsigned i = 0; i < s.numFields; ++i)
    setBits(w, s.fields[i].offset, s.fields[i].bits, inst.values[i]);
  setBits(w, kCheckLo, 8, checkByte(w));
  return w;
}

/// Decodes one word; every bit is checked: opcode, check byte, reserved bits,
/// dependency flags allowed for the queue, and every field's range.
inline DecodeResult decode(const Word &w, Instruction &out) {
  out = Instruction{};
  uint32_t op = uint32_t(getBits(w, 0, kOpcodeBits));
  const InstrSpec *s = lookup(op);
  if (!s)
    return {DecodeError::UnknownOpcode, -1, op};
  if (getBits(w, kCheckLo, 8) != checkByte(w))
    return {DecodeError::BadCheck, -1, uint32_t(getBits(w, kCheckLo, 8))};
  if (getBits(w, kHeaderReservedLo, kCheckLo - kHeaderReservedLo) != 0)
    return {DecodeError::ReservedBits};
  for (unsigned b = s->usedBits; b < kInstrBits; ++b)
    if (getBits(w, b, 1))
      return {DecodeError::ReservedBits};
  out.opcode = Opcode(op);
  out.deps.waitPrev = getBits(w, kWaitPrevBit, 1);
  out.deps.waitNext = getBits(w, kWaitNextBit, 1);
  out.deps.signalPrev = getBits(w, kSignalPrevBit, 1);
  out.deps.signalNext = getBits(w, kSignalNextBit, 1);
  for (unsigned i = 0; i < s->numFields; ++i)
    out.values[i] = uint32_t(getBits(w, s->fields[i].offset, s->fields[i].bits));
  return validate(out);
}

//===----------------------------------------------------------------------===//
// Typed views: one struct per instruction, members named as in Isa.def
//===----------------------------------------------------------------------===//

#define EDGELLM_ISA_BEGIN(Instr)                                               \
  struct Instr {                                                               \
    static constexpr Opcode kOpcode = Opcode::Instr;                           \
    Deps deps;
#define EDGELLM_ISA_FIELD(Instr, name, bits, kind, mn, mx, doc) uint32_t name = mn;
#define EDGELLM_ISA_END(Instr) };
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_FIELD

namespace detail {
template <typename T> struct Packer;
} // namespace detail

#define EDGELLM_ISA_BEGIN(Instr)                                               \
  template <> struct detail::Packer<Instr> {                                   \
    template <typename Fn> static void each(Instr &t, Fn &&fn) {               \
      unsigned i = 0;                                                          \
      (void)i;                                                                 \
      (void)t;
#define EDGELLM_ISA_FIELD(Instr, name, bits, kind, mn, mx, doc) fn(i++, t.name);
#define EDGELLM_ISA_END(Instr)                                                 \
  }                                                                            \
  }                                                                            \
  ;
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_FIELD

/// Typed struct -> generic instruction.
template <typename T> Instruction toInstruction(T t) {
  Instruction inst;
  inst.opcode = T::kOpcode;
  inst.deps = t.deps;
  detail::Packer<T>::each(t, [&](unsigned i, uint32_t &v) { inst.values[i] = v; });
  return inst;
}

/// Generic instruction -> typed struct (the opcode must match: a mismatch
/// gives the struct's defaults).
template <typename T> T as(const Instruction &inst) {
  T t;
  if (inst.opcode != T::kOpcode)
    return t;
  t.deps = inst.deps;
  detail::Packer<T>::each(t, [&](unsigned i, uint32_t &v) { v = inst.values[i]; });
  return t;
}

/// The result of `regop` (docs/isa.md): R[rd] = a op b with b = R[rb] + imm.
inline uint32_t aluResult(AluOp op, uint32_t a, uint32_t b) {
  switch (op) {
  case AluOp::Add: return a + b;
  case AluOp::Sub: return a - b;
  case AluOp::Mul: return a * b;
  case AluOp::Shl: return a << (b % 32);
  case AluOp::Shr: return a >> (b % 32);
  case AluOp::Min: return a < b ? a : b;
  case AluOp::Max: return a > b ? a : b;
  case AluOp::And: return a & b;
  }
  return 0;
}

/// Reinterprets an F32 field.
inline float f32FromBits(uint32_t bits) {
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}
inline uint32_t bitsFromF32(float f) {
  uint32_t bits;
  __builtin_memcpy(&bits, &f, sizeof bits);
  return bits;
}

} // namespace edgellm::isa

#endif // EDGELLM_HW_ISA_H
