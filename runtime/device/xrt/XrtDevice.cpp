//===- XrtDevice.cpp - The accelerator on a board, through XRT ------------===//

#include "runtime/device/xrt/XrtDevice.h"

#include "edgellm/hw/IsaStream.h"

#include <experimental/xrt_xclbin.h>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

namespace edgellm::runtime {

namespace kernel = hw::kernel;

namespace {

constexpr uint64_t kHbmChannelBytes = uint64_t(isa::kHbmChannelBeats) * isa::kBeatBytes;
/// Size of the buffer bound to an HBM port the package never allocated
/// (every pointer argument needs a buffer).
constexpr uint64_t kPlaceholderBytes = 4096;

const char *faultName(uint32_t code) {
  switch (isa::Fault(code)) {
  case isa::Fault::None: return "none";
  case isa::Fault::Decode: return "decode (an invalid instruction word)";
  case isa::Fault::Address: return "address (an access outside a memory or buffer)";
  case isa::Fault::Layout: return "layout (an operand's rows exceed its token capacity)";
  case isa::Fault::Alias: return "alias (an output overlaps an input)";
  case isa::Fault::Deadlock: return "deadlock (a token wait that can never be satisfied)";
  case isa::Fault::UnbalancedTokens: return "unbalanced tokens at end";
  case isa::Fault::NoEnd: return "the instruction count ran out before end";
  }
  return nullptr;
}

const char *stateName(ert_cmd_state s) {
  switch (s) {
  case ERT_CMD_STATE_NEW: return "new";
  case ERT_CMD_STATE_QUEUED: return "queued";
  case ERT_CMD_STATE_RUNNING: return "running";
  case ERT_CMD_STATE_COMPLETED: return "completed";
  case ERT_CMD_STATE_ERROR: return "error";
  case ERT_CMD_STATE_ABORT: return "abort";
  case ERT_CMD_STATE_SUBMITTED: return "submitted";
  case ERT_CMD_STATE_TIMEOUT: return "timeout";
  case ERT_CMD_STATE_NORESPONSE: return "no response";
  default: return "unknown";
  }
}

/// "hbm12" -> 12 for prefix "hbm"; -1 if `name` is not prefix + a number.
int numbered(const std::string &name, const char *prefix) {
  size_t n = std::strlen(prefix);
  if (name.size() <= n || name.compare(0, n, prefix) != 0)
    return -1;
  int v = 0;
  for (size_t i = n; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || v > 1000)
      return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

/// Reads the file's first bytes to tell "cannot read" and "not an xclbin"
/// apart before XRT (which reads whatever it is given) sees it.
bool checkXclbinFile(const std::string &path, std::string &error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = path + ": cannot read the xclbin: " + std::strerror(errno);
    return false;
  }
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  f.seekg(0, std::ios::beg);
  char magic[8] = {};
  if (size < std::streamoff(sizeof(axlf)) || !f.read(magic, sizeof magic)) {
    error = path + ": not an xclbin (" + std::to_string(size) +
            " bytes, shorter than the axlf header)";
    return false;
  }
  if (std::memcmp(magic, "xclbin2", 8) != 0) {
    error = path + ": not an xclbin (no 'xclbin2' magic)";
    return false;
  }
  // XRT trusts the section table; a truncated file would be read past its end.
  axlf top;
  f.seekg(0, std::ios::beg);
  if (!f.read(reinterpret_cast<char *>(&top), sizeof top)) {
    error = path + ": cannot read the xclbin header";
    return false;
  }
  uint64_t fileSize = uint64_t(size);
  uint32_t n = top.m_header.m_numSections;
  uint64_t tableEnd = offsetof(axlf, m_sections) + uint64_t(n) * sizeof(axlf_section_header);
  if (top.m_header.m_length != fileSize || n == 0 || n > XCLBIN_MAX_NUM_SECTION ||
      tableEnd > fileSize) {
    error = path + ": truncated or damaged xclbin (file " + std::to_string(fileSize) +
            " bytes, header says " + std::to_string(top.m_header.m_length) + " bytes and " +
            std::to_string(n) + " sections)";
    return false;
  }
  for (uint32_t i = 0; i < n; ++i) {
    axlf_section_header s;
    f.seekg(std::streamoff(offsetof(axlf, m_sections) + i * sizeof s), std::ios::beg);
    if (!f.read(reinterpret_cast<char *>(&s), sizeof s) || s.m_sectionOffset > fileSize ||
        s.m_sectionSize > fileSize - s.m_sectionOffset) {
      error = path + ": truncated or damaged xclbin (section " + std::to_string(i) +
              " lies outside the file)";
      return false;
    }
  }
  return true;
}

/// XRT's user-space driver ("shim") libraries; a process holds at most one.
const char *const kShims[] = {"libxrt_core.so.2", "libxrt_noop.so.2", "libxrt_hwemu.so.2",
                              "libxrt_swemu.so.2"};

/// Makes sure one XRT shim is loaded before the first device is opened. A
/// shim linked into the program (or preloaded) is used as it is. Otherwise
/// EDGELLM_XRT_SHIM chooses it (hw = libxrt_core, the board's driver; noop =
/// libxrt_noop, no board; hw_emu = libxrt_hwemu; or a library name/path);
/// without it, libxrt_hwemu when XCL_EMULATION_MODE=hw_emu, else libxrt_core.
/// Debian's libxrt_coreutil cannot find a shim by itself (it looks under
/// $XILINX_XRT/lib), and two shims in one process abort it.
bool ensureShim(std::string &error, bool &noop) {
  noop = false;
  std::string present;
  for (const char *name : kShims)
    if (void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD)) {
      present = name;
      dlclose(h);
      break;
    }
  const char *env = std::getenv("EDGELLM_XRT_SHIM");
  std::string want;
  if (env && *env) {
    std::string e = env;
    want = e == "hw" ? kShims[0] : e == "noop" ? kShims[1] : e == "hw_emu" ? kShims[2] : e;
  } else {
    const char *mode = std::getenv("XCL_EMULATION_MODE");
    want = mode && std::string(mode) == "hw_emu" ? kShims[2] : kShims[0];
  }
  if (!present.empty()) {
    noop = present == kShims[1];
    if (!env || !*env || want == present)
      return true;
    error = "EDGELLM_XRT_SHIM asks for " + want + ", but the program already holds XRT shim " +
            present + " (only one can be loaded)";
    return false;
  }
  if (!dlopen(want.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    const char *why = dlerror();
    error = "cannot load XRT's driver library " + want + ": " + (why ? why : "?") +
            " (EDGELLM_XRT_SHIM=noop runs without a board)";
    return false;
  }
  noop = want == kShims[1];
  return true;
}

} // namespace

struct XrtDevice::Impl {
  std::string path;
  unsigned index = 0;
  bool noopShim = false; ///< XRT's no-op shim: runs complete, nothing computes
  xrt::xclbin xclbin;
  xrt::device device;
  xrt::uuid uuid;
  xrt::kernel kernel;
  xrt::run run;
  std::vector<ArgInfo> args;
  int argInstr = -1, argDdr = -1, argStatus = -1;
  std::array<int, isa::kHbmChannels> argHbm{};
  /// Memory index -> (tag, size in KiB) from the xclbin's MEM_TOPOLOGY.
  std::map<int, std::pair<std::string, uint64_t>> mems;

