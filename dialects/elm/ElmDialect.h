//===- ElmDialect.h - The elm dialect ---------------------------*- C++ -*-===//

#ifndef EDGELLM_DIALECTS_ELM_ELMDIALECT_H
#define EDGELLM_DIALECTS_ELM_ELMDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/elm/ElmOpsDialect.h.inc"
#include "dialects/elm/ElmOpsEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/elm/ElmOpsAttrDefs.h.inc"

#define GET_OP_CLASSES
#include "dialects/elm/ElmOps.h.inc"

#endif // EDGELLM_DIALECTS_ELM_ELMDIALECT_H
