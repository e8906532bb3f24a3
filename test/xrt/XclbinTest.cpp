//===- XclbinTest.cpp - Link config and metadata-only xclbin vs Kernel.def -===//
//
// hw/vitis/link.cfg's connectivity and clock, and the container written by
// hw/lib/Xclbin.cpp, read back through XRT's own struct definitions
// (xclbin.h) where installed. Kernel.h is the reference for both.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/Kernel.h"
#include "edgellm/hw/Target.h"
#include "edgellm/hw/Xclbin.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<xrt/xclbin.h>) && __has_include(<uuid/uuid.h>)
#include <xrt/xclbin.h>
#define EDGELLM_HAVE_XCLBIN_H 1
#endif

using namespace edgellm::hw;
namespace xb = edgellm::hw::xclbin;

namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// The lines of each [section] of a v++ config file, without comments.
std::map<std::string, std::vector<std::string>> readConfig(const std::string &path) {
  std::ifstream f(path);
  EXPECT_TRUE(f) << path;
  std::map<std::string, std::vector<std::string>> sections;
  std::string line, section;
  while (std::getline(f, line)) {
    line = trim(line.substr(0, line.find('#')));
    if (line.empty())
      continue;
    if (line.front() == '[' && line.back() == ']')
      section = line.substr(1, line.size() - 2);
    else
      sections[section].push_back(line);
  }
  return sections;
}

TargetDesc vcu128() {
  std::string error;
  auto t = loadTargetByName("vcu128", error);
  EXPECT_TRUE(t) << error;
  return t ? *t : TargetDesc{};
}

} // namespace

TEST(LinkConfig, SpLinesAreExactlyKernelDef) {
  auto cfg = readConfig(EDGELLM_SOURCE_DIR "/hw/vitis/link.cfg");
  std::vector<std::string> expected, actual;
  for (const kernel::Arg &a : kernel::kArgs)
    if (a.kind == kernel::ArgKind::Global)
      expected.push_back(std::string("sp=") + kernel::kInstance + "." + a.name + ":" + a.bank);
  for (const std::string &l : cfg["connectivity"])
    if (l.rfind("sp=", 0) == 0)
      actual.push_back(l);
  EXPECT_EQ(actual, expected);
  // 34 memories + status: the DDR ports and every HBM pseudo-channel.
  EXPECT_EQ(expected.size(), 35u);
}

TEST(LinkConfig, OneComputeUnitAndTheKernelClock) {
  auto cfg = readConfig(EDGELLM_SOURCE_DIR "/hw/vitis/link.cfg");
  std::vector<std::string> nk;
  for (const std::string &l : cfg["connectivity"])
    if (l.rfind("nk=", 0) == 0)
      nk.push_back(l);
  EXPECT_EQ(nk, std::vector<std::string>{std::string("nk=") + kernel::kName + ":1:" +
                                         kernel::kInstance});
  // Nothing but connectivity and clocks.
  for (const auto &[name, lines] : cfg)
    EXPECT_TRUE(name == "connectivity" || name == "clock") << "[" << name << "]";
  TargetDesc t = vcu128();
  uint64_t hz = uint64_t(t.clocks.matmulMHz * 1e6 + 0.5);
  EXPECT_EQ(cfg["clock"], std::vector<std::string>{"freqHz=" + std::to_string(hz) + ":" +
                                                   kernel::kInstance});
  // The kernel's one clock also drives the DMA engines and the HBM ports.
  EXPECT_EQ(t.clocks.matmulMHz, t.clocks.dmaMHz);
  EXPECT_EQ(t.clocks.matmulMHz, t.hbm.axiClockMHz);
}

TEST(LinkConfig, MakefileCompilesTheKernelAtTheSameClock) {
  std::ifstream f(EDGELLM_SOURCE_DIR "/hw/vitis/Makefile");
  ASSERT_TRUE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string mk = ss.str();
  TargetDesc t = vcu128();
  EXPECT_NE(mk.find("KERNEL_MHZ ?= " + std::to_string(unsigned(t.clocks.matmulMHz)) + "\n"),
            std::string::npos);
  EXPECT_NE(mk.find("-k $(KERNEL)"), std::string::npos);
  EXPECT_NE(mk.find(std::string("KERNEL := ") + kernel::kName + "\n"), std::string::npos);
  EXPECT_NE(mk.find("--config $(HERE)link.cfg"), std::string::npos);
}

TEST(Xclbin, RegisterMapFollowsKernelDef) {
  // HLS layout: 0x10 first, pointer 8 + 4 reserved bytes, scalar 4 + 4.
  EXPECT_EQ(xb::argOffset(0), 0x10u);
  EXPECT_EQ(xb::argOffset(1), 0x1cu);
  uint32_t end = 0;
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    bool global = kernel::kArgs[i].kind == kernel::ArgKind::Global;
    EXPECT_EQ(xb::argSize(i), global ? 8u : 4u);
    EXPECT_GE(xb::argOffset(i), end);
    end = xb::argOffset(i) + xb::argSize(i);
    EXPECT_EQ(xb::argPort(i), global ? "M_AXI_" + [&] {
      std::string s = kernel::kArgs[i].name;
      for (char &c : s)
        c = char(std::toupper(static_cast<unsigned char>(c)));
      return s;
    }()
                                        : std::string("S_AXI_CONTROL"));
  }
  EXPECT_LE(end, 0x1000u); // the control port's range in the metadata
}