  struct Buffer {
    xrt::bo bo;
    uint8_t *host = nullptr;
    uint64_t bytes = 0;
    int group = -1;
    bool placeholder = false;
  };
  Buffer ddr, status;
  std::array<Buffer, isa::kHbmChannels> hbm;

  struct Program {
    uint64_t beat = 0, count = 0;
  };
  std::map<std::string, Program> programs;
  bool running = false;
  std::string runningProgram;
  uint32_t runningCount = 0;
  uint64_t lastInstrAddress = 0;
  std::vector<uint32_t> lastRegisterMap;
  DeviceCounters counters;

  std::string where() const { return "xrt device " + std::to_string(index); }

  bool makeBuffer(Buffer &b, uint64_t bytes, int argIndex, const char *what,
                  std::string &error) {
    try {
      int group = args[argIndex].group;
      xrt::bo bo(device, bytes, xrt::bo::flags::normal, xrt::memory_group(group));
      auto *host = bo.map<uint8_t *>();
      std::memset(host, 0, bytes);
      bo.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      b.bo = std::move(bo);
      b.host = host;
      b.bytes = bytes;
      b.group = group;
      b.placeholder = false;
      return true;
    } catch (const std::exception &e) {
      error = where() + ": cannot allocate " + std::to_string(bytes) + " bytes for " + what +
              " in " + args[argIndex].bank + " (group " + std::to_string(args[argIndex].group) +
              "): " + e.what();
      return false;
    }
  }

