//===- edgellm-onnx-node-tests.cpp - ONNX backend node tests on the CPU path -===//
//
// edgellm-onnx-node-tests DATA_DIR [--exclusions FILE] [--filter SUBSTRING] [-v]
//
// Runs every case of DATA_DIR (model.onnx + test_data_set_*/{input,output}_N.pb)
// through import, shape folding and the CPU path, and compares every output
// with ONNX's tolerances (rtol 1e-3, atol 1e-7; integers and bools exactly).
// A case using an operator outside the onnx dialect, or a data type the
// project does not support, is "unsupported"; a case listed in the exclusion
// file (with its reason) is "excluded". Each case runs in a child process, so
// even a crash is reported as a failure of that case. Prints
// "N passed, M failed, K unsupported" and exits non-zero on any failure.
//
//===----------------------------------------------------------------------===//

#include "compiler/frontend/OnnxImporter.h"
#include "compiler/frontend/OnnxModel.h"
#include "compiler/pipeline/CpuPipeline.h"
#include "compiler/pipeline/TensorIO.h"
#include "compiler/transforms/Passes.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
namespace pl = edgellm::pipeline;
using namespace mlir;

enum Outcome { Passed = 0, Failed = 1, Unsupported = 2 };

/// Writes the reason for the outcome to fd and returns the outcome.
static int report(int fd, Outcome o, const std::string &why) {
  std::string line = why + "\n";
  (void)!::write(fd, line.data(), line.size());
  return o;
}

template <typename T>
static bool closeEnough(const char *a, const char *b, int64_t n, std::string &why) {
  for (int64_t i = 0; i < n; ++i) {
    T x, y;
    std::memcpy(&x, a + i * sizeof(T), sizeof(T));
    std::memcpy(&y, b + i * sizeof(T), sizeof(T));
    double dx = double(x), dy = double(y);
    if (std::isnan(dy) && std::isnan(dx))
      continue;
    if (std::isinf(dy) && dx == dy)
      continue;
    if (!(std::fabs(dx - dy) <= 1e-7 + 1e-3 * std::fabs(dy))) {
      why = "element " + std::to_string(i) + " is " + std::to_string(dx) + ", expected " +
            std::to_string(dy);
      return false;
    }
  }
  return true;
}

