//===- TensorIO.cpp - .npy and ONNX TensorProto files ---------------------===//

#include "compiler/pipeline/TensorIO.h"
#include "compiler/frontend/OnnxModel.h"
#include "dialects/onnx/OnnxDialect.h"
#include "edgellm/hw/AtomicFile.h"
#include "edgellm/hw/Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

using namespace edgellm::pipeline;
namespace eo = edgellm::onnx;
namespace frontend = edgellm::frontend;
namespace pipeline = edgellm::pipeline;

namespace {
struct NpyType {
  const char *descr;
  eo::DataType type;
};
constexpr NpyType kNpyTypes[] = {
    {"<f4", eo::DataType::Float},  {"<f2", eo::DataType::Float16},
    {"<f8", eo::DataType::Double}, {"<i8", eo::DataType::Int64},
    {"<i4", eo::DataType::Int32},  {"<i2", eo::DataType::Int16},
    {"|i1", eo::DataType::Int8},   {"|u1", eo::DataType::Uint8},
    {"|b1", eo::DataType::Bool},   {"<u2", eo::DataType::Uint16},
    {"<u4", eo::DataType::Uint32}, {"<u8", eo::DataType::Uint64},
};

bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool readNpy(const std::string &path, HostTensor &out, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    error = path + ": not a .npy file";
    return false;
  }
  unsigned major = uint8_t(bytes[6]);
  size_t headerLen, at;
  if (major == 1) {
    headerLen = uint8_t(bytes[8]) | uint8_t(bytes[9]) << 8;
    at = 10;
  } else {
    if (bytes.size() < 12) {
      error = path + ": truncated .npy header";
      return false;
    }
    headerLen = uint32_t(uint8_t(bytes[8])) | uint32_t(uint8_t(bytes[9])) << 8 |
                uint32_t(uint8_t(bytes[10])) << 16 | uint32_t(uint8_t(bytes[11])) << 24;
    at = 12;
  }
  if (at + headerLen > bytes.size()) {
    error = path + ": truncated .npy header";
    return false;
  }
  std::string header = bytes.substr(at, headerLen);
  at += headerLen;
  auto field = [&](const char *key) -> std::string {
    size_t p = header.find(key);
    if (p == std::string::npos)
      return "";
    p = header.find(':', p);
    return p == std::string::npos ? "" : header.substr(p + 1);
  };
  std::string descr = field("'descr'");
  size_t q1 = descr.find('\''), q2 = descr.find('\'', q1 + 1);
  descr = q1 == std::string::npos ? "" : descr.substr(q1 + 1, q2 - q1 - 1);
  if (field("'fortran_order'").find("True") < field("'fortran_order'").find(',')) {
    error = path + ": Fortran-order arrays are not supported";
    return false;
  }
  out = HostTensor{};
  for (const NpyType &t : kNpyTypes)
    if (descr == t.descr)
      out.onnxType = int64_t(t.type);
  if (!out.onnxType) {
    error = path + ": unsupported dtype '" + descr + "'";
    return false;
  }
  std::string shape = field("'shape'");
  size_t l = shape.find('('), r = shape.find(')');
  if (l == std::string::npos || r == std::string::npos) {
    error = path + ": bad shape in header";
    return false;
  }
  std::stringstream ss(shape.substr(l + 1, r - l - 1));
  std::string item;
  uint64_t count = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos)
      continue;
    char *end = nullptr;
    errno = 0;
    long long d = std::strtoll(item.c_str(), &end, 10);
    while (end && *end == ' ')
      ++end;
    if (errno || !end || *end || d < 0 ||
        __builtin_mul_overflow(count, uint64_t(d), &count) || count > (uint64_t(1) << 40)) {
      error = path + ": bad shape '" + shape.substr(l, r - l + 1) + "' in the header";
      return false;
    }
    out.shape.push_back(d);
  }
  size_t need = size_t(count) * out.elementBytes();
  if (bytes.size() - at != need) {
    error = path + ": has " + std::to_string(bytes.size() - at) + " data bytes, expected " +
            std::to_string(need);
    return false;
  }
  out.data.assign(bytes.begin() + at, bytes.end());
  return true;
}

bool readPb(const std::string &path, HostTensor &out, std::string &error) {
  ::onnx::TensorProto t;
  if (!frontend::loadTensorProto(path, t, error))
    return false;
  out = HostTensor{};
  out.onnxType = t.data_type();
  out.shape.assign(t.dims().begin(), t.dims().end());
  uint64_t count = 1;
  for (int64_t d : out.shape)
    if (d < 0 || __builtin_mul_overflow(count, uint64_t(d), &count) || count > (uint64_t(1) << 40)) {
      error = path + ": invalid dimensions";
      return false;
    }
  if (out.onnxType == int64_t(eo::DataType::String) ||
      out.onnxType == int64_t(eo::DataType::Complex64) ||
      out.onnxType == int64_t(eo::DataType::Complex128)) {
    error = path + ": unsupported data type " + eo::dataTypeName(out.onnxType);
    return false;
  }
  if (!frontend::tensorProtoBytes(t, out.numElements(), out.elementBytes(), out.data, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}
} // namespace

bool pipeline::readTensorFile(const std::string &path, HostTensor &out, std::string &error) {
  if (endsWith(path, ".npy"))
    return readNpy(path, out, error);
  return readPb(path, out, error);
}

bool pipeline::writeNpy(const std::string &path, const HostTensor &t, std::string &error) {
  const char *descr = nullptr;
  for (const NpyType &n : kNpyTypes)
    if (int64_t(n.type) == t.onnxType)
      descr = n.descr;
  if (!descr) {
    error = path + ": cannot write " + eo::dataTypeName(t.onnxType) + " as .npy";
    return false;
  }
  const std::string pre = hw::npyPreamble(descr, std::vector<int64_t>(t.shape.begin(), t.shape.end()));
  return hw::writeFileAtomically(
      path,
      [&](std::ostream &out) {
        out << pre;
        out.write(t.data.data(), std::streamsize(t.data.size()));
        return true;
      },
      error);
}
