# -*- Python -*-
# lit configuration of the EdgeLLM regression tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "EdgeLLM"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "models", "Inputs", "e2e", "onnx-node"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.edgellm_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%edgellm_src", config.edgellm_src_root))
config.substitutions.append(("%python", config.python_executable))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.edgellm_tools_dir, config.llvm_tools_dir]
tools = [
    "edgellm-opt",
    "edgellm-translate",
    "edgellm-objdump",
    "edgellm-isa-gen",
    "edgellm-compile",
    "edgellm-exec",
]
llvm_config.add_tool_substitutions(tools, tool_dirs)