static float halfToFloat(uint16_t h, bool bf16) {
  uint32_t bits;
  if (bf16) {
    bits = uint32_t(h) << 16;
  } else {
    uint32_t s = uint32_t(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f)
      bits = s | 0x7f800000u | (m << 13);
    else if (e)
      bits = s | ((e + 112) << 23) | (m << 13);
    else if (!m)
      bits = s;
    else {
      float f = std::ldexp(float(m), -24);
      return (h >> 15) ? -f : f;
    }
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static bool compare(const pl::HostTensor &got, const pl::HostTensor &exp, std::string &why) {
  if (got.shape != exp.shape) {
    why = "shape differs";
    return false;
  }
  if (got.onnxType != exp.onnxType) {
    why = std::string("type ") + edgellm::onnx::dataTypeName(got.onnxType) + ", expected " +
          edgellm::onnx::dataTypeName(exp.onnxType);
    return false;
  }
  int64_t n = exp.numElements();
  using DT = edgellm::onnx::DataType;
  switch (DT(exp.onnxType)) {
  case DT::Float:
    return closeEnough<float>(got.data.data(), exp.data.data(), n, why);
  case DT::Double:
    return closeEnough<double>(got.data.data(), exp.data.data(), n, why);
  case DT::Float16:
  case DT::BFloat16: {
    bool bf = DT(exp.onnxType) == DT::BFloat16;
    std::vector<float> a(n), b(n);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t x, y;
      std::memcpy(&x, got.data.data() + 2 * i, 2);
      std::memcpy(&y, exp.data.data() + 2 * i, 2);
      a[i] = halfToFloat(x, bf);
      b[i] = halfToFloat(y, bf);
    }
    return closeEnough<float>(reinterpret_cast<char *>(a.data()),
                              reinterpret_cast<char *>(b.data()), n, why);
  }
  default:
    if (got.data != exp.data) {
      why = "integer/bool values differ";
      return false;
    }
    return true;
  }
}

/// The child: one case, start to end.
static int runCase(const fs::path &dir, int fd) {
  std::string error;
  edgellm::frontend::LoadedModel m;
  std::string modelPath = (dir / "model.onnx").string();
  if (!edgellm::frontend::loadModel(modelPath, m, error))
    return report(fd,
                  error.find("unsupported opset") != std::string::npos ||
                          error.find("no opset for the default ONNX domain") != std::string::npos
                      ? Unsupported
                      : Failed,
                  error);
  MLIRContext ctx;
  DialectRegistry registry;
  pl::registerCpuPipelineDialects(registry);
  ctx.appendDialectRegistry(registry);
  std::string diag;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    if (diag.empty())
      diag = d.str();
    return success();
  });
  OwningOpRef<ModuleOp> module = edgellm::frontend::importOnnxModel(&ctx, modelPath);
  if (!module) {
    bool uns = diag.find("unsupported operator") != std::string::npos ||
               diag.find("unsupported element type") != std::string::npos ||
               diag.find("unsupported data type") != std::string::npos ||
               diag.find("unsupported type") != std::string::npos ||
               diag.find("cast to unsupported data type") != std::string::npos;
    return report(fd, uns ? Unsupported : Failed, "import: " + diag);
  }
  PassManager pm(&ctx);
  edgellm::transforms::buildOnnxFoldPipeline(pm);
  if (failed(pm.run(*module)))
    return report(fd, Failed, "folding: " + diag);
  auto compiled = pl::compileForCpu(*module);
  if (!compiled)
    return report(fd, Failed, "CPU path: " + diag);
  int sets = 0;
  for (int s = 0;; ++s) {
    fs::path set = dir / ("test_data_set_" + std::to_string(s));
    if (!fs::exists(set))
      break;
    ++sets;
    std::vector<pl::HostTensor> inputs, expected, outputs;
    for (int i = 0;; ++i) {
      fs::path f = set / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(f))
        break;
      pl::HostTensor t;
      if (!pl::readTensorFile(f.string(), t, error))
        return report(fd, Failed, error);
      inputs.push_back(std::move(t));
    }
    for (int i = 0;; ++i) {
      fs::path f = set / ("output_" + std::to_string(i) + ".pb");
      if (!fs::exists(f))
        break;
      pl::HostTensor t;
      if (!pl::readTensorFile(f.string(), t, error))
        return report(fd, Failed, error);
      expected.push_back(std::move(t));
    }
    if (!compiled->run(inputs, outputs, error))
      return report(fd, Failed, "run: " + error);
    if (outputs.size() != expected.size())
      return report(fd, Failed, "output count differs");
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string why;
      if (!compare(outputs[i], expected[i], why))
        return report(fd, Failed, "set " + std::to_string(s) + " output " + std::to_string(i) +
                                    ": " + why);
    }
  }
  if (!sets)
    return report(fd, Failed, "no test data");
  return report(fd, Passed, "ok");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: edgellm-onnx-node-tests DATA_DIR [--exclusions FILE] [--filter S] [-v]\n";
    return 2;
  }
  fs::path data = argv[1];
  std::string filter, exclFile;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--exclusions" && i + 1 < argc)
      exclFile = argv[++i];
    else if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
    else if (a == "-v")
      verbose = true;
    else {
      std::cerr << "edgellm-onnx-node-tests: unknown argument '" << a << "'\n";
      return 2;
    }
  }
  std::map<std::string, std::string> excluded;
  if (!exclFile.empty()) {
    std::ifstream in(exclFile);
    if (!in) {
      std::cerr << "edgellm-onnx-node-tests: cannot read " << exclFile << "\n";
      return 2;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#')
        continue;
      size_t sp = line.find_first_of(" \t");
      excluded[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
    }
  }
  if (!fs::is_directory(data)) {
    std::cerr << "edgellm-onnx-node-tests: " << data << " is not a folder (libonnx-testdata)\n";
    return 2;
  }
  std::vector<fs::path> cases;
  for (auto &e : fs::directory_iterator(data))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx") &&
        e.path().filename().string().find(filter) != std::string::npos)
      cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());

  int passed = 0, failed = 0, unsupported = 0, excludedCount = 0;
  std::map<std::string, int> unsupportedReasons;
  for (const fs::path &c : cases) {
    std::string name = c.filename().string();
    int fds[2];
    if (::pipe(fds) != 0)
      return 2;
    std::cout.flush(); // the child must not inherit buffered output
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      ::_exit(runCase(c, fds[1]));
    }
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
      msg.append(buf, size_t(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    int outcome = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (!msg.empty() && msg.back() == '\n')
      msg.pop_back();
    if (outcome == -1)
      msg = "crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
    if (excluded.count(name) && outcome != Passed && outcome != Unsupported) {
      ++excludedCount;
      if (verbose)
        std::cout << "EXCLUDED " << name << ": " << excluded[name] << " (" << msg << ")\n";
      continue;
    }
    if (outcome == Passed) {
      ++passed;
      if (verbose)
        std::cout << "PASS " << name << "\n";
    } else if (outcome == Unsupported) {
      ++unsupported;
      std::string reason = msg.substr(0, msg.find('\''));
      size_t q = msg.find('\'');
      if (q != std::string::npos)
        reason = msg.substr(0, msg.find('\'', q + 1) + 1);
      ++unsupportedReasons[reason];
      if (verbose)
        std::cout << "UNSUPPORTED " << name << ": " << msg << "\n";
    } else {
      ++failed;
      std::cout << "FAIL " << name << ": " << msg << "\n";
    }
  }
  if (verbose) {
    std::cout << "unsupported, by reason:\n";
    for (auto &[r, k] : unsupportedReasons)
      std::cout << "  " << k << "  " << r << "\n";
  }
  std::cout << "ONNX node tests (" << data.string() << "): " << cases.size() << " cases, "
            << excludedCount << " excluded (see the exclusion list)\n";
  std::cout << passed << " passed, " << failed << " failed, " << unsupported << " unsupported\n";
  return failed ? 1 : 0;
}
