//===- XrtDeviceTest.cpp - The xrt device on XRT's no-op shim --------------===//
//
// Linked with libxrt_noop (no board): XRT parses the metadata-only xclbins
// edgellm-xclbin wrote, opens the kernel, allocates buffers (host memory,
// device address 0xdeadbeef), builds start commands and completes them at
// once without computing. What runs is the device's whole path: open, bank
// checks, allocation per argument group, write/read, programs, argument
// binding (read back from the start command XRT built), the run lifecycle and
// every error message. Status words: the kernel never runs, so they stay as
// start() wrote them (kStatusUnwritten) unless the test writes them in the
// kernel's place (writeStatusWords).
//
//===----------------------------------------------------------------------===//

#include "runtime/device/xrt/XrtDevice.h"

#include "edgellm/hw/Xclbin.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>

using namespace edgellm;
using namespace edgellm::runtime;
namespace kernel = edgellm::hw::kernel;

namespace {

const std::string kDir = EDGELLM_XRT_XCLBINS;
const std::string kXclbin = kDir + "/edgellm.xclbin";

std::unique_ptr<XrtDevice> openOk() {
  std::string error;
  auto d = XrtDevice::open(kXclbin, 0, error);
  EXPECT_TRUE(d) << error;
  return d;
}

std::string openError(const std::string &path, unsigned index = 0) {
  std::string error;
  auto d = XrtDevice::open(path, index, error);
  EXPECT_FALSE(d);
  return error;
}

std::string writeFile(const std::string &name, const std::vector<uint8_t> &bytes) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
  return path;
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

/// nop x (n - 1), end irq=1.
std::vector<isa::Instruction> program(unsigned n) {
  std::vector<isa::Instruction> p(n);
  p.back().opcode = isa::Opcode::End;
  p.back().values[0] = 1;
  return p;
}

uint64_t word64(const std::vector<uint32_t> &regmap, uint64_t byteOffset) {
  size_t i = byteOffset / 4;
  if (i + 1 >= regmap.size())
    return ~0ull;
  return regmap[i] | uint64_t(regmap[i + 1]) << 32;
}

constexpr uint64_t kHbmChannelBytes = uint64_t(isa::kHbmChannelBeats) * isa::kBeatBytes;

} // namespace

TEST(XrtDevice, OpensAndDescribesTheKernel) {
  auto d = openOk();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->name(), "xrt");
  EXPECT_EQ(d->xclbinUuid().size(), 36u);
  const auto &args = d->arguments();
  ASSERT_EQ(args.size(), kernel::kNumArgs);
  std::vector<int> hbmGroups;
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    const kernel::Arg &ka = kernel::kArgs[i];
    EXPECT_EQ(args[i].index, i);
    EXPECT_EQ(args[i].name, ka.name);
    EXPECT_EQ(args[i].global, ka.kind == kernel::ArgKind::Global);
    EXPECT_EQ(args[i].offset, hw::xclbin::argOffset(i)) << ka.name;
    if (args[i].global) {
      EXPECT_EQ(args[i].bank, ka.bank);
      EXPECT_GE(args[i].group, 0);
    } else {
      EXPECT_EQ(args[i].group, -1);
    }
  }
  // Groups come from XRT (kernel.group_id): memory-topology indices here.
  int ddr = args[kernel::argIndex("ddr")].group;
  EXPECT_EQ(args[kernel::argIndex("instr")].group, ddr);
  EXPECT_EQ(args[kernel::argIndex("status")].group, ddr);
  EXPECT_EQ(ddr, 32);
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    EXPECT_EQ(args[kernel::argIndex("hbm" + std::to_string(c))].group, int(c));
  // The status buffer exists from the start, in its argument's group.
  XrtDevice::BufferInfo s = d->statusBuffer();
  EXPECT_TRUE(s.allocated);
  EXPECT_EQ(s.group, ddr);
  EXPECT_GE(s.bytes, kernel::kStatusWords * 4u);
}

