//===- Xclbin.cpp - A metadata-only xclbin of the accelerator -------------===//
//
// The container is `struct axlf` of /usr/include/xrt/xclbin.h (XRT 2.13),
// written byte by byte, little-endian:
//
//   0    m_magic "xclbin2\0", m_signature_length -1, 28 reserved bytes 0xff
//   40   m_keyBlock: 256 bytes 0xff (no signature)
//   296  m_uniqueId
//   304  m_header (struct axlf_header, 152 bytes): length, time stamp, feature
//        ROM time stamp, version patch/major/minor, mode, action mask, ROM id,
//        platform VBNV[64], uuid[16], debug bin[16], number of sections
//   456  m_sections[n]: kind u32, name[16], offset u64, size u64 (40 bytes)
//   ...  the sections, each at a multiple of 8 bytes
//
// The XML of EMBEDDED_METADATA follows what XRT's parser reads
// (core/common/xclbin_parser.cpp: get_kernel_arguments, get_kernel_properties,
// get_address_range, get_max_cu_size, get_kernel_freq): the kernels are the
// <kernel> children of project.platform.device.core; each has <port> children
// (name, mode = master|slave, range, dataWidth, portType, base; the slave
// port's range bounds the argument offsets), <arg> children (name,
// addressQualifier 1 = global pointer / 0 = scalar, id = argument index,
// port, size, offset, hostOffset, hostSize, type) and <instance> children
// (name, addrRemap base/range/port). Kernel clocks are
// core.kernelClocks.clock[port=KERNEL_CLK].
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/Xclbin.h"
#include "edgellm/hw/AtomicFile.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace edgellm::hw::xclbin {
namespace {

// Sizes of the XRT structures (xclbin.h static_asserts them too).
constexpr size_t kAxlfBytes = 496;          // with one section header
constexpr size_t kSectionHeaderBytes = 40;
constexpr size_t kHeaderOffset = 304;       // axlf::m_header
constexpr size_t kSectionsOffset = 456;     // axlf::m_sections
constexpr size_t kMemDataBytes = 40;
constexpr size_t kConnectionBytes = 12;
constexpr size_t kIpDataBytes = 80;
constexpr uint32_t kIpKernel = 1;           // IP_TYPE::IP_KERNEL
constexpr uint32_t kIpIntEnable = 0x1;      // IP_INT_ENABLE_MASK
constexpr uint32_t kApCtrlHs = 0;           // IP_CONTROL::AP_CTRL_HS (bits 0xff00)
constexpr uint16_t kModePr = 1;             // XCLBIN_MODE::XCLBIN_PR

class Bytes {
public:
  explicit Bytes(std::vector<uint8_t> &out) : out_(out) {}
  void put(size_t at, uint64_t v, unsigned n) {
    if (out_.size() < at + n)
      out_.resize(at + n, 0);
    for (unsigned i = 0; i < n; ++i)
      out_[at + i] = uint8_t(v >> (8 * i));
  }
  void putBytes(size_t at, const void *data, size_t n) {
    if (out_.size() < at + n)
      out_.resize(at + n, 0);
    std::memcpy(out_.data() + at, data, n);
  }
  /// A NUL-terminated string in a fixed field of `field` bytes.
  void putString(size_t at, const std::string &s, size_t field) {
    std::string t = s.substr(0, field - 1);
    putBytes(at, t.data(), t.size());
    put(at + t.size(), 0, 1);
  }
  void fill(size_t at, uint8_t v, size_t n) {
    if (out_.size() < at + n)
      out_.resize(at + n, 0);
    std::memset(out_.data() + at, v, n);
  }
  size_t size() const { return out_.size(); }
  void align(size_t a) { out_.resize((out_.size() + a - 1) / a * a, 0); }

private:
  std::vector<uint8_t> &out_;
};

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string upper(std::string s) {
  for (char &c : s)
    if (c >= 'a' && c <= 'z')
      c = char(c - 'a' + 'A');
  return s;
}

bool contains(const std::vector<std::string> &v, const std::string &s) {
  for (const std::string &x : v)
    if (x == s)
      return true;
  return false;
}

std::array<uint8_t, 16> randomUuid() {
  std::random_device rd;
  std::array<uint8_t, 16> u{};
  for (unsigned i = 0; i < 16; i += 4) {
    uint32_t r = rd();
    for (unsigned j = 0; j < 4; ++j)
      u[i + j] = uint8_t(r >> (8 * j));
  }
  u[6] = uint8_t((u[6] & 0x0f) | 0x40); // version 4 (random)
  u[8] = uint8_t((u[8] & 0x3f) | 0x80); // RFC 4122 variant
  return u;
}

} // namespace

