//===- TokenScheduler.h - Dependency tokens for instruction streams -*- C++ -*-===//
//
// Makes a program well-formed (docs/isa.md, section 5): wherever two
// instructions of different queues touch overlapping memory and one of them
// writes, it orders them with the fewest dependency tokens the in-order
// queues allow (a relaying `sync` between the load and store queues), and
// nothing else, so loads run ahead of compute as far as their buffers allow
// (double buffering falls out of the WBUF slots the lowering alternates).
// Plain C++ on the ISA definition.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_TARGET_TOKENSCHEDULER_H
#define EDGELLM_COMPILER_TARGET_TOKENSCHEDULER_H

#include "edgellm/hw/Isa.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace edgellm::target {

/// The largest value each runtime register takes while the program runs (the
/// runtime's contract: e.g. R3 <= the program's token capacity). Dynamic
/// fields range over [x, x + regMax[x_reg]].
using RegisterBounds = std::array<uint32_t, isa::kNumRegs>;

struct ScheduleStats {
  unsigned tokens = 0;   ///< wait/signal pairs
  unsigned relays = 0;   ///< syncs inserted between the load and store queues
};

/// Returns `program` with dependency flags set (existing flags are cleared)
/// and relay syncs inserted. Dispatch instructions stay where they are; a
/// `barrier` orders everything before it. Fails (with `error`) only on an
/// instruction whose access cannot be bounded. `indexMap`, when given, gets
/// each input instruction's index in `out`.
bool insertTokens(const std::vector<isa::Instruction> &program, const RegisterBounds &regMax,
                  std::vector<isa::Instruction> &out, std::string &error,
                  ScheduleStats *stats = nullptr, std::vector<uint32_t> *indexMap = nullptr);

/// Lets weight tiles stream while the load queue would otherwise stand still.
/// The load queue runs in order, so a load that must wait for a compute
/// instruction placed after the previous load (a K/V load into the KBUF slot
/// the previous group's attention still reads) holds back every load behind
/// it, and HBM idles through that attention. This moves up to `maxHoist` of
/// the weight-tile loads (HBM to WBUF) that follow such a load to just before
/// it, when no instruction they pass touches their memory and no dispatch
/// instruction (regop, barrier) lies between. `order` gets, for each
/// instruction of the result, its index in `program`. Returns the tiles moved.
unsigned hoistWeightLoads(std::vector<isa::Instruction> &program, const RegisterBounds &regMax,
                          unsigned maxHoist, std::vector<uint32_t> &order, std::string &error);

/// Checks that every FIFO's signals and waits balance (what `end` requires).
bool tokensBalanced(const std::vector<isa::Instruction> &program, std::string &error);

} // namespace edgellm::target

#endif // EDGELLM_COMPILER_TARGET_TOKENSCHEDULER_H