TEST(XrtDevice, AllocatesEveryBankInItsGroup) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  EXPECT_FALSE(d->buffer({isa::ExtMem::Ddr, 0}).allocated);
  ASSERT_TRUE(d->allocate({isa::ExtMem::Ddr, 0}, 4096, error)) << error;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    ASSERT_TRUE(d->allocate({isa::ExtMem::Hbm, c}, 64 + c, error)) << error;
  XrtDevice::BufferInfo ddr = d->buffer({isa::ExtMem::Ddr, 0});
  EXPECT_TRUE(ddr.allocated);
  EXPECT_EQ(ddr.bytes, 4096u * 32);
  EXPECT_EQ(ddr.group, d->arguments()[kernel::argIndex("ddr")].group);
  for (unsigned c = 0; c < isa::kHbmChannels; ++c) {
    XrtDevice::BufferInfo b = d->buffer({isa::ExtMem::Hbm, c});
    EXPECT_TRUE(b.allocated);
    EXPECT_EQ(b.bytes, (64u + c) * 32);
    EXPECT_EQ(b.group, d->arguments()[kernel::argIndex("hbm" + std::to_string(c))].group);
  }
  // Limits: a channel holds 2^23 beats; DDR the xclbin's DDR[0] size.
  EXPECT_FALSE(d->allocate({isa::ExtMem::Hbm, 3}, (1ull << 23) + 1, error));
  EXPECT_EQ(error, "xrt device 0: HBM channel 3: 8388609 beats exceed its 2^23");
  EXPECT_FALSE(d->allocate({isa::ExtMem::Hbm, 32}, 1, error));
  EXPECT_EQ(error, "xrt device 0: no HBM channel 32");
  EXPECT_FALSE(d->allocate({isa::ExtMem::Ddr, 0}, (4608ull << 15) + 1, error));
  EXPECT_EQ(error, "xrt device 0: DDR: 150994945 beats exceed DDR[0] (4718592 KiB)");
  EXPECT_FALSE(d->allocate({isa::ExtMem::Ddr, 0}, 0, error));
  EXPECT_EQ(error, "xrt device 0: allocation of 0 beats");
}

TEST(XrtDevice, WriteReadRoundTrip) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  ASSERT_TRUE(d->allocate({isa::ExtMem::Ddr, 0}, 256, error)) << error;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    ASSERT_TRUE(d->allocate({isa::ExtMem::Hbm, c}, 128, error)) << error;

  // DDR at an odd byte address.
  std::vector<uint8_t> in(1000), out(1000);
  std::iota(in.begin(), in.end(), uint8_t(7));
  ASSERT_TRUE(d->write(isa::ExtMem::Ddr, 1234, in.data(), in.size(), error)) << error;
  ASSERT_TRUE(d->read(isa::ExtMem::Ddr, 1234, out.data(), out.size(), error)) << error;
  EXPECT_EQ(in, out);

  // Every HBM channel at its ISA address, channel * 2^23 beats.
  for (unsigned c = 0; c < isa::kHbmChannels; ++c) {
    std::vector<uint8_t> v(96, uint8_t(c + 1)), r(96);
    uint64_t addr = c * kHbmChannelBytes + 32 * 5;
    ASSERT_TRUE(d->write(isa::ExtMem::Hbm, addr, v.data(), v.size(), error)) << error;
    ASSERT_TRUE(d->read(isa::ExtMem::Hbm, addr, r.data(), r.size(), error)) << error;
    EXPECT_EQ(v, r) << "channel " << c;
  }
  // An access over a channel boundary is split between the two buffers: the
  // last beat of channel 3 and the first of channel 4.
  std::vector<uint8_t> span(64), back(64);
  std::iota(span.begin(), span.end(), uint8_t(100));
  uint64_t edge = 4 * kHbmChannelBytes;
  EXPECT_FALSE(d->write(isa::ExtMem::Hbm, edge - 32, span.data(), span.size(), error));
  EXPECT_EQ(error, "xrt device 0: HBM channel 3: bytes [268435424, 268435456) outside the "
                   "128 allocated beats");
  ASSERT_TRUE(d->allocate({isa::ExtMem::Hbm, 3}, isa::kHbmChannelBeats, error)) << error;
  ASSERT_TRUE(d->write(isa::ExtMem::Hbm, edge - 32, span.data(), span.size(), error)) << error;
  ASSERT_TRUE(d->read(isa::ExtMem::Hbm, edge - 32, back.data(), back.size(), error)) << error;
  EXPECT_EQ(span, back);
  std::vector<uint8_t> first(32);
  ASSERT_TRUE(d->read(isa::ExtMem::Hbm, edge, first.data(), 32, error));
  EXPECT_TRUE(std::equal(first.begin(), first.end(), span.begin() + 32));
  // Growing channel 3 kept what it held.
  std::vector<uint8_t> kept(96);
  ASSERT_TRUE(d->read(isa::ExtMem::Hbm, 3 * kHbmChannelBytes + 32 * 5, kept.data(), 96, error));
  EXPECT_EQ(kept, std::vector<uint8_t>(96, 4));

  // Outside the allocations.
  EXPECT_FALSE(d->read(isa::ExtMem::Ddr, 256 * 32 - 8, out.data(), 16, error));
  EXPECT_EQ(error, "xrt device 0: DDR: bytes [8184, 8200) outside the 256 allocated beats");
  EXPECT_FALSE(d->write(isa::ExtMem::Hbm, 32 * kHbmChannelBytes, in.data(), 4, error));
  EXPECT_EQ(error, "xrt device 0: HBM byte address 8589934592 is past channel 31");

  DeviceCounters k = d->counters();
  EXPECT_EQ(k.bytesWritten, 1000u + 32 * 96 + 64);
  EXPECT_EQ(k.bytesRead, 1000u + 32 * 96 + 64 + 32 + 96);
}

