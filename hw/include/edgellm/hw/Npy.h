//===- Npy.h - The .npy file header -----------------------------*- C++ -*-===//
//
// NumPy's .npy format 1.0 preamble (magic, version, header length, the
// header dict padded so the data starts 64-byte aligned), written by the
// tools that save tensors (edgellm-run --logits-out, the compiler's
// TensorIO).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_NPY_H
#define EDGELLM_HW_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace edgellm::hw {

/// The bytes before the data of a C-order array of type `descr` ("<f4",
/// "<i8", ...) and `shape`.
inline std::string npyPreamble(const std::string &descr, const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  s += shape.size() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + s + ", }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += char(dict.size() & 0xff);
  out += char(dict.size() >> 8);
  return out + dict;
}

} // namespace edgellm::hw

#endif // EDGELLM_HW_NPY_H