  /// Grows a bank's buffer to `bytes`, keeping its content.
  bool grow(Buffer &b, uint64_t bytes, int argIndex, const char *what, std::string &error) {
    if (b.host && !b.placeholder && b.bytes >= bytes)
      return true;
    Buffer nb;
    if (!makeBuffer(nb, bytes, argIndex, what, error))
      return false;
    if (b.host && !b.placeholder) {
      std::memcpy(nb.host, b.host, b.bytes);
      try {
        nb.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, b.bytes, 0);
      } catch (const std::exception &e) {
        error = where() + ": " + what + ": " + e.what();
        return false;
      }
    }
    b = std::move(nb);
    return true;
  }

  /// The buffer holding byte `byteAddr` of `mem` and the offset in it; the
  /// range [byteAddr, byteAddr + bytes) must lie in one buffer (HBM callers
  /// split at channel boundaries).
  Buffer *locate(isa::ExtMem mem, uint64_t byteAddr, uint64_t bytes, uint64_t &offset,
                 std::string &error) {
    Buffer *b = nullptr;
    std::string name;
    if (mem == isa::ExtMem::Ddr) {
      b = &ddr;
      offset = byteAddr;
      name = "DDR";
    } else {
      uint64_t channel = byteAddr / kHbmChannelBytes;
      if (channel >= isa::kHbmChannels) {
        error = where() + ": HBM byte address " + std::to_string(byteAddr) +
                " is past channel 31";
        return nullptr;
      }
      b = &hbm[channel];
      offset = byteAddr % kHbmChannelBytes;
      name = "HBM channel " + std::to_string(channel);
    }
    if (!b->host || b->placeholder) {
      error = where() + ": " + name + " is not allocated";
      return nullptr;
    }
    if (offset + bytes > b->bytes) {
      error = where() + ": " + name + ": bytes [" + std::to_string(offset) + ", " +
              std::to_string(offset + bytes) + ") outside the " + std::to_string(b->bytes / isa::kBeatBytes) +
              " allocated beats";
      return nullptr;
    }
    return b;
  }

  /// Calls f(buffer, offset in buffer, offset in the caller's data, bytes)
  /// for each piece of an access (HBM accesses split per channel).
  template <typename F>
  bool forEachPiece(isa::ExtMem mem, uint64_t byteAddr, uint64_t bytes, std::string &error, F f) {
    uint64_t done = 0;
    while (done < bytes) {
      uint64_t addr = byteAddr + done;
      uint64_t n = bytes - done;
      if (mem == isa::ExtMem::Hbm)
        n = std::min(n, kHbmChannelBytes - addr % kHbmChannelBytes);
      uint64_t offset = 0;
      Buffer *b = locate(mem, addr, n, offset, error);
      if (!b)
        return false;
      try {
        f(*b, offset, done, n);
      } catch (const std::exception &e) {
        error = where() + ": " + e.what();
        return false;
      }
      done += n;
    }
    return true;
  }
};

