// Scheduler behaviour: greedy output equals the engine's single-sequence Generate (an
// independent path through Model::Forward), per-request determinism inside a batch, chunked
// prefill, KV-capacity admission, the bounded queue, and cancellation freeing KV blocks.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "realizar/generate.h"
#include "realizar/scheduler.h"
#include "serve_support.h"

namespace {

using realizar::FinishReason;
using realizar::GenerationRequest;
using realizar::GenerationResult;
using realizar::Scheduler;

std::vector<int32_t> Prompt(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& x : p) x = static_cast<int32_t>(rng() % 256);
  return p;
}

GenerationRequest Req(std::vector<int32_t> prompt, int max_tokens, float temperature, uint64_t seed,
                      std::shared_ptr<std::promise<GenerationResult>> done) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampler.temperature = temperature;
  r.sampler.seed = seed;
  r.on_done = [done](const GenerationResult& g) { done->set_value(g); };
  return r;
}

GenerationResult RunAlone(Scheduler& s, GenerationRequest r) {
  auto done = std::make_shared<std::promise<GenerationResult>>();
  auto fut = done->get_future();
  r.on_done = [done](const GenerationResult& g) { done->set_value(g); };
  REQUIRE(s.Submit(std::move(r)).ok());
  REQUIRE(fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  return fut.get();
}

}  // namespace

TEST_CASE("Scheduler greedy output equals Generate, with chunked prefill", "[scheduler]") {
  auto t = serve_test::MakeTestModel(21, 256);
  const auto prompt = Prompt(1, 70);
  realizar::GenerateOptions g;
  g.max_tokens = 20;
  g.sampler.temperature = 0;
  auto ref = realizar::Generate(*t.model, prompt, g);
  REQUIRE(ref.ok());
  realizar::SchedulerOptions opt;
  opt.prefill_chunk = 16;  // 70 tokens -> 5 chunks
  Scheduler s(*t.model, opt);
  auto r = RunAlone(s, Req(prompt, 20, 0.0f, 0, nullptr));
  CHECK(r.reason == FinishReason::kLength);
  CHECK(r.prompt_tokens == 70);
  CHECK(r.tokens == ref->tokens);
}

TEST_CASE("A seeded request samples the same tokens alone and inside a batch of 16",
          "[scheduler]") {
  auto t = serve_test::MakeTestModel(22, 256);
  realizar::SchedulerOptions opt;
  opt.max_batch = 16;
  Scheduler s(*t.model, opt);
  std::vector<std::vector<int32_t>> alone;
  for (uint32_t i = 0; i < 16; ++i) {
    alone.push_back(
        RunAlone(s, Req(Prompt(100 + i, 5 + 3 * i), 24, 0.9f, 1000 + i, nullptr)).tokens);
    REQUIRE(alone.back().size() == 24);
  }
  // All sixteen at once (paused while submitting, so they are admitted into one batch).
  s.SetPaused(true);
  std::vector<std::future<GenerationResult>> futs;
  for (uint32_t i = 0; i < 16; ++i) {
    auto done = std::make_shared<std::promise<GenerationResult>>();
    futs.push_back(done->get_future());
    REQUIRE(s.Submit(Req(Prompt(100 + i, 5 + 3 * i), 24, 0.9f, 1000 + i, done)).ok());
  }
  CHECK(s.Stats().queued == 16);
  s.SetPaused(false);
  for (uint32_t i = 0; i < 16; ++i) {
    REQUIRE(futs[i].wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    INFO("request " << i);
    CHECK(futs[i].get().tokens == alone[i]);
  }
  CHECK(t.model->kv_cache().blocks_used() == 0);
}

TEST_CASE("Admission waits for KV capacity instead of failing", "[scheduler]") {
  // 6 blocks of 16 positions: each request needs ceil((10 + 40) / 16) = 4 blocks, so only one
  // runs at a time; the other five wait and all six finish.
  auto t = serve_test::MakeTestModel(23, 128, 6);
  Scheduler s(*t.model, {});
  std::vector<std::future<GenerationResult>> futs;
  for (uint32_t i = 0; i < 6; ++i) {
    auto done = std::make_shared<std::promise<GenerationResult>>();
    futs.push_back(done->get_future());
    REQUIRE(s.Submit(Req(Prompt(i, 10), 40, 0.5f, i, done)).ok());
  }
  for (auto& f : futs) {
    REQUIRE(f.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    auto r = f.get();
    CHECK(r.reason == FinishReason::kLength);
    CHECK(r.tokens.size() == 40);
  }
  // A request that can never fit the pool (min(100 + 100, 128 context) -> 8 blocks) is refused.
  CHECK(s.Submit(Req(Prompt(9, 100), 100, 0.5f, 0, nullptr)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(t.model->kv_cache().blocks_used() == 0);
}

TEST_CASE("The wait queue is bounded and cancellation frees KV blocks", "[scheduler]") {
  auto t = serve_test::MakeTestModel(24, 256);
  realizar::SchedulerOptions opt;
  opt.max_batch = 1;
  opt.max_queue = 1;
  Scheduler s(*t.model, opt);
  s.SetPaused(true);
  // Room = max_queue + free batch slots = 2.
  auto d1 = std::make_shared<std::promise<GenerationResult>>();
  auto d2 = std::make_shared<std::promise<GenerationResult>>();
  auto f1 = d1->get_future();
  auto f2 = d2->get_future();
  auto id1 = s.Submit(Req(Prompt(1, 8), 200, 1.0f, 1, d1));
  auto id2 = s.Submit(Req(Prompt(2, 8), 5, 1.0f, 2, d2));
  REQUIRE(id1.ok());
  REQUIRE(id2.ok());
  CHECK(s.Submit(Req(Prompt(3, 8), 5, 1.0f, 3, nullptr)).status().code() ==
        absl::StatusCode::kResourceExhausted);
  s.Cancel(*id1);
  s.SetPaused(false);
  REQUIRE(f1.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  CHECK(f1.get().reason == FinishReason::kCancelled);
  REQUIRE(f2.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  CHECK(f2.get().tokens.size() == 5);
  CHECK(t.model->kv_cache().blocks_used() == 0);
}

TEST_CASE("A token callback returning false stops the sequence and frees its blocks",
          "[scheduler]") {
  auto t = serve_test::MakeTestModel(25, 256);
  Scheduler s(*t.model, {});
  auto r = Req(Prompt(4, 12), 100, 1.0f, 7, nullptr);
  int seen = 0;
  r.on_token = [&](const realizar::TokenEvent& ev) {
    ++seen;
    return ev.index < 4;
  };
  auto g = RunAlone(s, std::move(r));
  CHECK(g.reason == FinishReason::kStop);
  CHECK(g.tokens.size() == 5);
  CHECK(seen == 5);
  CHECK(t.model->kv_cache().blocks_used() == 0);
}
