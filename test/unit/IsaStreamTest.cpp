//===- IsaStreamTest.cpp - The binary stream container ---------------------===//

#include "edgellm/hw/IsaStream.h"

#include <gtest/gtest.h>

using namespace edgellm::isa;

namespace {
std::vector<Instruction> sampleProgram() {
  RegOp r;
  r.rd = 4;
  r.ra = kRegPast;
  r.rb = kRegNumTokens;
  Load l;
  l.deps.signalNext = true;
  l.row_len = 33;
  l.hbm_stripe = 32;
  MmQ4 m;
  m.deps.waitPrev = true;
  m.k = 4096;
  m.n = 4096;
  End e;
  e.irq = 1;
  return {toInstruction(r), toInstruction(l), toInstruction(m), toInstruction(e)};
}
std::vector<uint8_t> writeStream(const std::vector<Instruction> &program) {
  std::vector<uint8_t> bytes;
  std::string error;
  EXPECT_TRUE(edgellm::isa::writeStream(program, bytes, error)) << error;
  return bytes;
}
} // namespace

TEST(IsaStream, HeaderLayout) {
  std::vector<uint8_t> bytes = writeStream(sampleProgram());
  ASSERT_EQ(bytes.size(), 32u + 4 * 32u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "ELMI");
  EXPECT_EQ(bytes[4] | bytes[5] << 8, kVersionMajor);
  EXPECT_EQ(bytes[6] | bytes[7] << 8, kVersionMinor);
  EXPECT_EQ(bytes[8], 4);
  for (int i = 12; i < 32; ++i)
    EXPECT_EQ(bytes[i], 0) << i;
}

TEST(IsaStream, RoundTrip) {
  std::vector<Instruction> prog = sampleProgram(), back;
  std::vector<uint8_t> bytes = writeStream(prog);
  std::string error;
  ASSERT_TRUE(readStream(bytes.data(), bytes.size(), back, error)) << error;
  EXPECT_EQ(back, prog);
}

TEST(IsaStream, ErrorsNameTheOffset) {
  std::vector<uint8_t> good = writeStream(sampleProgram());
  std::vector<Instruction> out;
  std::string error;

  EXPECT_FALSE(readStream(good.data(), 10, out, error));
  EXPECT_NE(error.find("offset 0x0"), std::string::npos) << error;

  auto bad = good;
  bad[0] = 'X';
  EXPECT_FALSE(readStream(bad.data(), bad.size(), out, error));
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;

  bad = good;
  bad[4] = kVersionMajor + 1;
  EXPECT_FALSE(readStream(bad.data(), bad.size(), out, error));
  EXPECT_NE(error.find("offset 0x4"), std::string::npos) << error;
  EXPECT_NE(error.find("version 2.0"), std::string::npos) << error;

  bad = good;
  bad[20] = 1;
  EXPECT_FALSE(readStream(bad.data(), bad.size(), out, error));
  EXPECT_NE(error.find("offset 0x14"), std::string::npos) << error;

  // Truncated: the count no longer matches.
  EXPECT_FALSE(readStream(good.data(), good.size() - 5, out, error));
  EXPECT_NE(error.find("header announces 4 instructions"), std::string::npos) << error;

  // A corrupt word in instruction 2 (bytes 0x60-0x7f).
  bad = good;
  bad[0x60 + 9] ^= 0x10;
  EXPECT_FALSE(readStream(bad.data(), bad.size(), out, error));
  EXPECT_NE(error.find("offset 0x60 (instruction 2)"), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_TRUE(out.empty());

  // An unknown opcode in instruction 1.
  bad = good;
  bad[0x40] = 0x3e;
  EXPECT_FALSE(readStream(bad.data(), bad.size(), out, error));
  EXPECT_NE(error.find("offset 0x40 (instruction 1): unknown opcode 0x3e"),
            std::string::npos)
      << error;
}

TEST(IsaStream, MissingFileIsNamed) {
  std::vector<Instruction> out;
  std::string error;
  EXPECT_FALSE(readStreamFile("/nonexistent/prog.bin", out, error));
  EXPECT_NE(error.find("/nonexistent/prog.bin"), std::string::npos);
}

TEST(IsaStream, ProgramMustEndWithEnd) {
  std::vector<Instruction> prog = sampleProgram();
  prog.pop_back();
  std::vector<uint8_t> bytes;
  std::string error;
  EXPECT_FALSE(edgellm::isa::writeStream(prog, bytes, error));
  EXPECT_EQ(error, "the program does not end with 'end'");
  // A stream that stops before `end` is rejected at its last instruction.
  std::vector<uint8_t> good = writeStream(sampleProgram());
  good[8] = 3;
  good.resize(32 + 3 * 32);
  std::vector<Instruction> out;
  EXPECT_FALSE(readStream(good.data(), good.size(), out, error));
  EXPECT_NE(error.find("offset 0x60: the program does not end with 'end'"),
            std::string::npos)
      << error;
  good[8] = 0;
  good.resize(32);
  EXPECT_FALSE(readStream(good.data(), good.size(), out, error));
  EXPECT_NE(error.find("offset 0x20: the program does not end"), std::string::npos) << error;
}

TEST(IsaStream, WriterRejectsInvalidInstructions) {
  std::vector<Instruction> prog = sampleProgram();
  prog[1].values[fieldIndex(spec(Opcode::Load), "hbm_stripe")] = 0;
  std::vector<uint8_t> bytes;
  std::string error;
  EXPECT_FALSE(edgellm::isa::writeStream(prog, bytes, error));
  EXPECT_NE(error.find("instruction 1: field 'hbm_stripe' of 'load' is 0"), std::string::npos)
      << error;
}

TEST(IsaStream, HugeCountIsRejectedWithoutAllocating) {
  std::vector<uint8_t> bytes = writeStream(sampleProgram());
  bytes[8] = bytes[9] = bytes[10] = bytes[11] = 0xff;
  std::vector<Instruction> out;
  std::string error;
  EXPECT_FALSE(readStream(bytes.data(), bytes.size(), out, error));
  EXPECT_NE(error.find("header announces 4294967295 instructions"), std::string::npos) << error;
}

TEST(IsaStream, HeaderIsReturned) {
  std::vector<uint8_t> bytes = writeStream(sampleProgram());
  bytes[6] = 7; // minor versions are accepted
  std::vector<Instruction> out;
  std::string error;
  StreamHeader h;
  ASSERT_TRUE(readStream(bytes.data(), bytes.size(), out, error, &h)) << error;
  EXPECT_EQ(h.versionMajor, kVersionMajor);
  EXPECT_EQ(h.versionMinor, 7);
  EXPECT_EQ(h.count, 4u);
}
