//===- EisaDialect.cpp - The eisa dialect ----------------------------------===//
//
// Parsing, printing and verification of every instruction op are generic:
// they walk the op's entry in the ISA table (Isa.def).
//
//===----------------------------------------------------------------------===//

#include "dialects/eisa/EisaDialect.h"
#include "edgellm/hw/IsaStream.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace edgellm;
using namespace edgellm::eisa;

#include "dialects/eisa/EisaOpsDialect.cpp.inc"

void EisaDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/eisa/EisaOps.cpp.inc"
      >();
}

void ProgramOp::build(OpBuilder &b, OperationState &state, StringRef name) {
  state.addAttribute(SymbolTable::getSymbolAttrName(), b.getStringAttr(name));
  state.addRegion()->emplaceBlock();
}

//===----------------------------------------------------------------------===//
// Generic instruction handling
//===----------------------------------------------------------------------===//

static constexpr const char *kFlagNames[] = {"wait_prev", "wait_next",
                                             "signal_prev", "signal_next"};

const isa::InstrSpec *eisa::getInstrSpec(Operation *op) {
  if (op->getDialect() == nullptr ||
      op->getDialect()->getNamespace() != EisaDialect::getDialectNamespace())
    return nullptr;
  return isa::lookupMnemonic(op->getName().stripDialect().str());
}

static isa::Deps readDeps(Operation *op) {
  isa::Deps d;
  d.waitPrev = op->hasAttr("wait_prev");
  d.waitNext = op->hasAttr("wait_next");
  d.signalPrev = op->hasAttr("signal_prev");
  d.signalNext = op->hasAttr("signal_next");
  return d;
}

static LogicalResult verifyInstruction(Operation *op, const isa::InstrSpec &s) {
  isa::Deps d = readDeps(op);
  if (!isa::depsAllowed(s.queue, d)) {
    bool prev = d.waitPrev || d.signalPrev, next = d.waitNext || d.signalNext;
    if (s.queue == isa::Queue::Dispatch)
      return op->emitOpError("executes in the dispatch unit and takes no "
                             "dependency flags");
    if (s.queue == isa::Queue::Load && prev)
      return op->emitOpError("is in the load queue, which has no previous "
                             "queue: wait_prev/signal_prev are not allowed");
    if (s.queue == isa::Queue::Store && next)
      return op->emitOpError("is in the store queue, which has no next "
                             "queue: wait_next/signal_next are not allowed");
  }
  for (unsigned i = 0; i < s.numFields; ++i) {
    const isa::FieldSpec &f = s.fields[i];
    auto attr = op->getAttrOfType<IntegerAttr>(f.name);
    if (!attr)
      return op->emitOpError("requires field '") << f.name << "'";
    int64_t v = attr.getValue().getSExtValue();
    if (v < int64_t(f.minValue) || v > int64_t(f.maxValue))
      return op->emitOpError("field '")
             << f.name << "' is " << v << ", outside [" << f.minValue << ", "
             << f.maxValue << "] (" << f.bits << "-bit " << isa::kindName(f.kind)
             << " field)";
  }
  uint32_t values[isa::kMaxFields] = {};
  for (unsigned i = 0; i < s.numFields; ++i)
    values[i] = uint32_t(op->getAttrOfType<IntegerAttr>(s.fields[i].name).getInt());
  if (const char *rule = isa::checkConstraints(s.opcode, values))
    return op->emitOpError() << rule;
  return success();
}

FailureOr<isa::Instruction> eisa::toInstruction(Operation *op) {
  const isa::InstrSpec *s = getInstrSpec(op);
  if (!s)
    return op->emitOpError("is not an eisa instruction");
  if (failed(verifyInstruction(op, *s)))
    return failure();
  isa::Instruction inst;
  inst.opcode = s->opcode;
  inst.deps = readDeps(op);
  for (unsigned i = 0; i < s->numFields; ++i)
    inst.values[i] =
        uint32_t(op->getAttrOfType<IntegerAttr>(s->fields[i].name).getInt());
  return inst;
}

Operation *eisa::createInstruction(OpBuilder &b, Location loc,
                                   const isa::Instruction &inst) {
  const isa::InstrSpec &s = inst.spec();
  OperationState state(loc, std::string("eisa.") + s.mnemonic);
  const bool flags[] = {inst.deps.waitPrev, inst.deps.waitNext,
                        inst.deps.signalPrev, inst.deps.signalNext};
  for (unsigned i = 0; i < 4; ++i)
    if (flags[i])
      state.addAttribute(kFlagNames[i], b.getUnitAttr());
  for (unsigned i = 0; i < s.numFields; ++i)
    state.addAttribute(s.fields[i].name, b.getI64IntegerAttr(inst.values[i]));
  return b.create(state);
}

