//===- OnnxModel.h - Loading an ONNX model (protobuf side) ------*- C++ -*-===//
//
// The part of the frontend that talks to libonnx and protobuf. It is compiled
// with exceptions enabled (libonnx reports errors by throwing) and exposes a
// non-throwing interface to the MLIR importer, which is built without them.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_FRONTEND_ONNXMODEL_H
#define EDGELLM_COMPILER_FRONTEND_ONNXMODEL_H

#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgellm::frontend {

/// Lowest and highest default-domain opset the importer accepts.
inline constexpr int64_t kMinOpset = 9;
inline constexpr int64_t kMaxOpset = 17;

struct LoadedModel {
  onnx::ModelProto model;
  std::string path;   ///< as given
  std::string folder; ///< the model's folder (external data is relative to it)
  int64_t opset = 0;  ///< default-domain opset
  /// Symbolic values of shape tensors found by ONNX's data propagation
  /// (for example a Concat feeding a Reshape: [sequence, batch, 2, 8]).
  std::unordered_map<std::string, onnx::TensorShapeProto> shapeData;
};

/// Reads and parses the model, checks its opset, and runs ONNX shape
/// inference with data propagation (types of every value where ONNX can infer
/// them). On failure returns false with `error` saying what is wrong (the
/// caller names the file).
bool loadModel(const std::string &path, LoadedModel &out, std::string &error);

/// The little-endian bytes of a tensor's `numElements` elements of
/// `elementBytes` each (bool: 1), from raw_data or from the typed field the
/// data type uses (float_data, double_data, int64_data, uint64_data,
/// int32_data). Fails with `error` when the count or size does not match or
/// the data is external.
bool tensorProtoBytes(const onnx::TensorProto &t, int64_t numElements,
                      size_t elementBytes, std::vector<char> &out, std::string &error);

/// Parses a TensorProto file (.pb), as the ONNX backend test data stores
/// inputs and outputs.
bool loadTensorProto(const std::string &path, onnx::TensorProto &out,
                     std::string &error);

} // namespace edgellm::frontend

#endif // EDGELLM_COMPILER_FRONTEND_ONNXMODEL_H
