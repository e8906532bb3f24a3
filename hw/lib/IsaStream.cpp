//===- IsaStream.cpp - Instruction streams and their text form ------------===//

#include "edgellm/hw/IsaStream.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace edgellm::isa {

namespace {
void put16(std::vector<uint8_t> &out, size_t at, uint16_t v) {
  out[at] = uint8_t(v);
  out[at + 1] = uint8_t(v >> 8);
}
void put32(std::vector<uint8_t> &out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = uint8_t(v >> (8 * i));
}
uint32_t get32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}
uint16_t get16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

struct EnumValueName {
  FieldKind kind;
  const char *mnemonic;
  uint32_t value;
};
constexpr EnumValueName kEnumNames[] = {
#define EDGELLM_ISA_ENUM_VALUE(Enum, Id, mnemonic, value)                      \
  {FieldKind::Enum, #mnemonic, value},
#define EDGELLM_ISA_ENUMS(Name, doc, ...) __VA_ARGS__
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_ENUMS
#undef EDGELLM_ISA_ENUM_VALUE
};
} // namespace

bool writeStream(const std::vector<Instruction> &program,
                 std::vector<uint8_t> &out, std::string &error) {
  for (size_t i = 0; i < program.size(); ++i) {
    DecodeResult r = validate(program[i]);
    if (!r) {
      error = "instruction " + std::to_string(i) + ": " +
              describe(r, lookup(uint32_t(program[i].opcode)));
      return false;
    }
  }
  if (program.empty() || program.back().opcode != Opcode::End) {
    error = "the program does not end with 'end'";
    return false;
  }
  out.assign(kStreamHeaderBytes + program.size() * kInstrBytes, 0);
  put32(out, 0, kStreamMagic);
  put16(out, 4, kVersionMajor);
  put16(out, 6, kVersionMinor);
  put32(out, 8, uint32_t(program.size()));
  size_t at = kStreamHeaderBytes;
  for (const Instruction &inst : program) {
    Word w = encode(inst);
    for (unsigned i = 0; i < kInstrBytes; ++i)
      out[at + i] = uint8_t(w[i / 8] >> (8 * (i % 8)));
    at += kInstrBytes;
  }
  return true;
}

std::string describe(const DecodeResult &r, const InstrSpec *s) {
  switch (r.error) {
  case DecodeError::None:
    return "ok";
  case DecodeError::UnknownOpcode:
    return "unknown opcode " + hex(r.value);
  case DecodeError::BadCheck:
    return std::string("check byte mismatch in '") + (s ? s->mnemonic : "?") +
           "' (corrupt word)";
  case DecodeError::ReservedBits:
    return std::string("reserved bits set in '") + (s ? s->mnemonic : "?") +
           "' (corrupt word)";
  case DecodeError::BadDeps:
    return std::string("dependency flags not allowed on '") +
           (s ? s->mnemonic : "?") + "' (" + queueName(s ? s->queue : Queue::Dispatch) +
           " queue)";
  case DecodeError::Constraint:
    return std::string("invalid '") + (s ? s->mnemonic : "?") + "': " +
           (r.rule ? r.rule : "field constraint");
  case DecodeError::FieldRange: {
    if (!s || r.field < 0 || unsigned(r.field) >= s->numFields)
      return "value in an undefined field";
    const FieldSpec &f = s->fields[r.field];
    return std::string("field '") + f.name + "' of '" + s->mnemonic +
           "' is " + std::to_string(r.value) + ", outside [" +
           std::to_string(f.minValue) + ", " + std::to_string(f.maxValue) + "]";
  }
  }
  return "unknown error";
}

bool readStream(const uint8_t *data, size_t size,
                std::vector<Instruction> &program, std::string &error,
                StreamHeader *header) {
  program.clear();
  if (size < kStreamHeaderBytes) {
    error = "offset 0x0: stream is " + std::to_string(size) +
            " bytes, shorter than its 32-byte header";
    return false;
  }
  if (get32(data) != kStreamMagic) {
    error = "offset 0x0: bad magic " + hex(get32(data)) +
            " (not an EdgeLLM instruction stream)";
    return false;
  }
  uint16_t major = get16(data + 4), minor = get16(data + 6);
  if (major != kVersionMajor) {
    error = "offset 0x4: ISA version " + std::to_string(major) + "." +
            std::to_string(minor) + " is not supported (this build reads " +
            std::to_string(kVersionMajor) + ".x)";
    return false;
  }
  uint32_t count = get32(data + 8);
  if (header)
    *header = StreamHeader{major, minor, count};
  for (unsigned i = 12; i < kStreamHeaderBytes; ++i)
    if (data[i] != 0) {
      error = "offset " + hex(i) + ": reserved header byte is not zero";
      return false;
    }
  uint64_t expected = uint64_t(kStreamHeaderBytes) + uint64_t(count) * kInstrBytes;
  if (size != expected) {
    error = "offset " + hex(std::min<uint64_t>(size, expected)) +
            ": header announces " + std::to_string(count) +
            " instructions (" + std::to_string(expected) +
            " bytes) but the stream has " + std::to_string(size) + " bytes";
    return false;
  }
  program.reserve(count);
  for (uint32_t n = 0; n < count; ++n) {
    size_t at = kStreamHeaderBytes + size_t(n) * kInstrBytes;
    Word w{};
    for (unsigned i = 0; i < kInstrBytes; ++i)
      w[i / 8] |= uint64_t(data[at + i]) << (8 * (i % 8));
    Instruction inst;
    DecodeResult r = decode(w, inst);
    if (!r) {
      error = "offset " + hex(at) + " (instruction " + std::to_string(n) +
              "): " + describe(r, lookup(uint32_t(getBits(w, 0, kOpcodeBits))));
      program.clear();
      return false;
    }
    program.push_back(inst);
  }
  if (program.empty() || program.back().opcode != Opcode::End) {
    size_t at = kStreamHeaderBytes + (program.empty() ? 0 : (program.size() - 1) * kInstrBytes);
    error = "offset " + hex(at) + ": the program does not end with 'end'";
    program.clear();
    return false;
  }
  return true;
}