XrtDevice::XrtDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
XrtDevice::~XrtDevice() {
  // A run in flight must finish before its buffers go away.
  if (impl_ && impl_->running) {
    try {
      impl_->run.wait();
    } catch (...) {
    }
  }
}

std::unique_ptr<XrtDevice> XrtDevice::open(const std::string &path, unsigned index,
                                           std::string &error) {
  auto d = std::make_unique<Impl>();
  d->path = path;
  d->index = index;
  d->argHbm.fill(-1);

  // The xclbin: readable, parsed by XRT, with our kernel and its arguments.
  if (!checkXclbinFile(path, error))
    return nullptr;
  try {
    d->xclbin = xrt::xclbin(path);
  } catch (const std::exception &e) {
    error = path + ": XRT cannot read the xclbin: " + e.what();
    return nullptr;
  }
  xrt::xclbin::kernel xk;
  std::vector<std::string> kernelNames;
  try {
    for (const auto &m : d->xclbin.get_mems())
      d->mems[m.get_index()] = {m.get_tag(), m.get_used() ? m.get_size_kb() : 0};
    for (const auto &k : d->xclbin.get_kernels()) {
      kernelNames.push_back(k.get_name());
      if (k.get_name() == kernel::kName)
        xk = k;
    }
  } catch (const std::exception &e) {
    error = path + ": XRT cannot read the xclbin's metadata: " + e.what();
    return nullptr;
  }
  if (!xk) {
    std::string have;
    for (const std::string &n : kernelNames)
      have += (have.empty() ? "" : ", ") + n;
    error = path + ": no kernel '" + kernel::kName + "' in the xclbin (it has " +
            (have.empty() ? std::string("no kernels") : "kernels: " + have) + ")";
    return nullptr;
  }

  // Arguments: Kernel.def's, in order, each Global one connected to its bank.
  std::vector<xrt::xclbin::arg> xargs = xk.get_args();
  if (xargs.size() != kernel::kNumArgs) {
    error = path + ": kernel " + kernel::kName + " has " + std::to_string(xargs.size()) +
            " arguments, Kernel.def says " + std::to_string(kernel::kNumArgs) +
            " (an xclbin of another version of the kernel?)";
    return nullptr;
  }
  for (unsigned i = 0; i < kernel::kNumArgs; ++i) {
    const kernel::Arg &ka = kernel::kArgs[i];
    const xrt::xclbin::arg &xa = xargs[i];
    ArgInfo info;
    info.index = i;
    info.name = xa.get_name();
    info.global = ka.kind == kernel::ArgKind::Global;
    info.offset = xa.get_offset();
    if (info.name != ka.name) {
      error = path + ": argument " + std::to_string(i) + " of " + kernel::kName + " is '" +
              info.name + "', Kernel.def says '" + ka.name +
              "' (an xclbin of another version of the kernel?)";
      return nullptr;
    }
    if (info.global) {
      std::vector<xrt::xclbin::mem> mems = xa.get_mems();
      bool inTopology = false;
      for (const auto &[idx, m] : d->mems)
        inTopology |= m.first == ka.bank && m.second > 0;
      if (!inTopology) {
        error = path + ": bank " + ka.bank + " (argument " + ka.name +
                ") is missing from the xclbin's memory topology";
        return nullptr;
      }
      if (mems.empty()) {
        error = path + ": argument " + ka.name + " of " + kernel::kName +
                " is not connected to any memory bank (Kernel.def: " + ka.bank +
                "; link with hw/vitis/link.cfg)";
        return nullptr;
      }
      bool ok = false;
      std::string tags;
      for (const auto &m : mems) {
        ok |= m.get_tag() == ka.bank;
        tags += (tags.empty() ? "" : ", ") + m.get_tag();
      }
      if (!ok) {
        error = path + ": argument " + ka.name + " of " + kernel::kName + " is connected to " +
                tags + ", Kernel.def says " + ka.bank + " (link with hw/vitis/link.cfg)";
        return nullptr;
      }
      info.bank = ka.bank;
    }
    if (ka.name == std::string("instr"))
      d->argInstr = int(i);
    else if (ka.name == std::string("ddr"))
      d->argDdr = int(i);
    else if (ka.name == std::string("status"))
      d->argStatus = int(i);
    else if (int c = numbered(ka.name, "hbm"); c >= 0 && c < int(isa::kHbmChannels))
      d->argHbm[c] = int(i);
    else if (info.global) {
      error = std::string("Kernel.def: global argument '") + ka.name +
              "' unknown to the xrt device (runtime/device/xrt)";
      return nullptr;
    }
    d->args.push_back(info);
  }
  if (d->argInstr < 0 || d->argDdr < 0 || d->argStatus < 0 ||
      std::count(d->argHbm.begin(), d->argHbm.end(), -1) != 0) {
    error = "Kernel.def lacks instr, ddr, status or an hbm argument the xrt device needs";
    return nullptr;
  }

  // The device, the xclbin on it, the kernel.
  bool noop = false;
  if (!ensureShim(error, noop))
    return nullptr;
  d->noopShim = noop;
  try {
    d->device = xrt::device(index);
  } catch (const std::exception &e) {
    error = "no XRT device with index " + std::to_string(index) + ": " + e.what();
    return nullptr;
  }
  try {
    d->uuid = d->device.load_xclbin(d->xclbin);
  } catch (const std::exception &e) {
    error = path + ": cannot load the xclbin on " + d->where() + ": " + e.what();
    return nullptr;
  }
  try {
    d->kernel = xrt::kernel(d->device, d->uuid, kernel::kName);
    d->run = xrt::run(d->kernel);
  } catch (const std::exception &e) {
    error = path + ": cannot open kernel " + std::string(kernel::kName) + " on " + d->where() +
            ": " + e.what();
    return nullptr;
  }
  for (ArgInfo &a : d->args) {
    if (!a.global)
      continue;
    try {
      a.group = d->kernel.group_id(int(a.index));
    } catch (const std::exception &e) {
      error = path + ": argument " + a.name + ": no memory group: " + e.what();
      return nullptr;
    }
    if (a.group < 0) {
      error = path + ": argument " + a.name + " of " + kernel::kName +
              " has no memory group (not connected to " + a.bank + ")";
      return nullptr;
    }
    auto m = d->mems.find(a.group);
    if (m != d->mems.end() && m->second.first != a.bank) {
      error = path + ": argument " + a.name + " is in memory group " + std::to_string(a.group) +
              " (" + m->second.first + "), Kernel.def says " + a.bank;
      return nullptr;
    }
  }
  if (d->args[d->argInstr].group != d->args[d->argDdr].group) {
    error = path + ": arguments instr and ddr must share a bank (programs live in the DDR "
                   "buffer), but are in groups " +
            std::to_string(d->args[d->argInstr].group) + " and " +
            std::to_string(d->args[d->argDdr].group);
    return nullptr;
  }
  // The status buffer exists from the start: every run needs it.
  if (!d->makeBuffer(d->status, kPlaceholderBytes, d->argStatus, "the status words", error))
    return nullptr;
  return std::unique_ptr<XrtDevice>(new XrtDevice(std::move(d)));
}

