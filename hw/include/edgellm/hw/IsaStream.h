//===- IsaStream.h - Instruction streams and their text form ----*- C++ -*-===//
//
// The binary container of a program (a 32-byte header followed by 32-byte
// instructions), its checked reader and writer, and the names used to print
// instructions. Host-side only (uses the standard library).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_ISASTREAM_H
#define EDGELLM_HW_ISASTREAM_H

#include "edgellm/hw/Isa.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgellm::isa {

/// "ELMI" little-endian.
inline constexpr uint32_t kStreamMagic = 0x494d4c45u;
inline constexpr unsigned kStreamHeaderBytes = 32;

/// Stream header: magic u32, version major u16, minor u16, instruction count
/// u32, then 20 reserved zero bytes.
struct StreamHeader {
  uint16_t versionMajor = kVersionMajor;
  uint16_t versionMinor = kVersionMinor;
  uint32_t count = 0;
};

/// Serialises a program. Fails (naming the instruction) unless every
/// instruction validates and the last one is `end`.
bool writeStream(const std::vector<Instruction> &program,
                 std::vector<uint8_t> &out, std::string &error);

/// Parses and checks a whole stream: header, every word, and that the program
/// ends with `end`. On failure returns false and sets `error` to a message
/// naming the byte offset at fault.
bool readStream(const uint8_t *data, size_t size,
                std::vector<Instruction> &program, std::string &error,
                StreamHeader *header = nullptr);

/// Loads a stream file; errors name the file and the offset.
bool readStreamFile(const std::string &path, std::vector<Instruction> &program,
                    std::string &error, StreamHeader *header = nullptr);

/// Human-readable reason for a decode error.
std::string describe(const DecodeResult &r, const InstrSpec *spec);

/// Names.
const char *queueName(Queue q);
const char *kindName(FieldKind k);
/// Mnemonic of an enumeration value, or nullptr if the kind is not an
/// enumeration or the value is out of range.
const char *enumMnemonic(FieldKind k, uint32_t value);
/// All mnemonics of an enumeration kind (empty for other kinds).
std::vector<std::pair<std::string, uint32_t>> enumValues(FieldKind k);
std::optional<uint32_t> enumFromMnemonic(FieldKind k, std::string_view name);
const InstrSpec *lookupMnemonic(std::string_view mnemonic);

/// Text of one field value: enum mnemonic, register "rN", float for F32
/// (exactly round-tripping), decimal or hex for integers.
std::string formatValue(const FieldSpec &f, uint32_t value);
/// Text of the dependency flags, e.g. "[wait_prev, signal_next]" or "".
std::string formatDeps(const Deps &d);
/// One line: mnemonic, flags and every field as name=value.
std::string formatInstruction(const Instruction &inst);

} // namespace edgellm::isa

#endif // EDGELLM_HW_ISASTREAM_H
