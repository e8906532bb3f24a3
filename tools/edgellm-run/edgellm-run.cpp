//===- edgellm-run.cpp - Package -> tokens --------------------------------===//
//
// edgellm-run PKG --tokens 1,2,3 [--logits-out FILE.npy] [--stepwise]
//                 [--generate N] [--sim-random-issue SEED]
//
// Loads a package on the `sim` device (the golden model) and runs token ids:
// teacher-forced through the prefill program (or, with --stepwise, the
// decode program one token at a time), writing the float32 logits of every
// position; --generate N continues greedily and prints the new ids.
// --sim-random-issue lets only the dependency tokens order the simulated
// queues (a check of the compiler's tokens: the logits must not change).
// (The tokenizer, sampling and chat arrive with the runtime issue.)
//
//===----------------------------------------------------------------------===//

#include "runtime/session/Session.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace edgellm;

static int usage() {
  std::fprintf(stderr, "usage: edgellm-run PKG --tokens 1,2,3 [--logits-out FILE.npy] "
                       "[--stepwise] [--generate N]\n");
  return 2;
}

static bool writeNpy(const std::string &path, const std::vector<float> &data, size_t rows,
                     size_t cols, std::string &error) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                     std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string tmp = path + ".tmp";
  std::ofstream f(tmp, std::ios::binary);
  uint16_t len = uint16_t(dict.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char *>(&len), 2);
  f << dict;
  f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size() * 4));
  f.close();
  if (!f || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    error = path + ": cannot write";
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  std::string pkg, tokensArg, logitsOut;
  bool stepwise = false;
  long generate = 0, randomIssue = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string &name) -> const char * {
      if (a == name && i + 1 < argc)
        return argv[++i];
      if (a.rfind(name + "=", 0) == 0)
        return argv[i] + name.size() + 1;
      return nullptr;
    };
    if (const char *v = value("--tokens"))
      tokensArg = v;
    else if (const char *v = value("--logits-out"))
      logitsOut = v;
    else if (const char *v = value("--generate"))
      generate = std::strtol(v, nullptr, 10);
    else if (const char *v = value("--sim-random-issue"))
      randomIssue = std::strtol(v, nullptr, 10);
    else if (a == "--stepwise")
      stepwise = true;
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "edgellm-run: error: unknown option %s\n", a.c_str());
      return usage();
    } else if (pkg.empty())
      pkg = a;
    else
      return usage();
  }
  if (pkg.empty() || tokensArg.empty())
    return usage();
  std::vector<int32_t> tokens;
  for (size_t at = 0; at <= tokensArg.size();) {
    size_t end = tokensArg.find(',', at);
    if (end == std::string::npos)
      end = tokensArg.size();
    std::string t = tokensArg.substr(at, end - at);
    char *stop = nullptr;
    long v = std::strtol(t.c_str(), &stop, 10);
    if (t.empty() || *stop || v < 0 || v > INT32_MAX) {
      std::fprintf(stderr, "edgellm-run: error: --tokens: '%s' is not a token id\n", t.c_str());
      return 2;
    }
    tokens.push_back(int32_t(v));
    at = end + 1;
  }
  std::string error;
  auto session = runtime::Session::open(pkg, error);
  if (!session) {
    std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
    return 1;
  }
  if (randomIssue)
    session->setRandomIssue(uint64_t(randomIssue));
  std::vector<float> logits;
  if (!session->forward(tokens, stepwise, logits, error)) {
    std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
    return 1;
  }
  size_t V = size_t(session->info().vocab);
  if (!logitsOut.empty() && !writeNpy(logitsOut, logits, tokens.size(), V, error)) {
    std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
    return 1;
  }
  if (generate > 0) {
    std::vector<float> last(logits.end() - long(V), logits.end());
    for (long g = 0; g < generate; ++g) {
      int32_t best = 0;
      for (size_t v = 1; v < V; ++v)
        if (last[v] > last[size_t(best)])
          best = int32_t(v);
      std::printf("%s%d", g ? "," : "", best);
      std::fflush(stdout);
      last.clear();
      if (g + 1 < generate && !session->forward({best}, true, last, error)) {
        std::fprintf(stderr, "\nedgellm-run: error: %s\n", error.c_str());
        return 1;
      }
    }
    std::printf("\n");
  }
  return 0;
}