bool XrtDevice::allocate(Bank bank, uint64_t beats, std::string &error) {
  Impl &d = *impl_;
  if (d.running) {
    error = d.where() + ": cannot allocate while a run is in progress";
    return false;
  }
  if (beats == 0) {
    error = d.where() + ": allocation of 0 beats";
    return false;
  }
  uint64_t bytes = beats * isa::kBeatBytes;
  if (bank.mem == isa::ExtMem::Ddr) {
    const ArgInfo &a = d.args[d.argDdr];
    auto m = d.mems.find(a.group);
    if (m != d.mems.end() && bytes > (m->second.second << 10)) {
      error = d.where() + ": DDR: " + std::to_string(beats) + " beats exceed " + a.bank + " (" +
              std::to_string(m->second.second) + " KiB)";
      return false;
    }
    bool ok = d.grow(d.ddr, bytes, d.argDdr, "DDR", error);
    return ok;
  }
  if (bank.channel >= isa::kHbmChannels) {
    error = d.where() + ": no HBM channel " + std::to_string(bank.channel);
    return false;
  }
  if (beats > isa::kHbmChannelBeats) {
    error = d.where() + ": HBM channel " + std::to_string(bank.channel) + ": " +
            std::to_string(beats) + " beats exceed its 2^23";
    return false;
  }
  std::string what = "HBM channel " + std::to_string(bank.channel);
  return d.grow(d.hbm[bank.channel], bytes, d.argHbm[bank.channel], what.c_str(), error);
}