bool readStreamFile(const std::string &path, std::vector<Instruction> &program,
                    std::string &error, StreamHeader *header) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (!readStream(bytes.data(), bytes.size(), program, error, header)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

const char *queueName(Queue q) {
  switch (q) {
  case Queue::Dispatch:
    return "dispatch";
  case Queue::Load:
    return "load";
  case Queue::Compute:
    return "compute";
  case Queue::Store:
    return "store";
  }
  return "?";
}

const char *kindName(FieldKind k) {
  switch (k) {
  case FieldKind::Uint:
    return "uint";
  case FieldKind::Bool:
    return "bool";
  case FieldKind::Reg:
    return "reg";
  case FieldKind::F32:
    return "f32";
#define EDGELLM_ISA_ENUM_VALUE(Enum, Id, mnemonic, value)
#define EDGELLM_ISA_ENUMS(Name, doc, ...)                                      \
  case FieldKind::Name:                                                        \
    return #Name;
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_ENUMS
#undef EDGELLM_ISA_ENUM_VALUE
  }
  return "?";
}

const char *enumMnemonic(FieldKind k, uint32_t value) {
  for (const EnumValueName &e : kEnumNames)
    if (e.kind == k && e.value == value)
      return e.mnemonic;
  return nullptr;
}

std::vector<std::pair<std::string, uint32_t>> enumValues(FieldKind k) {
  std::vector<std::pair<std::string, uint32_t>> out;
  for (const EnumValueName &e : kEnumNames)
    if (e.kind == k)
      out.emplace_back(e.mnemonic, e.value);
  return out;
}

std::optional<uint32_t> enumFromMnemonic(FieldKind k, std::string_view name) {
  for (const EnumValueName &e : kEnumNames)
    if (e.kind == k && name == e.mnemonic)
      return e.value;
  return std::nullopt;
}

const InstrSpec *lookupMnemonic(std::string_view mnemonic) {
  for (const InstrSpec &s : kInstrTable)
    if (mnemonic == s.mnemonic)
      return &s;
  return nullptr;
}

std::string formatValue(const FieldSpec &f, uint32_t value) {
  switch (f.kind) {
  case FieldKind::Bool:
  case FieldKind::Uint: {
    // Addresses print in hex, counts in decimal.
    size_t n = std::strlen(f.name);
    bool isAddr = n >= 5 && std::strcmp(f.name + n - 5, "_addr") == 0;
    return isAddr ? hex(value) : std::to_string(value);
  }
  case FieldKind::Reg:
    return "r" + std::to_string(value);
  case FieldKind::F32: {
    float x = f32FromBits(value);
    if (!std::isfinite(x))
      return hex(value);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.9e", double(x));
    return buf;
  }
  default:
    if (const char *m = enumMnemonic(f.kind, value))
      return m;
    return std::to_string(value);
  }
}

std::string formatDeps(const Deps &d) {
  std::string s;
  auto add = [&](bool on, const char *name) {
    if (!on)
      return;
    s += s.empty() ? "[" : ", ";
    s += name;
  };
  add(d.waitPrev, "wait_prev");
  add(d.waitNext, "wait_next");
  add(d.signalPrev, "signal_prev");
  add(d.signalNext, "signal_next");
  if (!s.empty())
    s += "]";
  return s;
}

std::string formatInstruction(const Instruction &inst) {
  const InstrSpec &s = inst.spec();
  std::string line = s.mnemonic;
  std::string deps = formatDeps(inst.deps);
  if (!deps.empty())
    line += " " + deps;
  for (unsigned i = 0; i < s.numFields; ++i) {
    line += i == 0 ? " " : ", ";
    line += s.fields[i].name;
    line += "=";
    line += formatValue(s.fields[i], inst.values[i]);
  }
  return line;
}

} // namespace edgellm::isa
