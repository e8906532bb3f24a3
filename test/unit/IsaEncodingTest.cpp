//===- IsaEncodingTest.cpp - Encode/decode of every instruction ------------===//
//
// Boundary values of every field of every instruction, literal encodings
// computed by hand from docs/isa.md, and rejection of every corrupt word.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/IsaStream.h"

#include <gtest/gtest.h>

#include <random>

using namespace edgellm::isa;

namespace {

/// An independent CRC-8 (poly 0x07, init 0xff) over the 32 bytes with the
/// check byte zeroed, written byte-wise from the definition in docs/isa.md.
uint8_t referenceCrc8(Word w) {
  uint8_t bytes[32];
  for (int i = 0; i < 32; ++i)
    bytes[i] = uint8_t(w[i / 8] >> (8 * (i % 8)));
  bytes[2] = 0; // bits 16-23
  unsigned crc = 0xff;
  for (uint8_t byte : bytes) {
    crc ^= byte;
    for (int b = 0; b < 8; ++b)
      crc = (crc & 0x80) ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return uint8_t(crc);
}

/// Makes the fields other than `keep` satisfy the cross-field rules.
void repair(Instruction &inst, int keep = -1) {
  const InstrSpec &s = inst.spec();
  auto idx = [&](const char *n) { return fieldIndex(s, n); };
  uint32_t *v = inst.values.data();
  if (inst.opcode == Opcode::Rope) {
    int hd = idx("head_dim"), rd = idx("rot_dim");
    if (keep == rd) {
      v[hd] = std::max(v[hd], v[rd]);
      v[hd] += v[hd] % 2;
    } else {
      v[hd] -= v[hd] % 2;
      v[rd] = std::max(8u, std::min(v[rd], v[hd]) / 8 * 8);
    }
  }
  if (inst.opcode == Opcode::Load) {
    int mem = idx("src_mem"), stripe = idx("hbm_stripe");
    if (keep == stripe && v[stripe] != 1)
      v[mem] = uint32_t(ExtMem::Hbm);
    else if (v[mem] == uint32_t(ExtMem::Ddr))
      v[stripe] = 1;
  }
}

Instruction randomValid(const InstrSpec &s, std::mt19937_64 &rng) {
  Instruction inst;
  inst.opcode = s.opcode;
  for (unsigned i = 0; i < s.numFields; ++i) {
    const FieldSpec &f = s.fields[i];
    std::uniform_int_distribution<uint64_t> d(f.minValue, f.maxValue);
    inst.values[i] = uint32_t(d(rng));
  }
  repair(inst);
  auto bit = [&] { return bool(rng() & 1); };
  Deps d{bit(), bit(), bit(), bit()};
  if (s.queue == Queue::Dispatch)
    d = {};
  if (s.queue == Queue::Load)
    d.waitPrev = d.signalPrev = false;
  if (s.queue == Queue::Store)
    d.waitNext = d.signalNext = false;
  inst.deps = d;
  return inst;
}

Word reseal(Word w) {
  setBits(w, kCheckLo, 8, referenceCrc8(w));
  return w;
}

} // namespace

TEST(IsaTable, EveryInstructionFitsAndOpcodesAreUnique) {
  EXPECT_EQ(kInstrTable.size(), 15u);
  for (const InstrSpec &s : kInstrTable) {
    EXPECT_LE(s.usedBits, 256u) << s.mnemonic;
    EXPECT_EQ(lookup(uint32_t(s.opcode)), &s);
    EXPECT_EQ(lookupMnemonic(s.mnemonic), &s);
    unsigned at = kFieldsLo;
    for (unsigned i = 0; i < s.numFields; ++i) {
      EXPECT_EQ(s.fields[i].offset, at) << s.mnemonic << "." << s.fields[i].name;
      at += s.fields[i].bits;
    }
  }
}

TEST(IsaEncoding, BoundaryValuesOfEveryField) {
  std::mt19937_64 rng(1);
  for (const InstrSpec &s : kInstrTable) {
    for (unsigned f = 0; f < s.numFields; ++f) {
      const FieldSpec &fs = s.fields[f];
      for (uint32_t v : {fs.minValue, fs.maxValue}) {
        Instruction inst = randomValid(s, rng);
        inst.values[f] = v;
        repair(inst, int(f));
        ASSERT_TRUE(validate(inst)) << s.mnemonic << "." << fs.name;
        Word w = encode(inst);
        // The value sits exactly at the documented bits.
        EXPECT_EQ(getBits(w, fs.offset, fs.bits), v) << s.mnemonic << "." << fs.name;
        EXPECT_EQ(getBits(w, 0, kOpcodeBits), uint32_t(s.opcode));
        EXPECT_EQ(getBits(w, kCheckLo, 8), referenceCrc8(w));
        Instruction back;
        DecodeResult r = decode(w, back);
        ASSERT_TRUE(r) << s.mnemonic << "." << fs.name << ": " << describe(r, &s);
        EXPECT_EQ(back, inst) << s.mnemonic << "." << fs.name << "=" << v;
      }
      // One past each end is rejected by validate() (when representable).
      Instruction inst = randomValid(s, rng);
      if (fs.minValue > 0) {
        inst.values[f] = fs.minValue - 1;
        DecodeResult r = validate(inst);
        EXPECT_EQ(r.error, DecodeError::FieldRange) << s.mnemonic << "." << fs.name;
        EXPECT_EQ(r.field, int(f));
      }
      if (fs.maxValue < 0xffffffffu) {
        inst.values[f] = fs.maxValue + 1;
        EXPECT_EQ(validate(inst).error, DecodeError::FieldRange)
            << s.mnemonic << "." << fs.name;
      }
    }
  }
}

TEST(IsaEncoding, EveryDependencyFlagCombination) {
  for (const InstrSpec &s : kInstrTable)
    for (unsigned m = 0; m < 16; ++m) {
      Instruction inst;
      inst.opcode = s.opcode;
      for (unsigned i = 0; i < s.numFields; ++i)
        inst.values[i] = s.fields[i].minValue;
      inst.deps = {bool(m & 1), bool(m & 2), bool(m & 4), bool(m & 8)};
      bool allowed = depsAllowed(s.queue, inst.deps);
      EXPECT_EQ(bool(validate(inst)), allowed) << s.mnemonic << " deps " << m;
      if (!allowed) {
        // A word carrying forbidden flags (correctly sealed) is rejected.
        Word w{};
        setBits(w, 0, kOpcodeBits, uint32_t(s.opcode));
        setBits(w, kWaitPrevBit, 4, m);
        for (unsigned i = 0; i < s.numFields; ++i)
          setBits(w, s.fields[i].offset, s.fields[i].bits, inst.values[i]);
        Instruction back;
        EXPECT_EQ(decode(reseal(w), back).error, DecodeError::BadDeps) << s.mnemonic;
        continue;
      }
      Instruction back;
      ASSERT_TRUE(decode(encode(inst), back));
      EXPECT_EQ(back, inst);
    }
}

TEST(IsaEncoding, RandomRoundTrip) {
  std::mt19937_64 rng(42);
  for (int n = 0; n < 20000; ++n) {
    const InstrSpec &s = kInstrTable[rng() % kInstrTable.size()];
    Instruction inst = randomValid(s, rng);
    Instruction back;
    ASSERT_TRUE(decode(encode(inst), back)) << s.mnemonic;
    ASSERT_EQ(back, inst) << s.mnemonic;
  }
}

// Hand-computed from the field tables of docs/isa.md.
TEST(IsaEncoding, LiteralRegOp) {
  // regop: op [24,27) rd [27,31) ra [31,35) rb [35,39) imm [39,71)
  RegOp r;
  r.op = uint32_t(AluOp::Add);
  r.rd = 4;
  r.ra = kRegPast;
  r.rb = kRegNumTokens;
  r.imm = 5;
  Word w = encode(toInstruction(r));
  uint64_t w0 = 0x02ull | (4ull << 27) | (2ull << 31) | (3ull << 35) | (5ull << 39);
  EXPECT_EQ(w[0] & ~(0xffull << 16), w0);
  EXPECT_EQ(w[1], 0u);
  EXPECT_EQ(w[2], 0u);
  EXPECT_EQ(w[3], 0u);
  EXPECT_EQ((w[0] >> 16) & 0xff, referenceCrc8(w));
}

TEST(IsaEncoding, LiteralLoadCrossesWords) {
  // load: src_mem 24, dst_buf [25,27), src_addr [27,59), src_addr_reg [59,63),
  // dst_addr [63,84), dst_addr_reg [84,88), rows [88,104), row_len [104,124),
  // row_len_reg [124,128), src_stride [128,160), dst_stride [160,181),
  // hbm_stripe [181,187)
  Load l;
  l.deps.signalNext = true;
  l.src_mem = uint32_t(ExtMem::Hbm);
  l.dst_buf = uint32_t(Buf::Wbuf);
  l.src_addr = 0x00800001;
  l.dst_addr = 0x1fffff;
  l.rows = 2;
  l.row_len = 0xabcde;
  l.row_len_reg = 3;
  l.src_stride = 0x12345678;
  l.dst_stride = 7;
  l.hbm_stripe = 32;
  Word w = encode(toInstruction(l));
  uint64_t w0 = 0x10ull | (1ull << 9) | (1ull << 25) | (0x00800001ull << 27) |
                (1ull << 63); // low bit of dst_addr
  uint64_t w1 = (0x1fffffull >> 1) | (2ull << (88 - 64)) | (0xabcdeull << (104 - 64)) |
                (3ull << (124 - 64));
  uint64_t w2 = 0x12345678ull | (7ull << (160 - 128)) | (32ull << (181 - 128));
  EXPECT_EQ(w[0] & ~(0xffull << 16), w0);
  EXPECT_EQ(w[1], w1);
  EXPECT_EQ(w[2], w2);
  EXPECT_EQ(w[3], 0u);
  Load back = as<Load>(toInstruction(l));
  EXPECT_EQ(back.src_addr, l.src_addr);
  EXPECT_EQ(back.hbm_stripe, 32u);
  EXPECT_TRUE(back.deps.signalNext);
}

TEST(IsaDecoding, EverySingleBitFlipIsRejected) {
  std::mt19937_64 rng(7);
  for (const InstrSpec &s : kInstrTable) {
    Word good = encode(randomValid(s, rng));
    for (unsigned b = 0; b < kInstrBits; ++b) {
      Word bad = good;
      bad[b / 64] ^= 1ull << (b % 64);
      Instruction out;
      EXPECT_FALSE(decode(bad, out)) << s.mnemonic << " bit " << b;
    }
  }
}

TEST(IsaDecoding, AllZeroWordIsRejected) {
  Instruction out;
  EXPECT_EQ(decode(Word{}, out).error, DecodeError::BadCheck);
}

TEST(IsaDecoding, UnknownOpcodes) {
  for (uint32_t op = 0; op < 64; ++op) {
    if (lookup(op))
      continue;
    Word w{};
    setBits(w, 0, kOpcodeBits, op);
    Instruction out;
    DecodeResult r = decode(reseal(w), out);
    EXPECT_EQ(r.error, DecodeError::UnknownOpcode) << op;
    EXPECT_EQ(r.value, op);
  }
}

TEST(IsaDecoding, ReservedBitsAreRejected) {
  for (const InstrSpec &s : kInstrTable) {
    Word base = encode(toInstruction(Nop{}));
    Instruction inst;
    inst.opcode = s.opcode;
    for (unsigned i = 0; i < s.numFields; ++i)
      inst.values[i] = s.fields[i].minValue;
    base = encode(inst);
    for (unsigned b : {kHeaderReservedLo, kCheckLo - 1, s.usedBits, kInstrBits - 1}) {
      if (b >= kInstrBits)
        continue;
      Word w = base;
      w[b / 64] |= 1ull << (b % 64);
      Instruction out;
      EXPECT_EQ(decode(reseal(w), out).error, DecodeError::ReservedBits)
          << s.mnemonic << " bit " << b;
    }
  }
}

TEST(IsaDecoding, OutOfRangeFieldIsRejected) {
  // hbm_stripe = 0 and 33 are encodable in 6 bits but outside [1, 32].
  const InstrSpec &s = spec(Opcode::Load);
  int f = fieldIndex(s, "hbm_stripe");
  ASSERT_GE(f, 0);
  for (uint32_t v : {0u, 33u, 63u}) {
    Load l;
    Word w = encode(toInstruction(l));
    setBits(w, s.fields[f].offset, s.fields[f].bits, v);
    Instruction out;
    DecodeResult r = decode(reseal(w), out);
    EXPECT_EQ(r.error, DecodeError::FieldRange);
    EXPECT_EQ(r.field, f);
    EXPECT_EQ(r.value, v);
    EXPECT_NE(describe(r, &s).find("hbm_stripe"), std::string::npos);
  }
}

TEST(IsaText, FormatNamesEveryField) {
  MmQ4 m;
  m.k = 4096;
  m.n = 4608;
  m.sparsity = uint32_t(Sparsity::Quarter);
  m.m_reg = kRegNumTokens;
  std::string line = formatInstruction(toInstruction(m));
  EXPECT_EQ(line.rfind("mm_q4 ", 0), 0u) << line;
  for (unsigned i = 0; i < spec(Opcode::MmQ4).numFields; ++i)
    EXPECT_NE(line.find(std::string(spec(Opcode::MmQ4).fields[i].name) + "="),
              std::string::npos);
  EXPECT_NE(line.find("k=4096"), std::string::npos);
  EXPECT_NE(line.find("sparsity=d1_4"), std::string::npos);
  EXPECT_NE(line.find("m_reg=r3"), std::string::npos);
}

TEST(IsaText, F32FieldsRoundTripExactly) {
  std::mt19937 rng(3);
  const InstrSpec &s = spec(Opcode::RmsNorm);
  const FieldSpec &eps = s.fields[fieldIndex(s, "eps")];
  for (int i = 0; i < 1000; ++i) {
    uint32_t bits = rng();
    float x = f32FromBits(bits);
    if (!std::isfinite(x))
      continue;
    std::string text = formatValue(eps, bits);
    float y = std::strtof(text.c_str(), nullptr);
    EXPECT_EQ(bitsFromF32(y), bits) << text;
  }
}

TEST(IsaConstraints, FieldsMustAgree) {
  Rope r;
  r.heads = 32;
  r.head_dim = 128;
  r.rot_dim = 64;
  EXPECT_TRUE(validate(toInstruction(r)));
  r.rot_dim = 136;
  DecodeResult res = validate(toInstruction(r));
  EXPECT_EQ(res.error, DecodeError::Constraint);
  EXPECT_STREQ(res.rule, "rot_dim must not exceed head_dim");
  r.rot_dim = 60;
  EXPECT_STREQ(validate(toInstruction(r)).rule, "rot_dim must be a multiple of 8");
  r.rot_dim = 8;
  r.head_dim = 9;
  EXPECT_STREQ(validate(toInstruction(r)).rule, "head_dim must be even");
  Load l;
  l.src_mem = uint32_t(ExtMem::Ddr);
  l.hbm_stripe = 4;
  EXPECT_STREQ(validate(toInstruction(l)).rule, "hbm_stripe must be 1 for a load from DDR");
  // The decoder applies the same rules to a sealed word.
  Word w = encode(toInstruction(l));
  Instruction out;
  EXPECT_EQ(decode(w, out).error, DecodeError::Constraint);
  l.hbm_stripe = 1;
  EXPECT_TRUE(validate(toInstruction(l)));
}

// Hand-computed from the mm_q4 table of docs/isa.md: x_buf [24,26),
// x_addr [26,47), x_stride [47,63), w_buf [63,65), w_addr [65,86),
// y_buf [86,88), y_addr [88,109), y_stride [109,125), has_bias 125,
// b_buf [126,128), b_addr [128,149), m [149,165), m_reg [165,169),
// k [169,185), n [185,201), sparsity [201,203).
TEST(IsaEncoding, LiteralMmQ4) {
  MmQ4 m;
  m.deps.waitPrev = true;
  m.deps.signalPrev = true;
  m.x_buf = uint32_t(Buf::Abuf);
  m.x_addr = 0x1fffff;
  m.x_stride = 0xffff;
  m.w_buf = uint32_t(Buf::Wbuf);
  m.w_addr = 0x12345;
  m.y_buf = uint32_t(Buf::Kbuf);
  m.y_addr = 0x0abcd;
  m.y_stride = 512;
  m.has_bias = 1;
  m.b_buf = uint32_t(Buf::Pbuf);
  m.b_addr = 0x1f;
  m.m = 7;
  m.m_reg = 3;
  m.k = 13696;
  m.n = 65024;
  m.sparsity = uint32_t(Sparsity::Eighth);
  Word w = encode(toInstruction(m));
  // Computed independently (by a script from the offsets above).
  const uint64_t expected[4] = {0xfffffffffc000160ull, 0xe04000abcd82468aull,
                                0x006b006000e0001full, 0x7fcull};
  for (int i = 0; i < 4; ++i) {
    uint64_t got = i == 0 ? w[0] & ~(0xffull << 16) : w[i];
    EXPECT_EQ(got, expected[i]) << "word " << i << std::hex << " got " << got;
  }
}

TEST(IsaTable, DynamicValuesPairRegisterAndBase) {
  const InstrSpec &l = spec(Opcode::Load);
  EXPECT_EQ(l.fields[fieldIndex(l, "row_len_reg")].dynamicOf, fieldIndex(l, "row_len"));
  EXPECT_EQ(l.fields[fieldIndex(l, "src_addr_reg")].dynamicOf, fieldIndex(l, "src_addr"));
  EXPECT_EQ(l.fields[fieldIndex(l, "dst_addr_reg")].dynamicOf, fieldIndex(l, "dst_addr"));
  EXPECT_EQ(l.fields[fieldIndex(l, "rows")].dynamicOf, -1);
  const InstrSpec &s = spec(Opcode::Softmax);
  EXPECT_EQ(s.fields[fieldIndex(s, "diag_reg")].dynamicOf, fieldIndex(s, "diag"));
  // regop's registers are operands, not offsets.
  const InstrSpec &r = spec(Opcode::RegOp);
  for (unsigned i = 0; i < r.numFields; ++i)
    EXPECT_EQ(r.fields[i].dynamicOf, -1);
}