bool XrtDevice::write(isa::ExtMem mem, uint64_t byteAddr, const void *data, uint64_t bytes,
                      std::string &error) {
  Impl &d = *impl_;
  const auto *src = static_cast<const uint8_t *>(data);
  bool ok = d.forEachPiece(mem, byteAddr, bytes, error,
                           [&](Impl::Buffer &b, uint64_t off, uint64_t at, uint64_t n) {
                             std::memcpy(b.host + off, src + at, n);
                             b.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, n, off);
                           });
  if (ok)
    d.counters.bytesWritten += bytes;
  return ok;
}

bool XrtDevice::read(isa::ExtMem mem, uint64_t byteAddr, void *data, uint64_t bytes,
                     std::string &error) {
  Impl &d = *impl_;
  auto *dst = static_cast<uint8_t *>(data);
  bool ok = d.forEachPiece(mem, byteAddr, bytes, error,
                           [&](Impl::Buffer &b, uint64_t off, uint64_t at, uint64_t n) {
                             b.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, n, off);
                             std::memcpy(dst + at, b.host + off, n);
                           });
  if (ok)
    d.counters.bytesRead += bytes;
  return ok;
}

bool XrtDevice::loadProgram(const std::string &name, const std::vector<isa::Instruction> &code,
                            uint64_t ddrBeat, std::string &error) {
  Impl &d = *impl_;
  if (code.empty()) {
    error = "program '" + name + "' is empty";
    return false;
  }
  if (code.size() > UINT32_MAX) {
    error = "program '" + name + "': more instructions than the 32-bit count holds";
    return false;
  }
  std::vector<uint8_t> words(code.size() * isa::kInstrBytes);
  for (size_t i = 0; i < code.size(); ++i) {
    isa::DecodeResult r = isa::validate(code[i]);
    if (!r) {
      error = "program '" + name + "': instruction " + std::to_string(i) + ": " +
              isa::describe(r, isa::lookup(uint32_t(code[i].opcode)));
      return false;
    }
    isa::Word w = isa::encode(code[i]);
    for (unsigned k = 0; k < isa::kInstrBytes; ++k)
      words[i * isa::kInstrBytes + k] = uint8_t(w[k / 8] >> (8 * (k % 8)));
  }
  if (!write(isa::ExtMem::Ddr, ddrBeat * isa::kBeatBytes, words.data(), words.size(), error)) {
    error = "program '" + name + "' at DDR beat " + std::to_string(ddrBeat) + ": " + error;
    return false;
  }
  d.programs[name] = {ddrBeat, code.size()};
  return true;
}