std::vector<MemBank> memoryBanks(const TargetDesc &target) {
  std::vector<MemBank> banks;
  uint64_t hbmKiB = target.hbm.channelCapacityMiB << 10;
  for (unsigned i = 0; i < target.hbm.pseudoChannels; ++i)
    banks.push_back({"HBM[" + std::to_string(i) + "]", kMemHbm,
                     kHbmBaseAddress + uint64_t(i) * (hbmKiB << 10), hbmKiB});
  banks.push_back({"DDR[0]", kMemDdr4, kDdrBaseAddress, target.ddr.capacityMiB << 10});
  return banks;
}

uint32_t argSize(unsigned argIndex) {
  return kernel::kArgs[argIndex].kind == kernel::ArgKind::Global ? 8 : 4;
}

uint32_t argOffset(unsigned argIndex) {
  uint32_t offset = 0x10;
  for (unsigned i = 0; i < argIndex; ++i)
    offset += argSize(i) + 4;
  return offset;
}

std::string argPort(unsigned argIndex) {
  const kernel::Arg &a = kernel::kArgs[argIndex];
  return a.kind == kernel::ArgKind::Global ? "M_AXI_" + upper(a.name) : kControlPort;
}

std::string kernelMetadataXml(const TargetDesc &target, const Options &options) {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<project name=\"edgellm\">\n"
    << "  <platform vendor=\"xilinx\" boardid=\"" << target.name << "\" name=\"edgellm_"
    << target.name << "_metadata\" featureRomTime=\"0\">\n"
    << "    <version major=\"1\" minor=\"0\"/>\n"
    << "    <description>EdgeLLM metadata-only xclbin (no bitstream) for "
    << target.board << "</description>\n"
    << "    <board name=\"" << target.board << "\" vendor=\"xilinx\" fpga=\"" << target.part
    << "\"/>\n"
    << "    <build_flow/>\n"
    << "    <host architecture=\"x86_64\"/>\n"
    << "    <device name=\"fpga0\" fpgaDevice=\"" << target.part << "\" addrWidth=\"0\">\n"
    << "      <core name=\"OCL_REGION_0\" target=\"bitstream\" type=\"clc_region\" "
       "clockFreq=\"0MHz\" numComputeUnits=\"1\">\n"
    << "        <kernelClocks>\n"
    << "          <clock port=\"KERNEL_CLK\" frequency=\"" << unsigned(target.clocks.matmulMHz)
    << "MHz\"/>\n"
    << "        </kernelClocks>\n"
    << "        <kernel name=\"" << options.kernelName
    << "\" language=\"c\" vlnv=\"xilinx.com:hls:" << options.kernelName
    << ":1.0\" preferredWorkGroupSizeMultiple=\"0\" workGroupSize=\"1\" interrupt=\"true\" "
       "hwControlProtocol=\"ap_ctrl_hs\">\n";
  // Ports: the control slave, then one AXI master per pointer (256-bit beats).
  x << "          <port name=\"" << kControlPort << "\" mode=\"slave\" range=\""
    << hex(0x1000) << "\" dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n";
  for (unsigned i = 0; i < kernel::kNumArgs; ++i)
    if (kernel::kArgs[i].kind == kernel::ArgKind::Global)
      x << "          <port name=\"" << argPort(i)
        << "\" mode=\"master\" range=\"0xFFFFFFFFFFFFFFFF\" dataWidth=\"256\" "
           "portType=\"addressable\" base=\"0x0\"/>\n";
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    const kernel::Arg &a = kernel::kArgs[i];
    bool global = a.kind == kernel::ArgKind::Global;
    x << "          <arg name=\"" << a.name << "\" addressQualifier=\"" << (global ? 1 : 0)
      << "\" id=\"" << i << "\" port=\"" << argPort(i) << "\" size=\"" << hex(argSize(i))
      << "\" offset=\"" << hex(argOffset(i)) << "\" hostOffset=\"0x0\" hostSize=\""
      << hex(argSize(i)) << "\" type=\"" << (global ? "void*" : "unsigned int") << "\"/>\n";
  }
  x << "          <instance name=\"" << options.instanceName << "\">\n"
    << "            <addrRemap base=\"" << hex(kCuBaseAddress) << "\" range=\""
    << hex(kCuAddressRange) << "\" port=\"" << kControlPort << "\"/>\n"
    << "          </instance>\n"
    << "        </kernel>\n"
    << "      </core>\n"
    << "    </device>\n"
    << "  </platform>\n"
    << "</project>\n";
  return x.str();
}

