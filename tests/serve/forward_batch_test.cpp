// Model::ForwardBatch and Model::ForwardSegments against the independent path: single-sequence
// Model::Forward calls at the same positions (each recomputes its own position after rewinding
// the cache, or runs on a second model that saw only that sequence).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "serve_support.h"

namespace {

void CheckBatchEqualsSingles(trueno::DType wtype, uint32_t seed) {
  INFO("seed " << seed << " type " << trueno::DTypeName(wtype));
  auto t = serve_test::MakeTestModel(seed, 128, 0, wtype);
  realizar::Model& m = *t.model;
  const int V = m.n_vocab();
  std::mt19937 rng(seed);
  // Three sequences with prompts of different lengths (one of them empty: a first token).
  const std::vector<int> lens = {5, 0, 17, 9};
  const std::vector<int> seqs = {3, 11, 7, 42};
  std::vector<float> logits(static_cast<size_t>(V) * 32);
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(lens[i]));
    for (auto& x : prompt) x = static_cast<int32_t>(rng() % V);
    if (!prompt.empty()) REQUIRE(m.Forward(prompt, seqs[i], 0, logits.data()).ok());
  }
  // Two consecutive decode steps, so the second one also attends to batch-written K/V.
  std::vector<int> positions(lens.begin(), lens.end());
  for (int step = 0; step < 2; ++step) {
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < seqs.size(); ++i) tokens.push_back(static_cast<int32_t>(rng() % V));
    std::vector<float> batch(seqs.size() * V);
    REQUIRE(m.ForwardBatch(tokens, seqs, positions, batch.data()).ok());
    for (size_t i = 0; i < seqs.size(); ++i) {
      CHECK(m.kv_cache().Length(seqs[i]) == positions[i] + 1);
      std::vector<float> single(V);
      const int32_t tok = tokens[i];
      REQUIRE(
          m.Forward(std::span<const int32_t>(&tok, 1), seqs[i], positions[i], single.data()).ok());
      double worst = 0;
      for (int v = 0; v < V; ++v) {
        const double a = batch[i * V + v], b = single[v];
        worst = std::max(worst, std::fabs(a - b) / std::max(1.0, std::fabs(b)));
      }
      INFO("sequence " << seqs[i] << " step " << step);
      CHECK(worst <= 1e-4);
    }
    for (auto& p : positions) ++p;
  }
}

}  // namespace

TEST_CASE("ForwardBatch logits equal one Forward per sequence (1e-4 relative)", "[forward_batch]") {
  CheckBatchEqualsSingles(trueno::DType::kF32, 101);
  CheckBatchEqualsSingles(trueno::DType::kQ8_0, 102);
  CheckBatchEqualsSingles(trueno::DType::kF16, 103);
}

TEST_CASE("ForwardBatch rejects bad batches and writes nothing", "[forward_batch]") {
  auto t = serve_test::MakeTestModel(5, 32);
  realizar::Model& m = *t.model;
  std::vector<float> logits(2 * m.n_vocab());
  const std::vector<int32_t> prompt = {1, 2, 3};
  REQUIRE(m.Forward(prompt, 1, 0, logits.data()).ok());
  const int used = m.kv_cache().blocks_used();
  // Duplicate sequence, skipped position, bad token id, full context.
  CHECK(m.ForwardBatch(std::vector<int32_t>{4, 5}, std::vector<int>{1, 1}, std::vector<int>{3, 3},
                       logits.data())
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.ForwardBatch(std::vector<int32_t>{4}, std::vector<int>{1}, std::vector<int>{5},
                       logits.data())
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.ForwardBatch(std::vector<int32_t>{999}, std::vector<int>{1}, std::vector<int>{3},
                       logits.data())
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.ForwardBatch(std::vector<int32_t>{4}, std::vector<int>{2}, std::vector<int>{32},
                       logits.data())
            .code() != absl::StatusCode::kOk);
  CHECK(m.kv_cache().Length(1) == 3);
  CHECK(m.kv_cache().blocks_used() == used);
}

namespace {

std::vector<int32_t> RandomTokens(std::mt19937& rng, int n, int vocab) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return v;
}

double WorstRelative(const float* a, const float* b, int n) {
  double worst = 0;
  for (int v = 0; v < n; ++v) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[v]) - b[v]) /
                                std::max(1.0, std::fabs(static_cast<double>(b[v]))));
  }
  return worst;
}

}  // namespace