bool XrtDevice::start(const std::string &name, const Registers &regs, std::string &error) {
  Impl &d = *impl_;
  if (d.running) {
    error = d.where() + ": program '" + d.runningProgram + "' is still running (wait first)";
    return false;
  }
  auto p = d.programs.find(name);
  if (p == d.programs.end()) {
    error = d.where() + ": no program '" + name + "' loaded";
    return false;
  }
  const Impl::Program &prog = p->second;
  uint64_t offset = prog.beat * isa::kBeatBytes, bytes = prog.count * isa::kInstrBytes;
  if (!d.ddr.host || offset + bytes > d.ddr.bytes) {
    error = d.where() + ": program '" + name + "' lies outside the DDR buffer (reallocated?)";
    return false;
  }
  // Every pointer argument needs a buffer: HBM channels the package does
  // not use get a small placeholder in their bank.
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    if (!d.hbm[c].host) {
      std::string what = "HBM channel " + std::to_string(c) + " (unused)";
      if (!d.makeBuffer(d.hbm[c], kPlaceholderBytes, d.argHbm[c], what.c_str(), error))
        return false;
      d.hbm[c].placeholder = true;
    }
  try {
    // The status words start as kStatusUnwritten; the kernel overwrites them.
    std::memcpy(d.status.host, kStatusUnwritten.data(), sizeof kStatusUnwritten);
    d.status.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, sizeof kStatusUnwritten, 0);

    xrt::bo instr(d.ddr.bo, bytes, offset);
    d.lastInstrAddress = instr.address();
    for (const ArgInfo &a : d.args) {
      int i = int(a.index);
      if (i == d.argInstr)
        d.run.set_arg(i, instr);
      else if (i == d.argDdr)
        d.run.set_arg(i, d.ddr.bo);
      else if (i == d.argStatus)
        d.run.set_arg(i, d.status.bo);
      else if (int c = numbered(a.name, "hbm"); c >= 0 && a.global)
        d.run.set_arg(i, d.hbm[c].bo);
      else if (a.name == "count")
        d.run.set_arg(i, uint32_t(prog.count));
      else if (int r = numbered(a.name, "r"); r >= 1 && r < int(isa::kNumRegs))
        d.run.set_arg(i, uint32_t(regs[r]));
      else {
        error = "Kernel.def: argument '" + a.name + "' unknown to the xrt device";
        return false;
      }
    }
    d.run.start();
    // The start command as XRT built it: header, CU mask(s), register map.
    d.lastRegisterMap.clear();
    if (const ert_packet *pkt = d.run.get_ert_packet()) {
      auto *cmd = reinterpret_cast<const ert_start_kernel_cmd *>(pkt);
      uint32_t skip = 1 + cmd->extra_cu_masks; // cu_mask + extra masks
      if (cmd->count > skip)
        d.lastRegisterMap.assign(&cmd->data[cmd->extra_cu_masks],
                                 &cmd->data[cmd->extra_cu_masks] + (cmd->count - skip));
    }
  } catch (const std::exception &e) {
    error = d.where() + ": cannot start program '" + name + "': " + e.what();
    return false;
  }
  d.running = true;
  d.runningProgram = name;
  d.runningCount = uint32_t(prog.count);
  return true;
}

