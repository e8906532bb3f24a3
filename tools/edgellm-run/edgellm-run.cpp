//===- edgellm-run.cpp - Package -> tokens --------------------------------===//
//
// edgellm-run PKG --prompt "..." [--raw] [--max-tokens N] [sampling] [--stats]
// edgellm-run PKG --chat [sampling]              interactive, with history
// edgellm-run PKG --tokens 1,2,3 [--logits-out FILE.npy [--last]] [--stepwise]
//                 [--generate N] [--sim-random-issue SEED] [--trace FILE.json]
// sampling: --temperature T --top-k K --top-p P --repetition-penalty R --seed S
//
// Loads a package on the `sim` device (the golden model of docs/isa.md) and
// generates. --prompt builds ChatGLM2's chat prompt (--raw: the text as is,
// after [gMASK] sop), streams the answer and stops at eos or --max-tokens.
// --tokens runs token ids teacher-forced through the prefill program (or,
// with --stepwise, the decode program one token at a time) and writes the
// float32 logits of every position (--last: of each prefill run's last
// token only, one row per run of up to the program's capacity, which the
// package's prefill_last program computes alone; without --logits-out that
// is what runs); --generate N continues greedily and prints the new ids. --sim-random-issue lets only the dependency tokens
// order the simulated queues (a check of the compiler's tokens). --stats
// prints host tokens/s and the VCU128 timing model's tokens/s and HBM use;
// --device=xrt --xclbin=F runs on a board through XRT (EDGELLM_XRT_SHIM=noop:
// XRT's no-op shim, no board: everything runs, nothing is computed);
// --trace writes the modeled device timeline of the whole run (Chrome /
// Perfetto JSON: dispatch, load DMA, compute, store DMA, PCIe).
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/AtomicFile.h"
#include "edgellm/hw/Npy.h"
#include "runtime/session/Session.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace edgellm;

static const char kUsage[] =
    "usage: edgellm-run PKG (--prompt TEXT [--raw] | --chat | --tokens 1,2,3 "
    "[--logits-out F.npy [--last]] [--stepwise] [--generate N])\n"
    "       [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]\n"
    "       [--repetition-penalty R] [--seed S] [--stats] [--trace F.json]\n"
    "       [--device=sim|xrt [--xclbin=F.xclbin] [--device-index=N]]\n";

static int usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

static int help() {
  std::fputs(kUsage, stdout);
  std::fputs(
      "\nRuns a package from edgellm-compile on the simulator (default) or a board.\n"
      "  --prompt TEXT        answer one chat turn, streaming the text (--raw: no chat format)\n"
      "  --chat               interactive chat with history (/reset clears it; an empty\n"
      "                       line, /quit or end of input leaves)\n"
      "  --tokens 1,2,3       teacher-forced token ids: --logits-out writes float32 logits\n"
      "                       [tokens, vocab] (.npy; --last: each prefill run's last row),\n"
      "                       --stepwise runs them through the decode program one at a\n"
      "                       time, --generate N continues greedily and prints the ids\n"
      "  --max-tokens N       stop after N new tokens (and at eos)\n"
      "  --temperature T, --top-k K, --top-p P, --repetition-penalty R, --seed S\n"
      "                       sampling (temperature 0: greedy)\n"
      "  --stats              host tokens/s, modeled device tokens/s and HBM use\n"
      "  --trace F.json       Chrome/Perfetto trace of the modeled device run\n"
      "  --device=sim|xrt     the built-in simulator, or a board through XRT\n"
      "                       (--xclbin=F.xclbin, --device-index=N)\n"
      "  --sim-random-issue SEED  (testing) the simulator issues the queues in a random\n"
      "                       order that only the dependency tokens constrain\n"
      "Environment variables (threads, kernel level, simulator modes): docs/user-guide.md.\n",
      stdout);
  return 0;
}

static bool writeNpy(const std::string &path, const std::vector<float> &data, size_t rows,
                     size_t cols, std::string &error) {
  const std::string pre = hw::npyPreamble("<f4", {int64_t(rows), int64_t(cols)});
  return hw::writeFileAtomically(
      path,
      [&](std::ostream &f) {
        f << pre;
        f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size() * 4));
        return true;
      },
      error);
}

namespace {
/// Streams an answer: decodes all its tokens each time and prints what is new
/// (pieces can join into one multi-byte character).
struct Streamer {
  const runtime::Tokenizer &tok;
  std::vector<int32_t> ids;
  std::string shown;
  bool operator()(int32_t t) {
    ids.push_back(t);
    std::string text = tok.decode(ids);
    if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
      std::fwrite(text.data() + shown.size(), 1, text.size() - shown.size(), stdout);
      std::fflush(stdout);
      shown = text;
    }
    return true;
  }
};