TEST_CASE("ForwardSegments: prompt chunks and decode tokens in one step equal separate runs",
          "[forward_batch]") {
  using Segment = realizar::Model::Segment;
  for (trueno::DType wtype : {trueno::DType::kF32, trueno::DType::kQ8_0}) {
    INFO("type " << trueno::DTypeName(wtype));
    // `mixed` runs the mixed steps; `ref` (same weights) runs each sequence alone with Forward.
    auto mixed_t = serve_test::MakeTestModel(201, 128, 0, wtype);
    auto ref_t = serve_test::MakeTestModel(201, 128, 0, wtype);
    realizar::Model& m = *mixed_t.model;
    realizar::Model& ref = *ref_t.model;
    const int V = m.n_vocab();
    std::mt19937 rng(7);
    std::vector<float> tmp(V);
    // Sequences 3 and 7 have prompts in the cache already; 11 and 42 are new.
    const auto p3 = RandomTokens(rng, 5, V), p7 = RandomTokens(rng, 9, V);
    for (realizar::Model* x : {&m, &ref}) {
      REQUIRE(x->Forward(p3, 3, 0, tmp.data()).ok());
      REQUIRE(x->Forward(p7, 7, 0, tmp.data()).ok());
    }
    // Step 1: a 6-token prompt (logits), a 4-token chunk continuing 7 (no logits), a 1-token
    // prompt (logits), a decode token of 3 (logits).
    const auto p11 = RandomTokens(rng, 6, V), c7 = RandomTokens(rng, 4, V);
    const auto p42 = RandomTokens(rng, 1, V), d3 = RandomTokens(rng, 1, V);
    std::vector<Segment> step = {
        {11, 0, p11, true}, {7, 9, c7, false}, {42, 0, p42, true}, {3, 5, d3, true}};
    std::vector<float> got(3 * static_cast<size_t>(V));
    REQUIRE(m.ForwardSegments(step, got.data()).ok());
    CHECK(m.kv_cache().Length(11) == 6);
    CHECK(m.kv_cache().Length(7) == 13);
    CHECK(m.kv_cache().Length(42) == 1);
    CHECK(m.kv_cache().Length(3) == 6);
    std::vector<float> want(3 * static_cast<size_t>(V));
    REQUIRE(ref.Forward(p11, 11, 0, want.data()).ok());
    REQUIRE(ref.Forward(c7, 7, 9, tmp.data()).ok());
    REQUIRE(ref.Forward(p42, 42, 0, want.data() + V).ok());
    REQUIRE(ref.Forward(d3, 3, 5, want.data() + 2 * static_cast<size_t>(V)).ok());
    for (int r = 0; r < 3; ++r) {
      INFO("logits row " << r);
      CHECK(WorstRelative(got.data() + static_cast<size_t>(r) * V,
                          want.data() + static_cast<size_t>(r) * V, V) <= 1e-4);
    }
    // Step 2: decode tokens of all four, attending to what step 1 wrote (7's chunk without
    // logits included), in a different order.
    const auto d = RandomTokens(rng, 4, V);
    const std::vector<int> seqs = {7, 42, 3, 11}, pos = {13, 1, 6, 6};
    std::vector<Segment> step2;
    for (size_t i = 0; i < seqs.size(); ++i) {
      step2.push_back({seqs[i], pos[i], std::span<const int32_t>(&d[i], 1), true});
    }
    got.assign(4 * static_cast<size_t>(V), 0.0f);
    REQUIRE(m.ForwardSegments(step2, got.data()).ok());
    for (size_t i = 0; i < seqs.size(); ++i) {
      REQUIRE(ref.Forward(std::span<const int32_t>(&d[i], 1), seqs[i], pos[i], tmp.data()).ok());
      INFO("sequence " << seqs[i]);
      CHECK(WorstRelative(got.data() + i * V, tmp.data(), V) <= 1e-4);
    }
  }
}

TEST_CASE("ForwardSegments rejects bad steps and writes nothing", "[forward_batch]") {
  using Segment = realizar::Model::Segment;
  auto t = serve_test::MakeTestModel(6, 32);
  realizar::Model& m = *t.model;
  std::vector<float> logits(2 * m.n_vocab());
  const std::vector<int32_t> prompt = {1, 2, 3}, two = {4, 5}, none;
  REQUIRE(m.Forward(prompt, 1, 0, logits.data()).ok());
  const int used = m.kv_cache().blocks_used();
  const std::vector<int32_t> bad = {4, 999};
  const std::vector<int32_t> long_chunk(30, 1);
  const std::vector<std::vector<Segment>> cases = {
      {},                                             // no segments
      {{1, 3, none, true}},                           // empty segment
      {{1, 3, two, true}, {1, 5, two, true}},         // one sequence twice
      {{2, 0, two, true}, {1, 4, two, true}},         // skips position 3 of sequence 1
      {{2, 0, two, true}, {1, 3, bad, true}},         // token id outside the vocabulary
      {{2, 0, two, true}, {1, 3, long_chunk, true}},  // past the context of 32
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    CHECK_FALSE(m.ForwardSegments(cases[i], logits.data()).ok());
    CHECK(m.kv_cache().Length(1) == 3);
    CHECK_FALSE(m.kv_cache().HasSequence(2));
    CHECK(m.kv_cache().blocks_used() == used);
  }
  // Logits wanted but nowhere to put them; none wanted and none given is fine.
  const std::vector<Segment> want = {{1, 3, two, true}}, quiet = {{1, 3, two, false}};
  CHECK(m.ForwardSegments(want, nullptr).code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.kv_cache().Length(1) == 3);
  CHECK(m.ForwardSegments(quiet, nullptr).ok());
  CHECK(m.kv_cache().Length(1) == 5);
}