bool XrtDevice::wait(RunStatus &status, std::string &error) {
  Impl &d = *impl_;
  status = RunStatus{};
  if (!d.running) {
    error = d.where() + ": no run to wait for";
    return false;
  }
  d.running = false;
  ert_cmd_state state;
  std::array<uint32_t, kernel::kStatusWords> w{};
  try {
    state = d.run.wait();
    if (state == ERT_CMD_STATE_COMPLETED) {
      d.status.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sizeof w, 0);
      std::memcpy(w.data(), d.status.host, sizeof w);
    }
  } catch (const std::exception &e) {
    error = d.where() + ": waiting for program '" + d.runningProgram + "': " + e.what();
    return false;
  }
  ++d.counters.runs;
  if (state != ERT_CMD_STATE_COMPLETED) {
    error = d.where() + ": the run of program '" + d.runningProgram + "' ended in state " +
            stateName(state) + " (" + std::to_string(int(state)) + ")";
    return false;
  }
  uint32_t bits = w[kernel::kStatusBits];
  if (w == kStatusUnwritten && d.noopShim) {
    // XRT's no-op shim completes every run without running a kernel: the
    // whole host path works, nothing is computed (see onNoopShim()).
    status.message = "no-op shim: nothing ran";
    return true;
  }
  if (w == kStatusUnwritten) {
    error = d.where() + ": " + kernel::kInstance + " completed program '" + d.runningProgram +
            "' without writing its status words (still the values start() wrote: no kernel "
            "ran, e.g. under XRT's no-op shim)";
    return false;
  }
  if (!(bits & (isa::ctrl::kStatusDone | isa::ctrl::kStatusFault))) {
    error = d.where() + ": " + kernel::kInstance + " completed program '" + d.runningProgram +
            "' with status bits " + std::to_string(bits) + " (neither done nor fault)";
    return false;
  }
  status.executed = w[kernel::kStatusExecuted];
  d.counters.instructions += status.executed;
  if (bits & isa::ctrl::kStatusFault) {
    uint32_t code = w[kernel::kStatusFault];
    const char *what = faultName(code);
    if (!what || code == 0) {
      error = d.where() + ": the kernel reported a fault with an unknown code " +
              std::to_string(code);
      return false;
    }
    status.fault = isa::Fault(code);
    status.faultIndex = w[kernel::kStatusIndex];
    status.message = std::string("fault: ") + what + " at instruction " +
                     std::to_string(status.faultIndex) + " of program '" + d.runningProgram +
                     "'";
  }
  return true;
}

DeviceCounters XrtDevice::counters() const { return impl_->counters; }

std::string XrtDevice::xclbinUuid() const { return impl_->uuid.to_string(); }

const std::vector<XrtDevice::ArgInfo> &XrtDevice::arguments() const { return impl_->args; }

XrtDevice::BufferInfo XrtDevice::buffer(Bank bank) const {
  const Impl::Buffer *b = bank.mem == isa::ExtMem::Ddr ? &impl_->ddr
                          : bank.channel < isa::kHbmChannels ? &impl_->hbm[bank.channel]
                                                             : nullptr;
  BufferInfo info;
  if (!b || !b->host)
    return info;
  info.allocated = !b->placeholder;
  info.group = b->group;
  info.bytes = b->bytes;
  info.address = b->bo.address();
  return info;
}

XrtDevice::BufferInfo XrtDevice::statusBuffer() const {
  const Impl::Buffer &b = impl_->status;
  return {true, b.group, b.bytes, b.bo.address()};
}

std::vector<uint32_t> XrtDevice::lastRegisterMap() const { return impl_->lastRegisterMap; }

uint64_t XrtDevice::lastInstrAddress() const { return impl_->lastInstrAddress; }

std::array<uint32_t, kernel::kStatusWords> XrtDevice::statusWords() const {
  std::array<uint32_t, kernel::kStatusWords> w{};
  std::memcpy(w.data(), impl_->status.host, sizeof w);
  return w;
}

bool XrtDevice::writeStatusWords(const std::array<uint32_t, kernel::kStatusWords> &words,
                                 std::string &error) {
  try {
    std::memcpy(impl_->status.host, words.data(), sizeof words);
    impl_->status.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, sizeof words, 0);
  } catch (const std::exception &e) {
    error = impl_->where() + ": status buffer: " + e.what();
    return false;
  }
  return true;
}

std::unique_ptr<Device> openXrtDevice(const std::string &xclbinPath, unsigned index,
                                      std::string &error) {
  return XrtDevice::open(xclbinPath, index, error);
}

bool XrtDevice::onNoopShim() const { return impl_->noopShim; }

} // namespace edgellm::runtime
