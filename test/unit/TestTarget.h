//===- TestTarget.h - The bundled VCU128 target for unit tests ---*- C++ -*-===//

#ifndef EDGELLM_TEST_UNIT_TESTTARGET_H
#define EDGELLM_TEST_UNIT_TESTTARGET_H

#include "edgellm/hw/Target.h"

#include <gtest/gtest.h>

namespace edgellm::test {

/// hw/targets/vcu128.json (a failed load fails the calling test).
inline hw::TargetDesc vcu128() {
  std::string error;
  auto t = hw::loadTargetByName("vcu128", error);
  EXPECT_TRUE(t) << error;
  return t ? *t : hw::TargetDesc{};
}

} // namespace edgellm::test

#endif // EDGELLM_TEST_UNIT_TESTTARGET_H