void printStats(const runtime::Session &s, const runtime::GenerationStats &st) {
  std::fprintf(stderr,
               "stats: prompt %lld tokens (%lld reused from the cache), %.2f s = %.1f tokens/s "
               "on the host; %lld new tokens, %.2f s = %.2f tokens/s on the host\n",
               (long long)st.promptTokens, (long long)st.reusedTokens, st.prefillSeconds,
               st.prefillSeconds > 0 ? (st.promptTokens - st.reusedTokens) / st.prefillSeconds : 0,
               (long long)st.newTokens, st.decodeSeconds,
               st.decodeSeconds > 0 ? st.newTokens / st.decodeSeconds : 0);
  hw::TimingReport r = s.modelStep(true, uint32_t(std::max<int64_t>(s.past() - 1, 0)), 1);
  if (!r.ok())
    return;
  std::fprintf(stderr,
               "stats: modeled %s decode at %lld cached tokens: device %.1f us = %.1f tokens/s, "
               "HBM %.1f%% of the AXI ceiling\n",
               s.package().manifest()["target"]["name"].get<std::string>().c_str(),
               (long long)s.past(), r.ns / 1e3, 1e9 / r.ns, r.hbmUtilisation * 100);
  std::string layers;
  for (const auto &g : r.regions)
    if (g.name.rfind("layer ", 0) == 0)
      layers += " L" + g.name.substr(6) + " " + std::to_string(int(g.ns / 1e3 + 0.5)) + "us/" +
                std::to_string(int(g.hbmUtilisation * 100 + 0.5)) + "%";
  if (!layers.empty())
    std::fprintf(stderr, "stats: modeled per layer (time/HBM use):%s\n", layers.c_str());
  // End to end per token: the device, PCIe in/out, and this host's own work
  // per token (measured: decode time outside the device runs).
  double host = st.newTokens > 1
                    ? (st.decodeSeconds - st.decodeDeviceSeconds) / double(st.newTokens - 1)
                    : 0;
  double pcie = s.pcieSeconds(1), total = r.ns * 1e-9 + pcie + host;
  std::fprintf(stderr,
               "stats: modeled end to end per token: device %.1f us + PCIe %.1f us + host "
               "%.1f us = %.1f tokens/s\n",
               r.ns / 1e3, pcie * 1e6, host * 1e6, 1.0 / total);
}
} // namespace

