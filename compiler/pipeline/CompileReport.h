//===- CompileReport.h - What edgellm-compile tells the user -----*- C++ -*-===//
//
// The compile report of a package: placement (FPGA ops, host ops with their
// cost), weight bytes per layer and per HBM pseudo-channel, instruction
// counts per program, and the predicted time per token from the target's
// timing model (hw/Timing.h). As JSON (report.json in the package,
// --report=FILE) and as text.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_PIPELINE_COMPILEREPORT_H
#define EDGELLM_COMPILER_PIPELINE_COMPILEREPORT_H

#include "compiler/target/DevicePlan.h"

#include <string>

namespace edgellm::pipeline {

struct CompileReport {
  std::string json, text;
};

CompileReport buildReport(const target::DevicePlan &plan, const hw::TargetDesc &target);

} // namespace edgellm::pipeline

#endif // EDGELLM_COMPILER_PIPELINE_COMPILEREPORT_H
