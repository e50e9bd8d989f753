// Chunked prefill under the per-iteration prompt-token budget: the outputs do not depend on the
// chunk size (greedy and seeded) nor on whether chunks share the decode step, and long prompts
// arriving while a stream decodes delay that stream by at most one chunk of prefill between two of
// its tokens (counted in prompt tokens run, not in time).
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <vector>

#include "realizar/scheduler.h"
#include "serve_support.h"

namespace {

using realizar::GenerationRequest;
using realizar::GenerationResult;
using realizar::Scheduler;

std::vector<int32_t> Prompt(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& x : p) x = static_cast<int32_t>(rng() % 256);
  return p;
}

struct Spec {
  int prompt_len;
  float temperature;
  uint64_t seed;
};

// Submits every spec while paused (so they are admitted together), runs them, returns tokens.
std::vector<std::vector<int32_t>> RunAll(realizar::Model& model, int chunk,
                                         const std::vector<Spec>& specs, bool mixed = true) {
  realizar::SchedulerOptions opt;
  opt.prefill_chunk = chunk;
  opt.mixed_prefill = mixed;
  opt.max_batch = 8;
  Scheduler s(model, opt);
  s.SetPaused(true);
  std::vector<std::future<GenerationResult>> futs;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto done = std::make_shared<std::promise<GenerationResult>>();
    futs.push_back(done->get_future());
    GenerationRequest r;
    r.prompt = Prompt(static_cast<uint32_t>(50 + i), specs[i].prompt_len);
    r.max_tokens = 12;
    r.sampler.temperature = specs[i].temperature;
    r.sampler.seed = specs[i].seed;
    r.on_done = [done](const GenerationResult& g) { done->set_value(g); };
    REQUIRE(s.Submit(std::move(r)).ok());
  }
  s.SetPaused(false);
  std::vector<std::vector<int32_t>> out;
  for (auto& f : futs) {
    REQUIRE(f.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
    out.push_back(f.get().tokens);
  }
  return out;
}

}  // namespace

TEST_CASE("Outputs are identical with chunked prefill on and off, greedy and seeded",
          "[scheduler][prefill]") {
  auto t = serve_test::MakeTestModel(31, 256);
  const std::vector<Spec> specs = {{90, 0.0f, 0}, {7, 0.9f, 11}, {130, 0.7f, 12}, {45, 0.0f, 0}};
  // 1000 >= every prompt: each prompt in one Forward (chunking off).
  const auto whole = RunAll(*t.model, 1000, specs);
  for (int chunk : {1, 16, 37}) {
    INFO("prefill_chunk " << chunk);
    const auto chunked = RunAll(*t.model, chunk, specs);
    for (size_t i = 0; i < specs.size(); ++i) {
      INFO("request " << i);
      CHECK(chunked[i].size() == 12);
      CHECK(chunked[i] == whole[i]);
    }
  }
}

TEST_CASE("Outputs are identical with prompt chunks inside the decode step and apart",
          "[scheduler][prefill]") {
  auto t = serve_test::MakeTestModel(33, 256);
  // Prompts of 1..130 tokens: chunks of several tokens, single-token chunks and decode tokens
  // share steps; the separate layout runs each chunk in a forward of its own.
  const std::vector<Spec> specs = {{1, 0.0f, 0},    {90, 0.0f, 0}, {7, 0.9f, 11},
                                   {130, 0.7f, 12}, {17, 0.0f, 0}, {2, 0.8f, 5}};
  for (int chunk : {16, 1000}) {
    INFO("prefill_chunk " << chunk);
    const auto apart = RunAll(*t.model, chunk, specs, false);
    const auto mixed = RunAll(*t.model, chunk, specs, true);
    for (size_t i = 0; i < specs.size(); ++i) {
      INFO("request " << i);
      CHECK(mixed[i].size() == 12);
      CHECK(mixed[i] == apart[i]);
    }
  }
}

TEST_CASE("Long prompts arriving together stall a running stream by at most one chunk",
          "[scheduler][prefill]") {
  auto t = serve_test::MakeTestModel(32, 256);
  realizar::SchedulerOptions opt;
  opt.prefill_chunk = 16;
  opt.max_batch = 8;
  Scheduler s(*t.model, opt);

  // The running stream: records the prefill counter at each of its tokens.
  std::vector<int64_t> prefill_at_token;
  // At its third token the stream (engine thread) waits until the long prompts are queued, so
  // they arrive while it runs however fast the tiny model is.
  std::promise<void> started, submitted;
  auto submitted_fut = submitted.get_future();
  auto stream_done = std::make_shared<std::promise<GenerationResult>>();
  auto stream_fut = stream_done->get_future();
  GenerationRequest a;
  a.prompt = Prompt(1, 5);
  a.max_tokens = 60;
  a.sampler.temperature = 0.0f;
  a.on_token = [&](const realizar::TokenEvent&) {
    prefill_at_token.push_back(s.Stats().prefill_tokens_run);
    if (prefill_at_token.size() == 3) {
      started.set_value();
      submitted_fut.wait();
    }
    return true;
  };
  a.on_done = [stream_done](const GenerationResult& g) { stream_done->set_value(g); };
  REQUIRE(s.Submit(std::move(a)).ok());
  started.get_future().wait();

  // Three 100-token prompts at once: 300 prompt tokens = 19 chunks of 16.
  std::vector<std::future<GenerationResult>> futs;
  for (uint32_t i = 0; i < 3; ++i) {
    auto done = std::make_shared<std::promise<GenerationResult>>();
    futs.push_back(done->get_future());
    GenerationRequest r;
    r.prompt = Prompt(200 + i, 100);
    r.max_tokens = 4;
    r.sampler.temperature = 0.0f;
    r.on_done = [done](const GenerationResult& g) { done->set_value(g); };
    REQUIRE(s.Submit(std::move(r)).ok());
  }
  submitted.set_value();
  for (auto& f : futs) {
    REQUIRE(f.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
    CHECK(f.get().tokens.size() == 4);
  }
  REQUIRE(stream_fut.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
  CHECK(stream_fut.get().tokens.size() == 60);
  REQUIRE(prefill_at_token.size() == 60);
  CHECK(prefill_at_token.back() == 5 + 300);
  int64_t worst = 0;
  for (size_t i = 1; i < prefill_at_token.size(); ++i) {
    worst = std::max(worst, prefill_at_token[i] - prefill_at_token[i - 1]);
  }
  INFO("most prompt tokens prefilled between two tokens of the stream: " << worst);
  CHECK(worst <= opt.prefill_chunk);
  CHECK(worst > 0);  // the prompts really were prefilled while the stream ran
}
