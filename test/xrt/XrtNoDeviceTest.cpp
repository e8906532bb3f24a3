//===- XrtNoDeviceTest.cpp - The xrt device without a board ----------------===//
//
// Linked with XRT's hardware shim (libxrt_core, the PCIe driver's user-space
// side): on a machine without a board -- and for an index no machine has on
// one that has boards -- opening the device fails with XRT's reason.
//
//===----------------------------------------------------------------------===//

#include "runtime/device/xrt/XrtDevice.h"

#include <gtest/gtest.h>

using namespace edgellm::runtime;

TEST(XrtDeviceHw, NoDeviceWithThatIndex) {
  std::string error;
  auto d = XrtDevice::open(EDGELLM_XRT_XCLBINS "/edgellm.xclbin", 63, error);
  EXPECT_FALSE(d);
  EXPECT_EQ(error, "no XRT device with index 63: Could not open device with index '63'");
}

TEST(XrtDeviceHw, TheXclbinIsCheckedBeforeTheDevice) {
  // A bad xclbin is reported as such even where there is no device.
  std::string error;
  EXPECT_FALSE(XrtDevice::open(EDGELLM_XRT_XCLBINS "/no-kernel.xclbin", 63, error));
  EXPECT_EQ(error, EDGELLM_XRT_XCLBINS "/no-kernel.xclbin: no kernel 'edgellm_accel' in the "
                                       "xclbin (it has kernels: other_accel)");
}
