//===- edgellm-xclbin.cpp - Writes the metadata-only xclbin ----------------===//
//
// edgellm-xclbin -o FILE.xclbin [--target=vcu128] [--print-xml]
//
// Writes an xclbin with the accelerator's metadata and no bitstream
// (hw/include/edgellm/hw/Xclbin.h): enough for XRT's no-op shim, so the
// runtime's `xrt` device runs its whole path without a board. A real board
// needs the xclbin v++ builds from hw/vitis (docs/hardware.md).
//
// Broken variants, for tests of the runtime's error messages:
//   --omit-bank=BANK      leave BANK (e.g. HBM[5]) out of MEM_TOPOLOGY
//   --unconnected=ARG     leave argument ARG (e.g. hbm5) out of CONNECTIVITY
//   --kernel-name=NAME    call the kernel NAME instead of edgellm_accel
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/Xclbin.h"

#include <cstdio>
#include <cstring>
#include <string>

using namespace edgellm::hw;

static void usage() {
  std::fprintf(stderr,
               "usage: edgellm-xclbin -o FILE.xclbin [--target=NAME|PATH] [--print-xml]\n"
               "       [--omit-bank=BANK]... [--unconnected=ARG]... [--kernel-name=NAME]\n"
               "  Writes a metadata-only xclbin of %s (no bitstream: for XRT's no-op shim).\n",
               kernel::kName);
}

static bool value(const char *arg, const char *option, std::string &out) {
  size_t n = std::strlen(option);
  if (std::strncmp(arg, option, n) != 0 || arg[n] != '=')
    return false;
  out = arg + n + 1;
  return true;
}

int main(int argc, char **argv) {
  std::string output, targetName = "vcu128", v;
  bool printXml = false;
  xclbin::Options options;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (std::strcmp(a, "-o") == 0 && i + 1 < argc)
      output = argv[++i];
    else if (value(a, "--target", v))
      targetName = v;
    else if (value(a, "--omit-bank", v))
      options.omitBanks.push_back(v);
    else if (value(a, "--unconnected", v))
      options.unconnectedArgs.push_back(v);
    else if (value(a, "--kernel-name", v))
      options.kernelName = v;
    else if (std::strcmp(a, "--print-xml") == 0)
      printXml = true;
    else if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0)
      return usage(), 0;
    else
      return std::fprintf(stderr, "edgellm-xclbin: unknown argument '%s'\n", a), usage(), 2;
  }
  if (output.empty() && !printXml)
    return usage(), 2;

  std::string error;
  auto target = loadTargetByName(targetName, error);
  if (!target) {
    std::fprintf(stderr, "edgellm-xclbin: error: %s\n", error.c_str());
    return 1;
  }
  if (printXml)
    std::fputs(xclbin::kernelMetadataXml(*target, options).c_str(), stdout);
  if (!output.empty() && !xclbin::writeXclbinFile(output, *target, options, error)) {
    std::fprintf(stderr, "edgellm-xclbin: error: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