TEST(Xclbin, MetadataXmlListsEveryArgument) {
  std::string xml = xb::kernelMetadataXml(vcu128(), {});
  EXPECT_NE(xml.find("<kernel name=\"edgellm_accel\""), std::string::npos);
  EXPECT_NE(xml.find("<instance name=\"edgellm_accel_1\">"), std::string::npos);
  EXPECT_NE(xml.find("<clock port=\"KERNEL_CLK\" frequency=\"280MHz\"/>"), std::string::npos);
  EXPECT_NE(xml.find("mode=\"slave\" range=\"0x1000\""), std::string::npos);
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    const kernel::Arg &a = kernel::kArgs[i];
    bool global = a.kind == kernel::ArgKind::Global;
    std::ostringstream line;
    line << "<arg name=\"" << a.name << "\" addressQualifier=\"" << (global ? 1 : 0)
         << "\" id=\"" << i << "\" port=\"" << xb::argPort(i) << "\"";
    EXPECT_NE(xml.find(line.str()), std::string::npos) << line.str();
    if (global)
      EXPECT_NE(xml.find("<port name=\"" + xb::argPort(i) + "\" mode=\"master\""),
                std::string::npos);
  }
}

TEST(Xclbin, BadOptionsAreRefused) {
  std::vector<uint8_t> out;
  std::string error;
  xb::Options o;
  o.omitBanks = {"HBM[32]"};
  EXPECT_FALSE(xb::buildXclbin(vcu128(), o, out, error));
  EXPECT_EQ(error, "no bank 'HBM[32]' in target vcu128");
  o = {};
  o.unconnectedArgs = {"count"};
  EXPECT_FALSE(xb::buildXclbin(vcu128(), o, out, error));
  EXPECT_EQ(error, "'count' is not a global argument of edgellm_accel");
  EXPECT_FALSE(xb::writeXclbinFile("/nonexistent-dir/x.xclbin", vcu128(), {}, error));
  EXPECT_NE(error.find("/nonexistent-dir/x.xclbin.tmp: cannot write"), std::string::npos)
      << error;
}

#ifdef EDGELLM_HAVE_XCLBIN_H

namespace {

struct Parsed {
  std::vector<uint8_t> bytes;
  const axlf *top = nullptr;
  const axlf_section_header *section(axlf_section_kind kind) const {
    for (uint32_t i = 0; i < top->m_header.m_numSections; ++i)
      if (top->m_sections[i].m_sectionKind == uint32_t(kind))
        return &top->m_sections[i];
    return nullptr;
  }
  template <typename T> const T *get(axlf_section_kind kind) const {
    const axlf_section_header *s = section(kind);
    return s ? reinterpret_cast<const T *>(bytes.data() + s->m_sectionOffset) : nullptr;
  }
};

Parsed build(const xb::Options &o) {
  Parsed p;
  std::string error;
  EXPECT_TRUE(xb::buildXclbin(vcu128(), o, p.bytes, error)) << error;
  p.top = reinterpret_cast<const axlf *>(p.bytes.data());
  return p;
}

std::string tag(const mem_data &m) { return reinterpret_cast<const char *>(m.m_tag); }

} // namespace

