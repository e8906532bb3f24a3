//===- AtomicFile.h - Writing a file all or nothing -------------*- C++ -*-===//
//
// Every output file of the tools (traces, logits, tensors, xclbins) is
// written to PATH.tmp and renamed into place, so a reader never sees a
// half-written file and a failure leaves nothing behind.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_ATOMICFILE_H
#define EDGELLM_HW_ATOMICFILE_H

#include <functional>
#include <ostream>
#include <string>

namespace edgellm::hw {

/// Writes `path` with `fill` (binary stream to PATH.tmp, then renamed). On
/// failure returns false with `error` naming the file ("PATH.tmp: cannot
/// write: REASON" or "PATH: cannot rename PATH.tmp to it") and removes the
/// temporary file. `fill` may return false (its own `error` set) to abandon.
bool writeFileAtomically(const std::string &path, const std::function<bool(std::ostream &)> &fill,
                         std::string &error);

} // namespace edgellm::hw

#endif // EDGELLM_HW_ATOMICFILE_H
