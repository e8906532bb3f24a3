//===- XrtShimTest.cpp - The xrt device loads XRT's shim itself -------------===//
//
// Linked without any XRT shim: XrtDevice::open loads one (libxrt_core, or the
// one EDGELLM_XRT_SHIM names). A process holds one shim, so each case runs in
// its own process (ctest entries xrt.shim.*, each with its environment).
//
//===----------------------------------------------------------------------===//

#include "runtime/device/xrt/XrtDevice.h"

#include <gtest/gtest.h>

using namespace edgellm::runtime;

static const std::string kXclbin = EDGELLM_XRT_XCLBINS "/edgellm.xclbin";

// EDGELLM_XRT_SHIM=noop: the whole device on the no-op shim.
TEST(XrtShim, Noop) {
  std::string error;
  auto d = XrtDevice::open(kXclbin, 0, error);
  ASSERT_TRUE(d) << error;
  ASSERT_TRUE(d->allocate({edgellm::isa::ExtMem::Ddr, 0}, 16, error)) << error;
  std::vector<edgellm::isa::Instruction> p(1);
  p[0].opcode = edgellm::isa::Opcode::End;
  ASSERT_TRUE(d->loadProgram("p", p, 0, error)) << error;
  ASSERT_TRUE(d->start("p", {}, error)) << error;
  edgellm::runtime::RunStatus status;
  EXPECT_TRUE(d->onNoopShim());
  ASSERT_TRUE(d->wait(status, error)) << error; // no kernel ran: accepted on the no-op shim
  EXPECT_EQ(status.message, "no-op shim: nothing ran");
}

// EDGELLM_XRT_SHIM=libxrt_missing.so.2: a library that does not exist.
TEST(XrtShim, Missing) {
  std::string error;
  EXPECT_FALSE(XrtDevice::open(kXclbin, 0, error));
  EXPECT_EQ(error, "cannot load XRT's driver library libxrt_missing.so.2: libxrt_missing.so.2: "
                   "cannot open shared object file: No such file or directory "
                   "(EDGELLM_XRT_SHIM=noop runs without a board)");
}

// No EDGELLM_XRT_SHIM: libxrt_core, the board's driver; index 63 exists nowhere.
TEST(XrtShim, DefaultIsTheBoardDriver) {
  std::string error;
  EXPECT_FALSE(XrtDevice::open(kXclbin, 63, error));
  EXPECT_EQ(error, "no XRT device with index 63: Could not open device with index '63'");
}
