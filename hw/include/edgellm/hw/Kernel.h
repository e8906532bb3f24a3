//===- Kernel.h - The accelerator kernel's signature ------------*- C++ -*-===//
//
// A constexpr table of the kernel's arguments, from Kernel.def.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_KERNEL_H
#define EDGELLM_HW_KERNEL_H

#include <array>
#include <cstdint>
#include <string_view>

namespace edgellm::hw::kernel {

inline constexpr const char *kName = "edgellm_accel";
inline constexpr const char *kInstance = "edgellm_accel_1";

enum class ArgKind { Global, Scalar32 };

struct Arg {
  const char *name;
  ArgKind kind;
  const char *bank; ///< "DDR[0]", "HBM[i]", or "" for scalars
};

inline constexpr Arg kArgs[] = {
#define EDGELLM_KERNEL_ARG(name, kind, bank) {#name, ArgKind::kind, bank},
#include "edgellm/hw/Kernel.def"
#undef EDGELLM_KERNEL_ARG
};
inline constexpr unsigned kNumArgs = sizeof(kArgs) / sizeof(kArgs[0]);

/// Index of an argument by name, or -1.
constexpr int argIndex(std::string_view name) {
  for (unsigned i = 0; i < kNumArgs; ++i)
    if (name == kArgs[i].name)
      return int(i);
  return -1;
}

/// The status words the kernel writes at `status` when it stops: the status
/// bits of docs/isa.md section 7 (done, fault), the fault code, the faulting
/// instruction's index, the instructions fetched, then R1-R15 as the run
/// left them.
enum StatusWord : unsigned {
  kStatusBits = 0,
  kStatusFault = 1,
  kStatusIndex = 2,
  kStatusExecuted = 3,
  kStatusRegs = 4, ///< R1 at kStatusRegs, ..., R15 at kStatusRegs + 14
};
inline constexpr unsigned kStatusWords = kStatusRegs + 15;

} // namespace edgellm::hw::kernel

#endif // EDGELLM_HW_KERNEL_H
