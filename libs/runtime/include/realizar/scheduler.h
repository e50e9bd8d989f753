// Continuous batching over one Model: a single engine thread owns the model; requests join the
// running set between steps, and every step runs the decoding sequences' next tokens together
// with chunks of new prompts (long prompts take several steps) through one
// Model::ForwardSegments. Admission is bounded by KV capacity (blocks for prompt + max_tokens)
// and by a bounded wait queue. Each request samples with its own seeded RNG, so its output does
// not depend on what else is in the batch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "realizar/model.h"
#include "realizar/sampler.h"

namespace realizar {

struct SchedulerOptions {
  int max_batch = 8;   // sequences decoding at once
  int max_queue = 64;  // requests waiting for admission; more are rejected
  // Prompt tokens prefilled per engine iteration, over all new requests together; between two
  // iterations every running sequence decodes one token. Smaller: running streams stall less
  // when long prompts arrive; larger: faster time to first token.
  int prefill_chunk = 256;
  // Prompt chunks run in the same forward as the decode tokens (Model::ForwardSegments), so a
  // new request costs the running streams a few more rows instead of a pass over the weights.
  // False: each chunk in a forward of its own before the decode step. APR_SCHED_MIXED=0 / 1 in
  // the environment overrides this either way (A/B measurements).
  bool mixed_prefill = true;
};

enum class FinishReason {
  kStop,       // a stop token, or the token callback asked to stop (e.g. a stop string)
  kLength,     // max_tokens or the context length was reached
  kCancelled,  // Cancel() or Shutdown
  kError,      // the model failed; GenerationResult::status says why
};

struct TokenEvent {
  int32_t token = 0;
  int index = 0;         // 0-based position in the completion
  float logprob = 0.0f;  // log-softmax of the raw logits at the chosen token
  std::vector<std::pair<int32_t, float>> top_logprobs;  // when requested, most likely first
};

struct GenerationResult {
  FinishReason reason = FinishReason::kStop;
  absl::Status status;  // non-OK only with kError
  std::vector<int32_t> tokens;
  int prompt_tokens = 0;
  double queue_seconds = 0;  // submit -> admitted
  double ttft_seconds = 0;   // submit -> first token
  double total_seconds = 0;  // submit -> done
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplerParams sampler;
  int max_tokens = 16;
  std::vector<int32_t> stop_tokens;  // not included in the output
  int top_logprobs = -1;             // -1 = no logprobs; 0..20 = that many alternatives
  // Engine thread, per generated token; return false to finish with kStop after this token.
  std::function<bool(const TokenEvent&)> on_token;
  // Engine thread, exactly once per accepted request (also on cancel and shutdown).
  std::function<void(const GenerationResult&)> on_done;
};

struct SchedulerStats {
  int queued = 0;
  int running = 0;
  int kv_blocks_total = 0;
  int kv_blocks_used = 0;
  int max_context = 0;
  int64_t prefill_tokens_run = 0;  // prompt tokens prefilled since start (monotonic)
};

class Scheduler {
 public:
  // Starts the engine thread. The model must outlive the scheduler.
  Scheduler(Model& model, const SchedulerOptions& options);
  ~Scheduler();  // Shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request and returns its id. InvalidArgument: empty prompt, bad token id, or the
  // prompt does not fit the context / the whole KV pool. ResourceExhausted: the wait queue is
  // full (retry later). FailedPrecondition: shutting down.
  absl::StatusOr<uint64_t> Submit(GenerationRequest request);

  // Finishes the request with kCancelled at the next step boundary and frees its KV blocks.
  // Unknown or finished ids are ignored.
  void Cancel(uint64_t id);

  // Stops admitting; with drain, lets queued and running requests finish, otherwise cancels
  // them; then joins the engine thread. Idempotent.
  void Shutdown(bool drain = false);

  // While paused the engine admits and runs nothing (requests still queue up to the limit).
  // For maintenance and for tests that need a deterministic queue.
  void SetPaused(bool paused);

  SchedulerStats Stats() const;
  int max_context() const { return max_context_; }
  int n_vocab() const { return n_vocab_; }

 private:
  struct Sequence;
  void Loop();
  void AdmitLocked();
  bool Step();  // one forward: prompt chunks and decode tokens; false when idle
  void Accept(Sequence& seq, int32_t tok, const float* logits);
  void Finish(Sequence& seq, FinishReason reason, absl::Status status = absl::OkStatus());

  Model& model_;
  SchedulerOptions options_;
  int max_context_ = 0;
  int n_vocab_ = 0;
  int block_size_ = 1;
  int blocks_total_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> waiting_;  // guarded by mu_
  std::unordered_set<uint64_t> cancelled_;         // guarded by mu_
  uint64_t next_id_ = 1;                           // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  bool drain_ = false;                             // guarded by mu_
  bool paused_ = false;                            // guarded by mu_
  int running_count_ = 0;                          // guarded by mu_ (mirror for Stats)
  // Mirror of the cache's block count for Stats; stored by the engine thread in Finish before
  // the request's on_done runs, so a client that saw its stream end reads its blocks as freed.
  std::atomic<int> blocks_used_{0};
  std::atomic<int64_t> prefill_tokens_run_{0};  // written by the engine thread
  int reserved_blocks_ = 0;  // engine thread only: blocks promised to running sequences

  std::vector<std::unique_ptr<Sequence>> running_;  // engine thread only

  // APR_SCHED_PROFILE=1: where the engine thread's time goes (printed to stderr at shutdown).
  struct Profile {
    bool on = false;
    double wait_s = 0, forward_s = 0, prompt_forward_s = 0, sample_s = 0, report_s = 0;
    int64_t steps = 0, decode_rows = 0, prompt_steps = 0, prompt_chunks = 0, prompt_tokens = 0;
  };
  Profile profile_;  // engine thread only (read after it has joined)
  void PrintProfile() const;

  std::thread thread_;
};

}  // namespace realizar