TEST(XrtDevice, UnallocatedBanksAreRefused) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  uint8_t b[4] = {};
  EXPECT_FALSE(d->write(isa::ExtMem::Ddr, 0, b, 4, error));
  EXPECT_EQ(error, "xrt device 0: DDR is not allocated");
  EXPECT_FALSE(d->read(isa::ExtMem::Hbm, 9 * kHbmChannelBytes, b, 4, error));
  EXPECT_EQ(error, "xrt device 0: HBM channel 9 is not allocated");
  EXPECT_FALSE(d->loadProgram("decode", program(2), 0, error));
  EXPECT_EQ(error, "program 'decode' at DDR beat 0: xrt device 0: DDR is not allocated");
}

TEST(XrtDevice, ProgramsAreEncodedWordsInDdr) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  ASSERT_TRUE(d->allocate({isa::ExtMem::Ddr, 0}, 512, error)) << error;
  auto code = program(5);
  ASSERT_TRUE(d->loadProgram("prefill", code, 100, error)) << error;
  std::vector<uint8_t> words(code.size() * 32);
  ASSERT_TRUE(d->read(isa::ExtMem::Ddr, 100 * 32, words.data(), words.size(), error));
  for (size_t i = 0; i < code.size(); ++i) {
    isa::Word w = isa::encode(code[i]);
    for (unsigned k = 0; k < 32; ++k)
      ASSERT_EQ(words[i * 32 + k], uint8_t(w[k / 8] >> (8 * (k % 8)))) << i << " " << k;
  }
  // Outside DDR, invalid, empty.
  EXPECT_FALSE(d->loadProgram("big", program(20), 500, error));
  EXPECT_EQ(error, "program 'big' at DDR beat 500: xrt device 0: DDR: bytes [16000, 16640) "
                   "outside the 512 allocated beats");
  auto bad = program(3);
  bad[2].values[0] = 2; // end's irq is one bit
  EXPECT_FALSE(d->loadProgram("bad", bad, 0, error));
  EXPECT_EQ(error, "program 'bad': instruction 2: field 'irq' of 'end' is 2, outside [0, 1]");
  EXPECT_FALSE(d->loadProgram("none", {}, 0, error));
  EXPECT_EQ(error, "program 'none' is empty");
}

