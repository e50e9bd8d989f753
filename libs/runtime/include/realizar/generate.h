// A simple generation loop over one sequence: prefill the prompt as a batch, then sample and
// decode one token at a time until a stop token, max_tokens, the callback, or a full context.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "realizar/model.h"
#include "realizar/sampler.h"

namespace realizar {

struct GenerateOptions {
  int max_tokens = 128;              // generated tokens at most
  std::vector<int32_t> stop_tokens;  // e.g. EOS; the stop token itself is not returned
  SamplerParams sampler;
  int seq_id = 0;
  bool free_sequence = true;  // release the sequence's KV blocks when done
};

enum class StopReason {
  kStopToken,    // a stop token was sampled
  kMaxTokens,    // max_tokens were generated
  kContextFull,  // the context length was reached: the output is truncated there
  kCallback,     // the callback returned false
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated tokens (without the prompt and the stop token)
  StopReason reason = StopReason::kMaxTokens;
};

// Called with each generated token as soon as it is sampled; return false to stop.
using TokenCallback = std::function<bool(int32_t token)>;

// Errors: InvalidArgument (empty prompt, bad token id), ResourceExhausted (the prompt alone does
// not fit the context or the KV pool). A context that fills up during generation is not an
// error: generation stops with StopReason::kContextFull.
absl::StatusOr<GenerateResult> Generate(Model& model, std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const TokenCallback& on_token = nullptr);

}  // namespace realizar