int main(int argc, char **argv) {
  std::string pkg, tokensArg, logitsOut, prompt, tracePath;
  runtime::DeviceOptions dev;
  bool stepwise = false, chat = false, raw = false, stats = false, lastOnly = false;
  long generate = 0, randomIssue = 0;
  runtime::GenerationOptions gen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string &name) -> const char * {
      if (a == name && i + 1 < argc)
        return argv[++i];
      if (a.rfind(name + "=", 0) == 0)
        return argv[i] + name.size() + 1;
      return nullptr;
    };
    auto number = [&](const char *v, double lo, double hi, const char *what) {
      char *end = nullptr;
      double d = std::strtod(v, &end);
      if (!*v || *end || d < lo || d > hi) {
        std::fprintf(stderr, "edgellm-run: error: %s: '%s' is not in [%g, %g]\n", what, v, lo, hi);
        std::exit(2);
      }
      return d;
    };
    if (const char *v = value("--tokens"))
      tokensArg = v;
    else if (const char *v = value("--logits-out"))
      logitsOut = v;
    else if (const char *v = value("--generate"))
      generate = long(number(v, 1, 1e6, "--generate"));
    else if (const char *v = value("--sim-random-issue"))
      randomIssue = long(number(v, 1, 1e9, "--sim-random-issue"));
    else if (const char *v = value("--prompt"))
      prompt = v;
    else if (const char *v = value("--max-tokens"))
      gen.maxNewTokens = int(number(v, 1, 1e6, "--max-tokens"));
    else if (const char *v = value("--temperature"))
      gen.sampling.temperature = float(number(v, 0, 100, "--temperature"));
    else if (const char *v = value("--top-k"))
      gen.sampling.topK = int(number(v, 0, 1e7, "--top-k"));
    else if (const char *v = value("--top-p"))
      gen.sampling.topP = float(number(v, 0, 1, "--top-p"));
    else if (const char *v = value("--repetition-penalty"))
      gen.sampling.repetitionPenalty = float(number(v, 0.01, 100, "--repetition-penalty"));
    else if (const char *v = value("--seed"))
      gen.sampling.seed = uint64_t(number(v, 0, 1.8e19, "--seed"));
    else if (const char *v = value("--trace"))
      tracePath = v;
    else if (const char *v = value("--device"))
      dev.device = v;
    else if (const char *v = value("--xclbin"))
      dev.xclbin = v;
    else if (const char *v = value("--device-index"))
      dev.deviceIndex = unsigned(number(v, 0, 1024, "--device-index"));
    else if (a == "--stepwise")
      stepwise = true;
    else if (a == "--last")
      lastOnly = true;
    else if (a == "--chat")
      chat = true;
    else if (a == "--raw")
      raw = true;
    else if (a == "--stats")
      stats = true;
    else if (a == "--help" || a == "-h")
      return help();
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "edgellm-run: error: unknown option %s\n", a.c_str());
      return usage();
    } else if (pkg.empty())
      pkg = a;
    else
      return usage();
  }
  if (pkg.empty() || int(!tokensArg.empty()) + int(!prompt.empty()) + int(chat) != 1)
    return usage();
  if (dev.device != "sim" && dev.device != "xrt") {
    std::fprintf(stderr, "edgellm-run: error: --device=%s: the devices are sim and xrt\n",
                 dev.device.c_str());
    return 2;
  }
  if (randomIssue && dev.device != "sim") {
    std::fprintf(stderr, "edgellm-run: error: --sim-random-issue needs --device=sim\n");
    return 2;
  }
  dev.randomIssueSeed = uint64_t(randomIssue);
  std::string error;
  auto session = runtime::Session::open(pkg, error, dev);
  if (!session) {
    std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
    return 1;
  }
  auto finish = [&](int code) {
    if (!session->deviceNote().empty())
      std::fprintf(stderr, "edgellm-run: note: device %s: %s\n",
                   session->device().name().c_str(), session->deviceNote().c_str());
    if (code == 0 && !tracePath.empty() && !session->writeTrace(tracePath, error)) {
      std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
      return 1;
    }
    return code;
  };

  if (!tokensArg.empty()) {
    std::vector<int32_t> tokens;
    for (size_t at = 0; at <= tokensArg.size();) {
      size_t end = tokensArg.find(',', at);
      if (end == std::string::npos)
        end = tokensArg.size();
      std::string t = tokensArg.substr(at, end - at);
      char *stop = nullptr;
      long v = std::strtol(t.c_str(), &stop, 10);
      if (t.empty() || *stop || v < 0 || v > INT32_MAX) {
        std::fprintf(stderr, "edgellm-run: error: --tokens: '%s' is not a token id\n",
                     t.c_str());
        return 2;
      }
      tokens.push_back(int32_t(v));
      at = end + 1;
    }
    std::vector<float> logits;
    // Without --logits-out (or with --last) only the last token's logits
    // are used: the prefill_last program computes only those.
    if (lastOnly && (stepwise || !session->hasPrefillLast())) {
      std::fprintf(stderr, "edgellm-run: error: --last: %s\n",
                   stepwise ? "not with --stepwise"
                            : "the package has no prefill_last program (compile it again)");
      return 2;
    }
    lastOnly = lastOnly || logitsOut.empty();
    if (!session->forward(tokens, stepwise, logits, error, lastOnly)) {
      std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
      return 1;
    }
    size_t V = size_t(session->info().vocab);
    if (!logitsOut.empty() && !writeNpy(logitsOut, logits, logits.size() / V, V, error)) {
      std::fprintf(stderr, "edgellm-run: error: %s\n", error.c_str());
      return 1;
    }
    if (generate > 0) {
      runtime::Sampler greedy({}); // temperature 0: the first of the largest logits
      std::vector<float> last(logits.end() - long(V), logits.end());
      for (long g = 0; g < generate; ++g) {
        int32_t best = greedy.next(last.data(), int64_t(V), {});
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
    return finish(0);
  }

  const runtime::Tokenizer *tok = session->tokenizer();
  if (!tok) {
    std::fprintf(stderr, "edgellm-run: error: %s has no tokenizer: compile it with "
                         "--tokenizer=FILE, or run --tokens\n", pkg.c_str());
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> history;
  auto answer = [&](const std::string &query) -> bool {
    std::vector<int32_t> ids =
        raw ? tok->encode(query) : tok->encode(runtime::Tokenizer::chatPrompt(query, history));
    Streamer stream{*tok, {}, {}};
    std::vector<int32_t> out;
    runtime::GenerationStats st;
    if (!session->generate(ids, gen, std::ref(stream), out, error, &st)) {
      std::fprintf(stderr, "\nedgellm-run: error: %s\n", error.c_str());
      return false;
    }
    std::printf("\n");
    history.push_back({query, tok->decode(out)});
    if (stats)
      printStats(*session, st);
    return true;
  };
  if (!chat)
    return finish(answer(prompt) ? 0 : 1);

  bool tty = isatty(0);
  if (tty)
    std::fprintf(stderr, "EdgeLLM chat on %s (%s, sim). Empty line or /quit: leave; /reset: "
                         "forget the conversation.\n",
                 pkg.c_str(),
                 session->package().manifest()["weights"]["format"].get<std::string>().c_str());
  std::string line;
  for (;;) {
    if (tty) {
      std::fprintf(stderr, "\n> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line) || line.empty() || line == "/quit")
      break;
    if (line == "/reset") {
      history.clear();
      session->reset();
      continue;
    }
    if (!answer(line))
      return 1;
  }
  return finish(0);
}