TEST(XrtDevice, StartBindsEveryArgument) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  ASSERT_TRUE(d->allocate({isa::ExtMem::Ddr, 0}, 1024, error)) << error;
  for (unsigned c = 0; c < isa::kHbmChannels; c += 2) // odd channels: placeholders
    ASSERT_TRUE(d->allocate({isa::ExtMem::Hbm, c}, 16, error)) << error;
  auto code = program(7);
  ASSERT_TRUE(d->loadProgram("decode", code, 200, error)) << error;
  Registers regs{};
  for (unsigned r = 0; r < isa::kNumRegs; ++r)
    regs[r] = 1000 + 17 * r;
  ASSERT_TRUE(d->start("decode", regs, error)) << error;

  // The start command XRT built for the compute unit: every argument of
  // Kernel.def at its register offset.
  std::vector<uint32_t> regmap = d->lastRegisterMap();
  const auto &args = d->arguments();
  ASSERT_GE(regmap.size() * 4, args.back().offset + 8);
  uint64_t ddrAddr = d->buffer({isa::ExtMem::Ddr, 0}).address;
  EXPECT_EQ(d->lastInstrAddress(), ddrAddr + 200 * 32);
  for (const auto &a : args) {
    SCOPED_TRACE(a.name);
    if (a.name == "instr")
      EXPECT_EQ(word64(regmap, a.offset), ddrAddr + 200 * 32);
    else if (a.name == "ddr")
      EXPECT_EQ(word64(regmap, a.offset), ddrAddr);
    else if (a.name == "status")
      EXPECT_EQ(word64(regmap, a.offset), d->statusBuffer().address);
    else if (a.name.rfind("hbm", 0) == 0) {
      unsigned c = unsigned(std::stoul(a.name.substr(3)));
      XrtDevice::BufferInfo b = d->buffer({isa::ExtMem::Hbm, c});
      EXPECT_EQ(b.allocated, c % 2 == 0);
      EXPECT_EQ(b.group, a.group); // placeholders too sit in their bank
      EXPECT_EQ(word64(regmap, a.offset), b.address);
    } else if (a.name == "count")
      EXPECT_EQ(regmap[a.offset / 4], code.size());
    else {
      ASSERT_EQ(a.name[0], 'r');
      EXPECT_EQ(regmap[a.offset / 4], regs[std::stoul(a.name.substr(1))]);
    }
  }
  // The status words start as kStatusUnwritten.
  EXPECT_EQ(d->statusWords(), kStatusUnwritten);
  RunStatus status;
  EXPECT_TRUE(d->wait(status, error)) << error;
}

TEST(XrtDevice, RunLifecycleUnderTheNoopShim) {
  auto d = openOk();
  ASSERT_TRUE(d);
  std::string error;
  RunStatus status;
  Registers regs{};
  ASSERT_TRUE(d->allocate({isa::ExtMem::Ddr, 0}, 64, error));
  ASSERT_TRUE(d->loadProgram("decode", program(4), 8, error)) << error;

  EXPECT_FALSE(d->wait(status, error));
  EXPECT_EQ(error, "xrt device 0: no run to wait for");
  EXPECT_FALSE(d->start("prefill", regs, error));
  EXPECT_EQ(error, "xrt device 0: no program 'prefill' loaded");

  // The shim completes the run without a kernel: the status words are still
  // the ones start() wrote; on the no-op shim wait() accepts that and says
  // nothing ran (so the whole host path runs without a board).
  EXPECT_TRUE(d->onNoopShim());
  ASSERT_TRUE(d->start("decode", regs, error)) << error;
  EXPECT_FALSE(d->start("decode", regs, error));
  EXPECT_EQ(error, "xrt device 0: program 'decode' is still running (wait first)");
  EXPECT_FALSE(d->allocate({isa::ExtMem::Hbm, 0}, 1, error));
  EXPECT_EQ(error, "xrt device 0: cannot allocate while a run is in progress");
  ASSERT_TRUE(d->wait(status, error)) << error;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.message, "no-op shim: nothing ran");

  // A kernel that reaches `end` writes done and the instructions executed
  // (the test writes them in its place).
  ASSERT_TRUE(d->start("decode", regs, error)) << error;
  EXPECT_EQ(d->statusWords(), kStatusUnwritten);
  ASSERT_TRUE(d->writeStatusWords({isa::ctrl::kStatusDone, 0, 0, 4}, error)) << error;
  ASSERT_TRUE(d->wait(status, error)) << error;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.executed, 4u);
  EXPECT_EQ(status.message, "");

  // A fault: the code and index of the faulting instruction.
  ASSERT_TRUE(d->start("decode", regs, error)) << error;
  ASSERT_TRUE(d->writeStatusWords({isa::ctrl::kStatusFault, uint32_t(isa::Fault::Address), 2, 2},
                                  error));
  ASSERT_TRUE(d->wait(status, error)) << error;
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.fault, isa::Fault::Address);
  EXPECT_EQ(status.faultIndex, 2u);
  EXPECT_EQ(status.executed, 2u);
  EXPECT_EQ(status.message, "fault: address (an access outside a memory or buffer) at "
                            "instruction 2 of program 'decode'");

  // A fault code the ISA does not define is a device failure.
  ASSERT_TRUE(d->start("decode", regs, error)) << error;
  ASSERT_TRUE(d->writeStatusWords({isa::ctrl::kStatusFault, 99, 0, 0}, error));
  EXPECT_FALSE(d->wait(status, error));
  EXPECT_EQ(error, "xrt device 0: the kernel reported a fault with an unknown code 99");

  // Busy only: the kernel stopped without saying how.
  ASSERT_TRUE(d->start("decode", regs, error)) << error;
  ASSERT_TRUE(d->writeStatusWords({isa::ctrl::kStatusBusy, 0, 0, 1}, error));
  EXPECT_FALSE(d->wait(status, error));
  EXPECT_EQ(error, "xrt device 0: edgellm_accel_1 completed program 'decode' with status bits 1 "
                   "(neither done nor fault)");

  DeviceCounters k = d->counters();
  EXPECT_EQ(k.runs, 5u);
  EXPECT_EQ(k.instructions, 6u);
}

