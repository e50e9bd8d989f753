// Model::ForwardBatch against the independent path: N single-sequence Model::Forward calls at
// the same positions (each recomputes its own position after rewinding the cache).
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
