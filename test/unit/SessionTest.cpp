//===- SessionTest.cpp - Tokenizer and sampling ----------------------------===//
//
// The C++ tokenizer against ids and text from the Python tokenizer
// (tools/models/tokenizer.py, which made the fixtures), and the sampler's
// rules on hand-made logits; the package weight map's tiles.
//
//===----------------------------------------------------------------------===//

#include "runtime/package/Package.h"
#include "runtime/session/Sampler.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

using namespace edgellm::runtime;

namespace {
std::unique_ptr<Tokenizer> load() {
  std::ifstream f(EDGELLM_SOURCE_DIR "/test/models/tokenizer/tokenizer.model", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string error;
  auto t = Tokenizer::fromModelBytes(ss.str(), error);
  EXPECT_TRUE(t) << error;
  return t;
}
} // namespace

TEST(Tokenizer, ChatPromptMatchesTheFixtureIds) {
  auto t = load();
  ASSERT_TRUE(t);
  // test/models/tiny/ref/prompt.input_ids.npy = build_chat_input("你好").
  std::vector<int32_t> want = {3001, 3003, 944, 1119, 999, 576, 944, 983, 1133, 13,
                               13,   1149, 1046, 1088, 1159, 13, 13, 2591, 1046};
  EXPECT_EQ(t->encode(Tokenizer::chatPrompt("你好", {})), want);
  EXPECT_EQ(Tokenizer::chatPrompt("再见", {{"你好", "你好！"}}),
            "[Round 1]\n\n问：你好\n\n答：你好！\n\n[Round 2]\n\n问：再见\n\n答：");
}

TEST(Tokenizer, EncodeDecodeAgreeWithPython) {
  auto t = load();
  ASSERT_TRUE(t);
  std::vector<int32_t> want = {380, 492, 947, 968, 763, 1009, 944, 1227, 1069, 1069, 1493,
                               1944, 1159, 972};
  EXPECT_EQ(t->encode("Hello, world! 今天天气很好。", false), want);
  EXPECT_EQ(t->decode({13, 262, 284, 944, 1236, 1183, 996, 1174, 997}), "\n    -- 李白《意》");
  EXPECT_EQ(t->decode({3001, 3003}), "[gMASK]sop");
  EXPECT_EQ(t->eos(), 2);
  EXPECT_EQ(t->special("sop"), 3003);
  EXPECT_EQ(t->special("nope"), -1);
}

TEST(Tokenizer, GarbageModelIsAnError) {
  std::string error;
  EXPECT_FALSE(Tokenizer::fromModelBytes("not a model", error));
  EXPECT_NE(error.find("tokenizer"), std::string::npos);
}

TEST(Sampler, GreedyTakesTheFirstLargest) {
  Sampler s({});
  std::vector<float> l = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.next(l.data(), 4, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingOptions o;
  o.repetitionPenalty = 2.0f;
  Sampler s(o);
  // Token 0 seen: 3.0 -> 1.5 < 2.0, so token 1 wins; token 3 seen: -1 -> -2.
  std::vector<float> l = {3.0f, 2.0f, 0.0f, -1.0f};
  EXPECT_EQ(s.next(l.data(), 4, {0}), 1);
}

TEST(Sampler, TopKOneIsGreedyAndSeedsReproduce) {
  SamplingOptions o;
  o.temperature = 1.0f;
  o.topK = 1;
  Sampler s(o);
  std::vector<float> l = {0.1f, 0.3f, 0.2f};
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(s.next(l.data(), 3, {}), 1);
  o.topK = 0;
  o.seed = 7;
  Sampler a(o), b(o);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(a.next(l.data(), 3, {}), b.next(l.data(), 3, {}));
}

TEST(Sampler, TemperatureSamplesInProportion) {
  SamplingOptions o;
  o.temperature = 1.0f;
  o.seed = 3;
  Sampler s(o);
  // p = softmax(log 1, log 3) = 1/4, 3/4.
  std::vector<float> l = {0.0f, std::log(3.0f)};
  std::map<int, int> n;
  for (int i = 0; i < 4000; ++i)
    ++n[s.next(l.data(), 2, {})];
  EXPECT_NEAR(n[1] / 4000.0, 0.75, 0.03);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  SamplingOptions o;
  o.temperature = 1.0f;
  o.topP = 0.5f;
  o.seed = 5;
  Sampler s(o);
  // p = 0.6, 0.3, 0.1: the nucleus at 0.5 is the first token alone.
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(s.next(l.data(), 3, {}), 0);
}

TEST(Package, WeightTilesFromTheWeightMap) {
  // n = 40 rows in tiles of 16 (16, 16, 8 rows), k = 256: q4RowBeats = 5
  // (one scale beat + 2 groups x 64 bytes), so tiles of 80, 80 and 40
  // beats, each padded to a multiple of 32: 96 + 96 + 64 = 256 beats.
  nlohmann::json m = {{"weight_map",
                       {{{"name", "w"}, {"encoding", "int4_rows"}, {"memory", "hbm"}, {"n", 40},
                         {"k", 256}, {"tile_rows", 16}, {"beat", 64}, {"beats", 256},
                         {"sparsity", 0}},
                        {{"name", "f"}, {"encoding", "f16_tiles"}, {"memory", "hbm"}}}}};
  std::vector<edgellm::package::WeightTile> tiles;
  std::string error;
  ASSERT_TRUE(edgellm::package::weightTiles(m, tiles, error)) << error;
  ASSERT_EQ(tiles.size(), 3u);
  EXPECT_EQ(tiles[0].streamBeat, 64u);
  EXPECT_EQ(tiles[0].beats, 80u);
  EXPECT_EQ(tiles[1].streamBeat, 160u);
  EXPECT_EQ(tiles[2].streamBeat, 256u);
  EXPECT_EQ(tiles[2].rows, 8u);
  EXPECT_EQ(tiles[2].beats, 40u);
  m["weight_map"][0]["beats"] = 255;
  EXPECT_FALSE(edgellm::package::weightTiles(m, tiles, error));
  EXPECT_NE(error.find("w"), std::string::npos) << error;
  m["weight_map"][0]["beats"] = 256;
  m["weight_map"][0]["beat"] = 65;
  EXPECT_FALSE(edgellm::package::weightTiles(m, tiles, error));
}

TEST(Package, KvCacheRowsInTheirChannels) {
  // K of layer 3: 4 rows of 100 beats, one pseudo-channel each from channel
  // 2 (offset 500); V: 2 rows in one channel, 100 beats apart.
  constexpr uint64_t C = edgellm::isa::kHbmChannelBeats;
  nlohmann::json m = {
      {"memory",
       {{"kv_cache",
         {{{"layer", 3}, {"kind", "k"}, {"hbm_beat", 2 * C + 500}, {"rows", 4},
           {"row_beats", 100}, {"row_stride", C}},
          {{"layer", 3}, {"kind", "v"}, {"hbm_beat", 7 * C + 1000}, {"rows", 2},
           {"row_beats", 100}, {"row_stride", 100}}}}}}};
  std::array<uint64_t, edgellm::isa::kHbmChannels> beats{};
  beats[3] = 700; // already higher (a weight image): kept
  std::string error;
  ASSERT_TRUE(edgellm::package::kvCacheExtents(m, beats, error)) << error;
  EXPECT_EQ(beats[1], 0u);
  EXPECT_EQ(beats[2], 600u);
  EXPECT_EQ(beats[3], 700u);
  EXPECT_EQ(beats[4], 600u);
  EXPECT_EQ(beats[5], 600u);
  EXPECT_EQ(beats[6], 0u);
  EXPECT_EQ(beats[7], 1200u);
  // A row past channel 31, a row past the end of its channel, a missing field.
  m["memory"]["kv_cache"][0]["hbm_beat"] = 30 * C;
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  EXPECT_NE(error.find("layer 3 k: row 2 lies outside HBM"), std::string::npos) << error;
  m["memory"]["kv_cache"][0]["hbm_beat"] = 2 * C + C - 50;
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  EXPECT_NE(error.find("row 0 lies outside HBM"), std::string::npos) << error;
  m["memory"]["kv_cache"][0]["hbm_beat"] = 2 * C + 500;
  m["memory"]["kv_cache"][0]["row_stride"] = 99; // rows 100 long, 99 apart
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  EXPECT_NE(error.find("rows overlap"), std::string::npos) << error;
  m["memory"]["kv_cache"][1] = 5;
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  m["memory"]["kv_cache"][1] = {{"kind", 7}};
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  m["memory"]["kv_cache"][0].erase("row_stride");
  EXPECT_FALSE(edgellm::package::kvCacheExtents(m, beats, error));
  EXPECT_NE(error.find("row_stride"), std::string::npos) << error;
}