TEST(XrtDevice, FactoryReturnsTheDeviceInterface) {
  std::string error;
  std::unique_ptr<Device> d = openXrtDevice(kXclbin, 0, error);
  ASSERT_TRUE(d) << error;
  EXPECT_EQ(d->name(), "xrt");
  EXPECT_FALSE(openXrtDevice(kDir + "/missing.xclbin", 0, error));
}

//===----------------------------------------------------------------------===//
// Errors of open()
//===----------------------------------------------------------------------===//

TEST(XrtDeviceErrors, UnreadableFile) {
  EXPECT_EQ(openError(kDir + "/missing.xclbin"),
            kDir + "/missing.xclbin: cannot read the xclbin: No such file or directory");
}

TEST(XrtDeviceErrors, GarbageFile) {
  std::vector<uint8_t> garbage(4096);
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = uint8_t(i * 131 + 7);
  std::string path = writeFile("garbage.xclbin", garbage);
  EXPECT_EQ(openError(path), path + ": not an xclbin (no 'xclbin2' magic)");
  path = writeFile("short.xclbin", {'x', 'c', 'l', 'b', 'i', 'n', '2', 0});
  EXPECT_EQ(openError(path), path + ": not an xclbin (8 bytes, shorter than the axlf header)");
}

TEST(XrtDeviceErrors, TruncatedXclbin) {
  std::vector<uint8_t> bytes = readFile(kXclbin);
  ASSERT_GT(bytes.size(), 2000u);
  bytes.resize(2000);
  std::string path = writeFile("truncated.xclbin", bytes);
  std::string error = openError(path);
  EXPECT_EQ(error.rfind(path + ": truncated or damaged xclbin (file 2000 bytes, header says ", 0),
            0u)
      << error;
}

TEST(XrtDeviceErrors, XclbinWithoutTheKernel) {
  std::string path = kDir + "/no-kernel.xclbin";
  EXPECT_EQ(openError(path),
            path + ": no kernel 'edgellm_accel' in the xclbin (it has kernels: other_accel)");
}

TEST(XrtDeviceErrors, BankMissingFromTheMemoryTopology) {
  std::string path = kDir + "/no-hbm5.xclbin";
  EXPECT_EQ(openError(path),
            path + ": bank HBM[5] (argument hbm5) is missing from the xclbin's memory topology");
}

TEST(XrtDeviceErrors, ArgumentNotConnected) {
  std::string path = kDir + "/unconnected-hbm7.xclbin";
  EXPECT_EQ(openError(path), path + ": argument hbm7 of edgellm_accel is not connected to any "
                                    "memory bank (Kernel.def: HBM[7]; link with "
                                    "hw/vitis/link.cfg)");
}

TEST(XrtDeviceErrors, NoopShimAcceptsAnyDeviceIndex) {
  // The no-op shim pretends every index is a device (a missing device is
  // tested on the hardware shim: XrtNoDeviceTest). Documented, not relied on.
  std::string error;
  auto d = XrtDevice::open(kXclbin, 5, error);
  ASSERT_TRUE(d) << error;
  EXPECT_EQ(d->statusBuffer().group, 32);
}

TEST(XrtDeviceErrors, OneShimPerProcess) {
  // This program links the no-op shim: asking for another one is refused
  // (XRT would abort with two), asking for the same one is fine.
  std::string error;
  setenv("EDGELLM_XRT_SHIM", "hw", 1);
  EXPECT_EQ(openError(kXclbin), "EDGELLM_XRT_SHIM asks for libxrt_core.so.2, but the program "
                                "already holds XRT shim libxrt_noop.so.2 (only one can be "
                                "loaded)");
  setenv("EDGELLM_XRT_SHIM", "noop", 1);
  EXPECT_TRUE(XrtDevice::open(kXclbin, 0, error)) << error;
  unsetenv("EDGELLM_XRT_SHIM");
}
