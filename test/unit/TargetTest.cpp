//===- TargetTest.cpp - Target description loader --------------------------===//

#include "edgellm/hw/Target.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace edgellm::hw;

namespace {
std::string vcu128Path() { return std::string(EDGELLM_SOURCE_DIR) + "/hw/targets/vcu128.json"; }
nlohmann::json vcu128Json() {
  std::ifstream in(vcu128Path());
  return nlohmann::json::parse(in);
}
std::string parseError(const nlohmann::json &j) {
  std::string error;
  EXPECT_FALSE(parseTarget(j.dump(), "t.json", error).has_value());
  return error;
}
} // namespace

TEST(Target, LoadsVcu128) {
  std::string error;
  auto t = loadTargetByName("vcu128", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->name, "vcu128");
  EXPECT_EQ(t->hbm.pseudoChannels, 32u);
  EXPECT_EQ(t->hbm.channelBits, 256u);
  EXPECT_EQ(t->pe.int4MacsPerCycle, 4096u);
  EXPECT_EQ(t->pe.fp16MacsPerCycle, 1024u);
  // PAPER.md: 32 x 256 bit x 280 MHz = 286.7 GB/s, the AXI ceiling.
  EXPECT_NEAR(t->hbm.axiBandwidthGBps(), 286.72, 1e-9);
  EXPECT_EQ(t->hbm.capacityBytes(), 8ull << 30);
  EXPECT_TRUE(t->fpgaSupports("linear_int4"));
  EXPECT_FALSE(t->fpgaSupports("embedding"));
  EXPECT_FALSE(t->fpgaSupports("no_such_op"));
}

TEST(Target, MissingFieldIsNamed) {
  auto j = vcu128Json();
  j["hbm"].erase("channel_bits");
  EXPECT_EQ(parseError(j), "t.json: hbm.channel_bits: missing field");
  j = vcu128Json();
  j.erase("pe");
  EXPECT_EQ(parseError(j), "t.json: pe: missing field");
}

TEST(Target, WrongTypesAndValuesAreNamed) {
  auto j = vcu128Json();
  j["pe"]["int4_macs_per_cycle"] = "many";
  EXPECT_EQ(parseError(j), "t.json: pe.int4_macs_per_cycle: must be a non-negative integer");
  j = vcu128Json();
  j["hbm"]["burst_efficiency"] = 1.5;
  EXPECT_EQ(parseError(j), "t.json: hbm.burst_efficiency: must be at most 1");
  j = vcu128Json();
  j["clocks_mhz"]["sfu"] = -1;
  EXPECT_EQ(parseError(j), "t.json: clocks_mhz.sfu: must be positive");
  j = vcu128Json();
  j["fpga_ops"]["rope"] = 1;
  EXPECT_EQ(parseError(j), "t.json: fpga_ops.rope: must be true or false");
  j = vcu128Json();
  j["isa_version"] = 7;
  EXPECT_NE(parseError(j).find("isa_version: is 7"), std::string::npos);
  j = vcu128Json();
  j["pe"]["int4_groups"] = 16;
  EXPECT_NE(parseError(j).find("pe.int4_groups"), std::string::npos);
  j = vcu128Json();
  j["fpga_ops"]["rms_nrom"] = true;
  EXPECT_EQ(parseError(j), "t.json: fpga_ops.rms_nrom: unknown operator");
  j = vcu128Json();
  j["hbm"]["channel_capacity_mib"] = uint64_t(1) << 44;
  EXPECT_NE(parseError(j).find("hbm.channel_capacity_mib: exceeds"), std::string::npos);
  j = vcu128Json();
  j["pe"]["int4_groups"] = uint64_t(1) << 31;
  j["pe"]["int4_lanes_per_group"] = 2;
  EXPECT_NE(parseError(j).find("pe.int4_groups"), std::string::npos);
  j = vcu128Json();
  j["hbm"]["channel_bits"] = 512;
  EXPECT_NE(parseError(j).find("one ISA beat"), std::string::npos);
}

TEST(Target, BadJsonGivesPosition) {
  std::string error;
  EXPECT_FALSE(parseTarget("{\"name\": \"x\",, }", "bad.json", error));
  EXPECT_NE(error.find("bad.json: invalid JSON at byte 14"), std::string::npos) << error;
  EXPECT_FALSE(loadTarget("/nonexistent/t.json", error));
  EXPECT_NE(error.find("/nonexistent/t.json"), std::string::npos);
  EXPECT_FALSE(loadTargetByName("no-such-target", error));
  EXPECT_NE(error.find("no-such-target.json"), std::string::npos);
}
