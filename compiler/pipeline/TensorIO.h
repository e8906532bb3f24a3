//===- TensorIO.h - .npy and ONNX TensorProto files -------------*- C++ -*-===//

#ifndef EDGELLM_COMPILER_PIPELINE_TENSORIO_H
#define EDGELLM_COMPILER_PIPELINE_TENSORIO_H

#include "compiler/pipeline/CpuPipeline.h"

#include <string>

namespace edgellm::pipeline {

/// Reads a .npy (little-endian, C order) or an ONNX TensorProto (.pb) file;
/// the format is chosen by the extension. Errors name the file.
bool readTensorFile(const std::string &path, HostTensor &out, std::string &error);
/// Writes a .npy file (written to a temporary name, then renamed).
bool writeNpy(const std::string &path, const HostTensor &t, std::string &error);

} // namespace edgellm::pipeline

#endif // EDGELLM_COMPILER_PIPELINE_TENSORIO_H
