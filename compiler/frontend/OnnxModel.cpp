//===- OnnxModel.cpp - Loading an ONNX model (protobuf side) --------------===//
//
// Compiled with -fexceptions: every libonnx call is wrapped so no exception
// leaves this file.
//
//===----------------------------------------------------------------------===//

#include "compiler/frontend/OnnxModel.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace edgellm::frontend {
namespace {

/// Reads a whole file through mmap; protobuf parses from the mapping.
template <typename Proto>
bool parseFile(const std::string &path, Proto &proto, std::string &error,
               const char *what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return false;
  }
  if (st.st_size == 0) {
    ::close(fd);
    error = std::string("empty file, not ") + what;
    return false;
  }
  void *data = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (data == MAP_FAILED) {
    error = std::string("cannot map: ") + std::strerror(errno);
    return false;
  }
  bool ok = false;
  try {
    ok = proto.ParseFromArray(data, int(std::min<off_t>(st.st_size, INT32_MAX)));
    if (st.st_size > INT32_MAX)
      ok = false;
  } catch (...) {
    ok = false;
  }
  ::munmap(data, size_t(st.st_size));
  if (!ok)
    error = std::string("not ") + what + " (truncated or invalid protobuf, " +
            std::to_string(st.st_size) + " bytes)";
  return ok;
}

} // namespace

bool loadModel(const std::string &path, LoadedModel &out, std::string &error) {
  out.path = path;
  out.folder = std::filesystem::path(path).parent_path().string();
  if (out.folder.empty())
    out.folder = ".";
  if (!parseFile(path, out.model, error, "an ONNX model"))
    return false;
  if (!out.model.has_graph()) {
    error = "the model has no graph";
    return false;
  }
  out.opset = -1;
  for (const auto &o : out.model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      out.opset = o.version();
  if (out.opset < 0) {
    error = "no opset for the default ONNX domain";
    return false;
  }
  if (out.opset < kMinOpset || out.opset > kMaxOpset) {
    error = "unsupported opset " + std::to_string(out.opset) +
            " (EdgeLLM imports opsets " + std::to_string(kMinOpset) + "-" +
            std::to_string(kMaxOpset) + ")";
    return false;
  }
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/false, /*error_mode=*/0,
                                        /*data_prop=*/true);
    std::unordered_map<std::string, onnx::TensorShapeProto> data;
    onnx::shape_inference::InferShapes(out.model, onnx::OpSchemaRegistry::Instance(),
                                       options, &data);
    out.shapeData = std::move(data);
  } catch (const std::exception &e) {
    // Inference problems are reported precisely by the importer's verifiers;
    // ONNX's own message is kept when it is the only one.
    error = std::string("ONNX shape inference failed: ") + e.what();
    return false;
  }
  return true;
}

bool tensorProtoBytes(const onnx::TensorProto &t, int64_t n, size_t eb,
                      std::vector<char> &out, std::string &error) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    error = "data is external";
    return false;
  }
  if (n < 0 || n > (int64_t(1) << 40)) {
    error = "has an invalid element count";
    return false;
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != size_t(n) * eb) {
      error = "raw_data has " + std::to_string(t.raw_data().size()) + " bytes, expected " +
              std::to_string(size_t(n) * eb);
      return false;
    }
    out.assign(t.raw_data().begin(), t.raw_data().end());
    return true;
  }
  auto fill = [&](int64_t have, auto get) {
    if (have != n) {
      error = "has " + std::to_string(have) + " values, expected " + std::to_string(n);
      return false;
    }
    out.assign(size_t(n) * eb, 0);
    for (int64_t i = 0; i < n; ++i) {
      auto v = get(i);
      std::memcpy(out.data() + i * eb, &v, std::min(eb, sizeof v));
    }
    return true;
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    return fill(t.float_data_size(), [&](int64_t i) { return t.float_data(int(i)); });
  case onnx::TensorProto::DOUBLE:
    return fill(t.double_data_size(), [&](int64_t i) { return t.double_data(int(i)); });
  case onnx::TensorProto::INT64:
    return fill(t.int64_data_size(), [&](int64_t i) { return t.int64_data(int(i)); });
  case onnx::TensorProto::UINT32:
  case onnx::TensorProto::UINT64:
    return fill(t.uint64_data_size(), [&](int64_t i) { return t.uint64_data(int(i)); });
  default: // int32_data carries int32, int16, int8, uint16, uint8, bool, fp16 bits
    return fill(t.int32_data_size(),
                [&](int64_t i) { return uint64_t(int64_t(t.int32_data(int(i)))); });
  }
}

bool loadTensorProto(const std::string &path, onnx::TensorProto &out,
                     std::string &error) {
  if (parseFile(path, out, error, "an ONNX TensorProto"))
    return true;
  error = path + ": " + error;
  return false;
}

} // namespace edgellm::frontend
