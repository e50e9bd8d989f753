// The generation loop: greedy output equals the float64 reference's greedy decoding; stop
// token, max_tokens, callback and context-full endings.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "realizar/generate.h"
#include "reference_forward.h"
#include "synth_model.h"

namespace {

std::unique_ptr<realizar::Model> MakeModel(apr_test::SynthModel& synth, int max_context) {
  realizar::ModelOptions opt;
  opt.max_context = max_context;
  return std::move(realizar::Model::Create(synth.file, synth.config, opt).value());
}

const std::vector<int32_t> kPrompt = {4, 8, 15, 16, 23, 42};

}  // namespace

TEST_CASE("Greedy generation equals the float64 reference's greedy tokens", "[generate]") {
  apr_test::SynthSpec spec;
  spec.seed = 77;
  auto synth = apr_test::MakeSynthModel(spec);
  auto model = MakeModel(synth, 64);
  realizar::GenerateOptions opt;
  opt.max_tokens = 12;
  opt.sampler.temperature = 0.0f;
  std::vector<int32_t> streamed;
  auto r = realizar::Generate(*model, kPrompt, opt, [&](int32_t t) {
    streamed.push_back(t);
    return true;
  });
  REQUIRE(r.ok());
  CHECK(r->reason == realizar::StopReason::kMaxTokens);
  CHECK(r->tokens == streamed);
  auto ref = apr_test::LoadRefModel(synth.file, synth.config).value();
  CHECK(r->tokens == apr_test::ReferenceGreedy(ref, kPrompt, 12));
  CHECK(model->kv_cache().blocks_used() == 0);  // the sequence was freed
}

TEST_CASE("Generation stops at a stop token, on the callback, and when the context is full",
          "[generate]") {
  apr_test::SynthSpec spec;
  spec.seed = 78;
  auto synth = apr_test::MakeSynthModel(spec);
  auto model = MakeModel(synth, 10);
  realizar::GenerateOptions opt;
  opt.sampler.temperature = 0.0f;
  opt.max_tokens = 100;
  auto r = realizar::Generate(*model, kPrompt, opt);
  REQUIRE(r.ok());
  // 6 prompt positions + 4 generated fill the 10-position context; the 5th generated token is
  // sampled from the last logits and returned, then generation stops (documented truncation).
  CHECK(r->reason == realizar::StopReason::kContextFull);
  CHECK(r->tokens.size() == 5);

  // Stop on the third token's id: output ends just before its first occurrence.
  opt.stop_tokens = {r->tokens[2]};
  const auto first = std::find(r->tokens.begin(), r->tokens.end(), r->tokens[2]);
  auto s = realizar::Generate(*model, kPrompt, opt);
  REQUIRE(s.ok());
  CHECK(s->reason == realizar::StopReason::kStopToken);
  CHECK(s->tokens == std::vector<int32_t>(r->tokens.begin(), first));

  opt.stop_tokens.clear();
  int calls = 0;
  auto c = realizar::Generate(*model, kPrompt, opt, [&](int32_t) { return ++calls < 3; });
  REQUIRE(c.ok());
  CHECK(c->reason == realizar::StopReason::kCallback);
  CHECK(c->tokens.size() == 3);

  const std::vector<int32_t> long_prompt(11, 1);
  CHECK(realizar::Generate(*model, long_prompt, opt).status().code() ==
        absl::StatusCode::kResourceExhausted);
  CHECK(realizar::Generate(*model, {}, opt).status().code() == absl::StatusCode::kInvalidArgument);
}