static ParseResult parseFieldValue(OpAsmParser &p, const isa::FieldSpec &f,
                                   int64_t &value) {
  SMLoc loc = p.getCurrentLocation();
  switch (f.kind) {
  case isa::FieldKind::Uint:
  case isa::FieldKind::Bool: {
    APInt v;
    if (p.parseInteger(v))
      return failure();
    if (v.getSignificantBits() > 64)
      return p.emitError(loc, "value of field '") << f.name << "' is too large";
    value = v.getSExtValue();
    return success();
  }
  case isa::FieldKind::Reg: {
    StringRef kw;
    unsigned r;
    if (failed(p.parseOptionalKeyword(&kw)) || !kw.consume_front("r") ||
        kw.getAsInteger(10, r))
      return p.emitError(loc, "field '")
             << f.name << "' takes a register r0-r15";
    value = r;
    return success();
  }
  case isa::FieldKind::F32: {
    APFloat v(0.0f);
    if (p.parseFloat(APFloat::IEEEsingle(), v))
      return failure();
    value = v.bitcastToAPInt().getZExtValue();
    return success();
  }
  default: {
    int64_t iv;
    OptionalParseResult intResult = p.parseOptionalInteger(iv);
    if (intResult.has_value()) {
      value = iv;
      return *intResult;
    }
    StringRef kw;
    if (p.parseKeyword(&kw))
      return failure();
    if (auto e = isa::enumFromMnemonic(f.kind, kw)) {
      value = *e;
      return success();
    }
    std::string names;
    for (auto &[n, v] : isa::enumValues(f.kind))
      names += (names.empty() ? "" : ", ") + n;
    return p.emitError(loc, "unknown value '")
           << kw << "' for field '" << f.name << "' (expected " << names << ")";
  }
  }
}

static ParseResult parseInstruction(OpAsmParser &p, OperationState &state,
                                    const isa::InstrSpec &s) {
  Builder &b = p.getBuilder();
  if (succeeded(p.parseOptionalLSquare())) {
    do {
      SMLoc loc = p.getCurrentLocation();
      StringRef kw;
      if (p.parseKeyword(&kw))
        return failure();
      if (!llvm::is_contained(kFlagNames, kw))
        return p.emitError(loc, "unknown dependency flag '")
               << kw << "' (expected wait_prev, wait_next, signal_prev, signal_next)";
      state.addAttribute(kw, b.getUnitAttr());
    } while (succeeded(p.parseOptionalComma()));
    if (p.parseRSquare())
      return failure();
  }
  std::array<std::optional<int64_t>, isa::kMaxFields> values;
  if (succeeded(p.parseOptionalLParen())) {
    if (failed(p.parseOptionalRParen())) {
      do {
        SMLoc loc = p.getCurrentLocation();
        StringRef name;
        if (p.parseKeyword(&name))
          return failure();
        int idx = isa::fieldIndex(s, name.str().c_str());
        if (idx < 0)
          return p.emitError(loc, "'eisa.")
                 << s.mnemonic << "' has no field '" << name << "'";
        if (values[idx])
          return p.emitError(loc, "field '") << name << "' given twice";
        int64_t v;
        if (p.parseEqual() || parseFieldValue(p, s.fields[idx], v))
          return failure();
        values[idx] = v;
      } while (succeeded(p.parseOptionalComma()));
      if (p.parseRParen())
        return failure();
    }
  }
  for (unsigned i = 0; i < s.numFields; ++i)
    state.addAttribute(s.fields[i].name,
                       b.getI64IntegerAttr(values[i].value_or(s.fields[i].minValue)));
  return p.parseOptionalAttrDict(state.attributes);
}

static void printInstruction(OpAsmPrinter &p, Operation *op,
                             const isa::InstrSpec &s) {
  std::string deps = isa::formatDeps(readDeps(op));
  if (!deps.empty())
    p << " " << deps;
  if (s.numFields) {
    p << " (";
    for (unsigned i = 0; i < s.numFields; ++i) {
      const isa::FieldSpec &f = s.fields[i];
      int64_t v = op->getAttrOfType<IntegerAttr>(f.name).getValue().getSExtValue();
      if (i)
        p << ", ";
      p << f.name << " = ";
      // Values outside the encoding (only in invalid IR) print as integers.
      bool inWord = v >= 0 && v <= 0xffffffffll;
      if (inWord && f.kind == isa::FieldKind::Reg)
        p << "r" << v;
      else if (inWord && (f.kind == isa::FieldKind::Uint ||
                          f.kind == isa::FieldKind::Bool ||
                          f.kind == isa::FieldKind::F32 ||
                          isa::enumMnemonic(f.kind, uint32_t(v))))
        p << isa::formatValue(f, uint32_t(v));
      else
        p << v;
    }
    p << ")";
  }
  llvm::SmallVector<StringRef, 24> elided(std::begin(kFlagNames), std::end(kFlagNames));
  for (unsigned i = 0; i < s.numFields; ++i)
    elided.push_back(s.fields[i].name);
  p.printOptionalAttrDict(op->getAttrs(), elided);
}

#define EDGELLM_ISA_INSTR(Name, mnemonic, opcode, queue, doc)                  \
  ParseResult Name##Op::parse(OpAsmParser &p, OperationState &state) {         \
    return parseInstruction(p, state, isa::spec(isa::Opcode::Name));           \
  }                                                                            \
  void Name##Op::print(OpAsmPrinter &p) {                                      \
    printInstruction(p, getOperation(), isa::spec(isa::Opcode::Name));         \
  }                                                                            \
  LogicalResult Name##Op::verify() {                                           \
    return verifyInstruction(getOperation(), isa::spec(isa::Opcode::Name));    \
  }
#include "edgellm/hw/Isa.def"
#undef EDGELLM_ISA_INSTR

#define GET_OP_CLASSES
#include "dialects/eisa/EisaOps.cpp.inc"
