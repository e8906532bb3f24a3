//===- edgellm-objdump.cpp - Disassembles an instruction stream ------------===//
//
// edgellm-objdump [--raw] FILE...
//
// Prints the stream header, then one instruction a line: byte offset, index,
// queue, mnemonic, dependency flags and every field by name. --raw adds the
// four 64-bit words. A bad stream is reported with the offset at fault and a
// non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/IsaStream.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace edgellm::isa;

static void usage() {
  std::fprintf(stderr, "usage: edgellm-objdump [--raw] FILE...\n"
                       "  Disassembles EdgeLLM instruction streams (ISA %u.%u).\n",
               kVersionMajor, kVersionMinor);
}

int main(int argc, char **argv) {
  bool raw = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--raw") == 0)
      raw = true;
    else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0)
      return usage(), 0;
    else if (argv[i][0] == '-' && argv[i][1] != 0)
      return std::fprintf(stderr, "edgellm-objdump: unknown option '%s'\n", argv[i]),
             usage(), 2;
    else
      files.push_back(argv[i]);
  }
  if (files.empty())
    return usage(), 2;

  int status = 0;
  for (const std::string &file : files) {
    std::vector<Instruction> program;
    std::string error;
    StreamHeader header;
    if (!readStreamFile(file, program, error, &header)) {
      std::fprintf(stderr, "edgellm-objdump: error: %s\n", error.c_str());
      status = 1;
      continue;
    }
    std::printf("%s: EdgeLLM instruction stream, ISA %u.%u, %zu instructions\n",
                file.c_str(), unsigned(header.versionMajor),
                unsigned(header.versionMinor), program.size());
    for (size_t i = 0; i < program.size(); ++i) {
      const Instruction &inst = program[i];
      std::printf("%08zx %5zu  %-8s %s\n", kStreamHeaderBytes + i * kInstrBytes, i,
                  queueName(inst.spec().queue), formatInstruction(inst).c_str());
      if (raw) {
        Word w = encode(inst);
        std::printf("                %016" PRIx64 " %016" PRIx64 " %016" PRIx64
                    " %016" PRIx64 "\n",
                    w[3], w[2], w[1], w[0]);
      }
    }
  }
  return status;
}