TEST(Xclbin, ContainerReadsBackThroughXrtStructs) {
  xb::Options o;
  o.uuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  o.timeStamp = 1234;
  Parsed p = build(o);
  ASSERT_GE(p.bytes.size(), sizeof(axlf));
  EXPECT_EQ(std::memcmp(p.top->m_magic, "xclbin2", 8), 0);
  EXPECT_EQ(p.top->m_signature_length, -1);
  EXPECT_EQ(p.top->m_header.m_length, p.bytes.size());
  EXPECT_EQ(p.top->m_header.m_timeStamp, 1234u);
  EXPECT_EQ(p.top->m_header.m_numSections, 4u);
  EXPECT_EQ(p.top->m_header.m_mode, XCLBIN_PR);
  EXPECT_EQ(std::memcmp(p.top->m_header.uuid, o.uuid.data(), 16), 0);
  for (uint32_t i = 0; i < p.top->m_header.m_numSections; ++i) {
    const axlf_section_header &s = p.top->m_sections[i];
    EXPECT_EQ(s.m_sectionOffset % 8, 0u);
    EXPECT_LE(s.m_sectionOffset + s.m_sectionSize, p.bytes.size());
  }

  // IP_LAYOUT: one kernel compute unit.
  auto *ips = p.get<ip_layout>(IP_LAYOUT);
  ASSERT_TRUE(ips);
  ASSERT_EQ(ips->m_count, 1);
  EXPECT_EQ(ips->m_ip_data[0].m_type, uint32_t(IP_KERNEL));
  EXPECT_EQ(ips->m_ip_data[0].m_base_address, xb::kCuBaseAddress);
  EXPECT_EQ((ips->m_ip_data[0].properties & IP_CONTROL_MASK) >> IP_CONTROL_SHIFT,
            uint32_t(AP_CTRL_HS));
  EXPECT_STREQ(reinterpret_cast<const char *>(ips->m_ip_data[0].m_name),
               "edgellm_accel:edgellm_accel_1");

  // MEM_TOPOLOGY: HBM[0..31] (256 MiB each, contiguous from 0), DDR[0].
  TargetDesc t = vcu128();
  auto *mems = p.get<mem_topology>(MEM_TOPOLOGY);
  ASSERT_TRUE(mems);
  ASSERT_EQ(mems->m_count, int32_t(t.hbm.pseudoChannels + 1));
  for (unsigned i = 0; i < t.hbm.pseudoChannels; ++i) {
    const mem_data &m = mems->m_mem_data[i];
    EXPECT_EQ(tag(m), "HBM[" + std::to_string(i) + "]");
    EXPECT_EQ(m.m_type, MEM_HBM);
    EXPECT_EQ(m.m_used, 1);
    EXPECT_EQ(m.m_size, 256u * 1024); // KiB
    EXPECT_EQ(m.m_base_address, uint64_t(i) << 28);
  }
  const mem_data &ddr = mems->m_mem_data[t.hbm.pseudoChannels];
  EXPECT_EQ(tag(ddr), "DDR[0]");
  EXPECT_EQ(ddr.m_type, MEM_DDR4);
  EXPECT_EQ(ddr.m_size, t.ddr.capacityMiB * 1024);

  // CONNECTIVITY: every Global argument to its Kernel.def bank, nothing else.
  auto *conn = p.get<connectivity>(CONNECTIVITY);
  ASSERT_TRUE(conn);
  std::map<int, std::string> bankOf;
  for (int32_t i = 0; i < conn->m_count; ++i) {
    const connection &c = conn->m_connection[i];
    EXPECT_EQ(c.m_ip_layout_index, 0);
    ASSERT_LT(c.mem_data_index, mems->m_count);
    EXPECT_TRUE(bankOf.emplace(c.arg_index, tag(mems->m_mem_data[c.mem_data_index])).second);
  }
  std::map<int, std::string> expected;
  for (unsigned i = 0; i < kernel::kNumArgs; ++i)
    if (kernel::kArgs[i].kind == kernel::ArgKind::Global)
      expected[int(i)] = kernel::kArgs[i].bank;
  EXPECT_EQ(bankOf, expected);

  // EMBEDDED_METADATA: the XML, byte for byte.
  const axlf_section_header *xs = p.section(EMBEDDED_METADATA);
  ASSERT_TRUE(xs);
  std::string xml(reinterpret_cast<const char *>(p.bytes.data() + xs->m_sectionOffset),
                  xs->m_sectionSize);
  EXPECT_EQ(xml, xb::kernelMetadataXml(t, o));
}

TEST(Xclbin, RandomUuidIsVersion4) {
  Parsed a = build({}), b = build({});
  EXPECT_EQ(a.top->m_header.uuid[6] >> 4, 4);
  EXPECT_EQ(a.top->m_header.uuid[8] & 0xc0, 0x80);
  EXPECT_NE(std::memcmp(a.top->m_header.uuid, b.top->m_header.uuid, 16), 0);
}

TEST(Xclbin, BrokenVariantsForTests) {
  xb::Options o;
  o.omitBanks = {"HBM[5]"};
  Parsed p = build(o);
  auto *mems = p.get<mem_topology>(MEM_TOPOLOGY);
  ASSERT_EQ(mems->m_count, 32);
  for (int32_t i = 0; i < mems->m_count; ++i)
    EXPECT_NE(tag(mems->m_mem_data[i]), "HBM[5]");
  auto *conn = p.get<connectivity>(CONNECTIVITY);
  EXPECT_EQ(conn->m_count, 34);
  for (int32_t i = 0; i < conn->m_count; ++i)
    EXPECT_NE(conn->m_connection[i].arg_index, kernel::argIndex("hbm5"));

  o = {};
  o.unconnectedArgs = {"hbm7"};
  p = build(o);
  EXPECT_EQ(p.get<mem_topology>(MEM_TOPOLOGY)->m_count, 33);
  conn = p.get<connectivity>(CONNECTIVITY);
  EXPECT_EQ(conn->m_count, 34);
  for (int32_t i = 0; i < conn->m_count; ++i)
    EXPECT_NE(conn->m_connection[i].arg_index, kernel::argIndex("hbm7"));

  o = {};
  o.kernelName = "other_accel";
  p = build(o);
  EXPECT_STREQ(reinterpret_cast<const char *>(p.get<ip_layout>(IP_LAYOUT)->m_ip_data[0].m_name),
               "other_accel:edgellm_accel_1");
}

#endif // EDGELLM_HAVE_XCLBIN_H