bool buildXclbin(const TargetDesc &target, const Options &options, std::vector<uint8_t> &out,
                 std::string &error) {
  // Banks, minus the omitted ones.
  std::vector<MemBank> all = memoryBanks(target), banks;
  for (const std::string &b : options.omitBanks) {
    bool known = false;
    for (const MemBank &m : all)
      known |= m.tag == b;
    if (!known) {
      error = "no bank '" + b + "' in target " + target.name;
      return false;
    }
  }
  for (const MemBank &m : all)
    if (!contains(options.omitBanks, m.tag))
      banks.push_back(m);
  for (const std::string &a : options.unconnectedArgs)
    if (kernel::argIndex(a) < 0 || kernel::kArgs[kernel::argIndex(a)].kind != kernel::ArgKind::Global) {
      error = "'" + a + "' is not a global argument of " + std::string(kernel::kName);
      return false;
    }

  // CONNECTIVITY: every Global argument to its bank (Kernel.def).
  struct Connection {
    int32_t arg, ip, mem;
  };
  std::vector<Connection> connections;
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    const kernel::Arg &a = kernel::kArgs[i];
    if (a.kind != kernel::ArgKind::Global || contains(options.unconnectedArgs, a.name))
      continue;
    for (size_t m = 0; m < banks.size(); ++m)
      if (banks[m].tag == a.bank)
        connections.push_back({int32_t(i), 0, int32_t(m)});
  }

  std::vector<uint8_t> memTopology, connectivity, ipLayout;
  {
    Bytes s(memTopology);
    s.put(0, banks.size(), 4);
    for (size_t m = 0; m < banks.size(); ++m) {
      size_t at = 8 + m * kMemDataBytes;
      s.put(at + 0, banks[m].type, 1);
      s.put(at + 1, 1, 1); // m_used
      s.fill(at + 2, 0, 6);
      s.put(at + 8, banks[m].sizeKiB, 8);
      s.put(at + 16, banks[m].baseAddress, 8);
      s.fill(at + 24, 0, 16);
      s.putString(at + 24, banks[m].tag, 16);
    }
    if (banks.empty())
      s.fill(8, 0, kMemDataBytes);
  }
  {
    Bytes s(connectivity);
    s.put(0, connections.size(), 4);
    for (size_t c = 0; c < connections.size(); ++c) {
      size_t at = 4 + c * kConnectionBytes;
      s.put(at + 0, uint32_t(connections[c].arg), 4);
      s.put(at + 4, uint32_t(connections[c].ip), 4);
      s.put(at + 8, uint32_t(connections[c].mem), 4);
    }
    if (connections.empty())
      s.fill(4, 0, kConnectionBytes);
  }
  {
    Bytes s(ipLayout);
    s.put(0, 1, 4);
    s.put(8, kIpKernel, 4);
    s.put(12, kIpIntEnable | (kApCtrlHs << 8), 4);
    s.put(16, kCuBaseAddress, 8);
    s.fill(24, 0, 64);
    std::string name = options.kernelName + ":" + options.instanceName;
    if (name.size() >= 64) {
      error = "kernel:instance name '" + name + "' longer than 63 characters";
      return false;
    }
    s.putString(24, name, 64);
  }
  std::string xml = kernelMetadataXml(target, options);

  struct Section {
    SectionKind kind;
    const char *name;
    const uint8_t *data;
    size_t size;
  };
  const Section sections[] = {
      {kMemTopology, "MEM_TOPOLOGY", memTopology.data(), memTopology.size()},
      {kIpLayout, "IP_LAYOUT", ipLayout.data(), ipLayout.size()},
      {kConnectivity, "CONNECTIVITY", connectivity.data(), connectivity.size()},
      {kEmbeddedMetadata, "EMBEDDED_METADATA", reinterpret_cast<const uint8_t *>(xml.data()),
       xml.size()},
  };
  const size_t n = sizeof(sections) / sizeof(sections[0]);

  out.clear();
  Bytes f(out);
  f.fill(0, 0, kAxlfBytes + (n - 1) * kSectionHeaderBytes);
  f.putBytes(0, "xclbin2", 8);
  f.put(8, uint32_t(-1), 4);  // m_signature_length: no signature
  f.fill(12, 0xff, 28);       // reserved
  f.fill(40, 0xff, 256);      // m_keyBlock
  uint64_t now = options.timeStamp
                     ? options.timeStamp
                     : uint64_t(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  std::array<uint8_t, 16> uuid = options.uuid;
  bool zero = true;
  for (uint8_t b : uuid)
    zero &= b == 0;
  if (zero)
    uuid = randomUuid();
  uint64_t uniqueId = 0;
  for (unsigned i = 0; i < 8; ++i)
    uniqueId |= uint64_t(uuid[i]) << (8 * i);
  f.put(296, uniqueId, 8);

  const size_t h = kHeaderOffset;
  f.put(h + 8, now, 8);       // m_timeStamp
  f.put(h + 16, 0, 8);        // m_featureRomTimeStamp
  f.put(h + 24, 0, 2);        // m_versionPatch
  f.put(h + 26, 2, 1);        // m_versionMajor
  f.put(h + 27, 13, 1);       // m_versionMinor
  f.put(h + 28, kModePr, 2);  // m_mode
  f.put(h + 30, 0, 2);        // m_actionMask
  f.putString(h + 48, "xilinx:" + target.name + ":edgellm_metadata:1.0", 64); // m_platformVBNV
  f.putBytes(h + 112, uuid.data(), 16);
  f.put(h + 144, n, 4);       // m_numSections

  for (size_t i = 0; i < n; ++i) {
    f.align(8);
    size_t offset = f.size();
    f.putBytes(offset, sections[i].data, sections[i].size);
    size_t at = kSectionsOffset + i * kSectionHeaderBytes;
    f.put(at, sections[i].kind, 4);
    f.putString(at + 4, sections[i].name, 16);
    f.put(at + 24, offset, 8);
    f.put(at + 32, sections[i].size, 8);
  }
  f.align(8);
  f.put(h + 0, f.size(), 8); // m_length
  return true;
}

bool writeXclbinFile(const std::string &path, const TargetDesc &target, const Options &options,
                     std::string &error) {
  std::vector<uint8_t> bytes;
  if (!buildXclbin(target, options, bytes, error))
    return false;
  return writeFileAtomically(
      path,
      [&](std::ostream &o) {
        o.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
        return true;
      },
      error);
}

std::string formatUuid(const std::array<uint8_t, 16> &u) {
  std::string s;
  char buf[3];
  for (unsigned i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      s += '-';
    std::snprintf(buf, sizeof buf, "%02x", u[i]);
    s += buf;
  }
  return s;
}

} // namespace edgellm::hw::xclbin
