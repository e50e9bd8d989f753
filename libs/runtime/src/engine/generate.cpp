#include "realizar/generate.h"

#include <algorithm>

#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar {

absl::StatusOr<GenerateResult> Generate(Model& model, std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const TokenCallback& on_token) {
  if (prompt.empty()) return absl::InvalidArgumentError("Generate: the prompt is empty");
  if (static_cast<int>(prompt.size()) > model.max_context()) {
    return absl::ResourceExhaustedError(trueno::Concat(
        "Generate: the prompt has ", prompt.size(), " tokens, more than the context length ",
        model.max_context(), "; shorten it or raise the context"));
  }
  Sampler sampler(options.sampler);
  std::vector<float> logits(static_cast<size_t>(model.n_vocab()));
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  GenerateResult result;
  const int seq = options.seq_id;

  absl::Status status = model.Forward(prompt, seq, 0, logits.data());
  int pos = static_cast<int>(prompt.size());
  while (status.ok()) {
    if (static_cast<int>(result.tokens.size()) >= options.max_tokens) {
      result.reason = StopReason::kMaxTokens;
      break;
    }
    const int32_t tok = sampler.Sample(logits, history);
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), tok) !=
        options.stop_tokens.end()) {
      result.reason = StopReason::kStopToken;
      break;
    }
    result.tokens.push_back(tok);
    history.push_back(tok);
    if (on_token && !on_token(tok)) {
      result.reason = StopReason::kCallback;
      break;
    }
    if (static_cast<int>(result.tokens.size()) >= options.max_tokens) {
      result.reason = StopReason::kMaxTokens;
      break;
    }
    if (pos >= model.max_context()) {  // no room to run the token just sampled
      result.reason = StopReason::kContextFull;
      break;
    }
    const int32_t one[1] = {tok};
    status = model.Forward(one, seq, pos, logits.data());
    ++pos;
  }
  if (options.free_sequence) model.kv_cache().FreeSequence(seq);
  if (!status.ok()) return status;
  return result;
}

}  // namespace realizar
