// The engine loop. Each iteration: take cancellations and admit waiting requests (under the
// lock), then outside the lock run one forward over every running sequence: a chunk of each new
// prompt (at most prefill_chunk prompt tokens in all) and the next token of each decoding one.
// Sequences are finished (callbacks, KV blocks freed) as soon as they stop, so their capacity is
// available to the next admission.
#include "realizar/scheduler.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "trueno/str_cat.h"

namespace realizar {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

struct Scheduler::Sequence {
  uint64_t id = 0;
  int seq_id = 0;  // KV cache sequence (the request id truncated; unique among running ones)
  GenerationRequest req;
  Sampler sampler;
  int blocks_needed = 0;
  int prefilled = 0;         // prompt tokens already in the cache
  int chunk = 0;             // prompt tokens in the current step
  int32_t pending = -1;      // sampled token not yet in the cache
  std::vector<int32_t> out;  // generated tokens
  Clock::time_point submitted, admitted, first_token;
  bool finished = false;

  explicit Sequence(GenerationRequest r) : req(std::move(r)), sampler(req.sampler) {}
  int Position() const { return static_cast<int>(req.prompt.size() + out.size()) - 1; }
};

Scheduler::Scheduler(Model& model, const SchedulerOptions& options)
    : model_(model), options_(options) {
  options_.max_batch = std::max(1, options_.max_batch);
  options_.max_queue = std::max(0, options_.max_queue);
  options_.prefill_chunk = std::max(1, options_.prefill_chunk);
  max_context_ = model.max_context();
  n_vocab_ = model.n_vocab();
  block_size_ = std::max(1, model.kv_cache().block_size());
  blocks_total_ = model.kv_cache().blocks_total();
  const char* prof = std::getenv("APR_SCHED_PROFILE");
  profile_.on = prof != nullptr && prof[0] == '1';
  if (const char* mixed = std::getenv("APR_SCHED_MIXED");
      mixed != nullptr && (mixed[0] == '0' || mixed[0] == '1')) {
    options_.mixed_prefill = mixed[0] == '1';
  }
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  Shutdown(false);
  if (profile_.on) PrintProfile();
}

void Scheduler::PrintProfile() const {
  const Profile& p = profile_;
  const double steps = static_cast<double>(std::max<int64_t>(1, p.steps));
  const double prompt_steps = static_cast<double>(std::max<int64_t>(1, p.prompt_steps));
  std::fprintf(stderr,
               "scheduler profile (%s prefill): %lld steps, mean decode rows %.2f: forward %.3f "
               "ms/step, sampling %.3f ms/step, token reports %.3f ms/step; %lld steps with "
               "prompt chunks (%lld chunks, %lld tokens): forward %.3f ms/step, %.3f s in all; "
               "waiting for work %.3f s\n",
               options_.mixed_prefill ? "mixed" : "separate", static_cast<long long>(p.steps),
               p.decode_rows / steps, 1e3 * p.forward_s / steps, 1e3 * p.sample_s / steps,
               1e3 * p.report_s / steps, static_cast<long long>(p.prompt_steps),
               static_cast<long long>(p.prompt_chunks), static_cast<long long>(p.prompt_tokens),
               1e3 * p.prompt_forward_s / prompt_steps, p.prompt_forward_s, p.wait_s);
}

absl::StatusOr<uint64_t> Scheduler::Submit(GenerationRequest request) {
  using trueno::Concat;
  const int prompt_len = static_cast<int>(request.prompt.size());
  if (prompt_len == 0) return absl::InvalidArgumentError("the prompt is empty");
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= n_vocab_) {
      return absl::InvalidArgumentError(
          Concat("prompt token id ", t, " is outside the vocabulary [0, ", n_vocab_, ")"));
    }
  }
  if (prompt_len >= max_context_) {
    return absl::InvalidArgumentError(Concat("the prompt has ", prompt_len,
                                             " tokens; the context length is ", max_context_,
                                             " (shorten the prompt or raise --ctx-size)"));
  }
  request.max_tokens = std::max(0, request.max_tokens);
  const int positions = std::min(max_context_, prompt_len + std::max(1, request.max_tokens));
  const int blocks = (positions + block_size_ - 1) / block_size_;
  if (blocks > blocks_total_) {
    return absl::InvalidArgumentError(
        Concat("the prompt (", prompt_len, " tokens) plus max_tokens (", request.max_tokens,
               ") needs ", blocks, " KV blocks; the pool has ", blocks_total_,
               " (lower max_tokens or raise --kv-blocks)"));
  }
  auto seq = std::make_unique<Sequence>(std::move(request));
  seq->blocks_needed = blocks;
  seq->submitted = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::FailedPreconditionError("the server is shutting down");
  // Free batch slots count as queue room: a request that can start at once is never rejected.
  const int room = options_.max_queue + std::max(0, options_.max_batch - running_count_);
  if (static_cast<int>(waiting_.size()) >= room) {
    return absl::ResourceExhaustedError(
        Concat("the wait queue is full (", options_.max_queue, " requests); retry later"));
  }
  seq->id = next_id_++;
  const uint64_t id = seq->id;
  waiting_.push_back(std::move(seq));
  cv_.notify_all();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_.insert(id);
  cv_.notify_all();
}

void Scheduler::SetPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  cv_.notify_all();
}

void Scheduler::Shutdown(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    drain_ = drain;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s;
  s.queued = static_cast<int>(waiting_.size());
  s.running = running_count_;
  s.kv_blocks_total = blocks_total_;
  s.kv_blocks_used = blocks_used_.load(std::memory_order_acquire);
  s.max_context = max_context_;
  s.prefill_tokens_run = prefill_tokens_run_.load(std::memory_order_relaxed);
  return s;
}

void Scheduler::Finish(Sequence& seq, FinishReason reason, absl::Status status) {
  if (seq.finished) return;
  seq.finished = true;
  model_.kv_cache().FreeSequence(seq.seq_id);
  reserved_blocks_ -= seq.blocks_needed;
  blocks_used_.store(model_.kv_cache().blocks_used(), std::memory_order_release);
  GenerationResult r;
  r.reason = reason;
  r.status = std::move(status);
  r.tokens = seq.out;
  r.prompt_tokens = static_cast<int>(seq.req.prompt.size());
  const auto now = Clock::now();
  r.queue_seconds = Seconds(seq.submitted, seq.admitted);
  r.ttft_seconds =
      seq.out.empty() ? Seconds(seq.submitted, now) : Seconds(seq.submitted, seq.first_token);
  r.total_seconds = Seconds(seq.submitted, now);
  if (seq.req.on_done) seq.req.on_done(r);
}

// Reports the sampled token `tok` (logits: the row it was sampled from) and decides whether the
// sequence goes on.
void Scheduler::Accept(Sequence& seq, int32_t tok, const float* logits) {
  std::span<const float> row(logits, static_cast<size_t>(n_vocab_));
  if (seq.out.empty()) seq.first_token = Clock::now();
  for (int32_t stop : seq.req.stop_tokens) {
    if (tok == stop) {
      Finish(seq, FinishReason::kStop);
      return;
    }
  }
  TokenEvent ev;
  ev.token = tok;
  ev.index = static_cast<int>(seq.out.size());
  if (seq.req.top_logprobs >= 0) {
    // log-softmax of the raw logits, in double for a stable normalizer.
    float mx = -std::numeric_limits<float>::infinity();
    for (float v : row) mx = std::max(mx, v);
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
    const double log_z = mx + std::log(sum);
    ev.logprob = static_cast<float>(row[tok] - log_z);
    const int k = std::min(seq.req.top_logprobs, n_vocab_);
    if (k > 0) {
      std::vector<int32_t> idx(static_cast<size_t>(n_vocab_));
      for (int i = 0; i < n_vocab_; ++i) idx[i] = i;
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
        return row[a] != row[b] ? row[a] > row[b] : a < b;
      });
      for (int i = 0; i < k; ++i) {
        ev.top_logprobs.emplace_back(idx[i], static_cast<float>(row[idx[i]] - log_z));
      }
    }
  }
  seq.out.push_back(tok);
  const bool go_on = seq.req.on_token ? seq.req.on_token(ev) : true;
  if (!go_on) {
    Finish(seq, FinishReason::kStop);
  } else if (static_cast<int>(seq.out.size()) >= seq.req.max_tokens ||
             seq.Position() + 1 >= max_context_) {
    Finish(seq, FinishReason::kLength);
  } else {
    seq.pending = tok;
  }
}

// Moves waiting requests into the running set while the batch has room and the KV pool can
// hold every running sequence's prompt + max_tokens.
void Scheduler::AdmitLocked() {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < options_.max_batch) {
    Sequence& next = *waiting_.front();
    if (reserved_blocks_ + next.blocks_needed > blocks_total_) break;
    std::unique_ptr<Sequence> seq = std::move(waiting_.front());
    waiting_.pop_front();
    seq->admitted = Clock::now();
    seq->seq_id = static_cast<int>(seq->id & 0x3fffffff);
    reserved_blocks_ += seq->blocks_needed;
    running_.push_back(std::move(seq));
  }
  running_count_ = static_cast<int>(running_.size());
}

bool Scheduler::Step() {
  // One forward for the whole iteration: a prompt chunk of each prefilling sequence (at most
  // prefill_chunk prompt tokens in total, shared out in admission order, so a burst of long
  // prompts delays the running streams by one chunk's worth of rows, not by one pass over the
  // weights per new request) and the pending token of every decoding sequence. Prompt chunks
  // come first (several-token chunks before single ones: the layout the GPU's tiled prefill
  // attention takes), then decode tokens. Logits come back for the decode tokens and for the
  // chunks that end their prompt, in segment order.
  int budget = options_.prefill_chunk;
  std::vector<Sequence*> prompts, decodes;
  for (auto& seq : running_) {
    if (seq->finished) continue;
    if (seq->prefilled < static_cast<int>(seq->req.prompt.size())) {
      if (budget <= 0) continue;
      if (seq->req.max_tokens == 0) {
        Finish(*seq, FinishReason::kLength);
        continue;
      }
      seq->chunk = std::min(budget, static_cast<int>(seq->req.prompt.size()) - seq->prefilled);
      budget -= seq->chunk;
      prompts.push_back(seq.get());
    } else if (seq->pending >= 0) {
      decodes.push_back(seq.get());
    }
  }
  std::stable_partition(prompts.begin(), prompts.end(), [](Sequence* q) { return q->chunk > 1; });
  std::vector<Sequence*> step = prompts;
  step.insert(step.end(), decodes.begin(), decodes.end());
  if (step.empty()) return !running_.empty();

  std::vector<Model::Segment> segments(step.size());
  std::vector<size_t> logit_row(step.size(), 0);
  size_t n_logits = 0;
  int prompt_tokens = 0;
  for (size_t i = 0; i < step.size(); ++i) {
    Sequence& seq = *step[i];
    Model::Segment& sg = segments[i];
    sg.seq_id = seq.seq_id;
    if (i < prompts.size()) {
      sg.start_pos = seq.prefilled;
      sg.tokens = std::span<const int32_t>(seq.req.prompt.data() + seq.prefilled,
                                           static_cast<size_t>(seq.chunk));
      sg.want_logits = seq.prefilled + seq.chunk == static_cast<int>(seq.req.prompt.size());
      prompt_tokens += seq.chunk;
    } else {
      sg.start_pos = seq.Position();
      sg.tokens = std::span<const int32_t>(&seq.pending, 1);
    }
    logit_row[i] = n_logits;
    if (sg.want_logits) ++n_logits;
  }
  const size_t vocab = static_cast<size_t>(n_vocab_);
  float* const logits = model_.LogitsBuffer(n_logits);  // page-locked on the GPU
  auto run = [&](size_t first, size_t count) {
    return model_.ForwardSegments(std::span(segments).subspan(first, count),
                                  logits + logit_row[first] * vocab);
  };
  const auto t0 = Clock::now();
  std::vector<absl::Status> status(step.size());
  if (options_.mixed_prefill) {
    absl::Status s = run(0, step.size());
    for (auto& st : status) st = s;
    if (!s.ok() && step.size() > 1) {
      // Find the segment at fault: run each alone so one bad request does not fail the others.
      for (size_t i = 0; i < step.size(); ++i) status[i] = run(i, 1);
    }
  } else {
    // Each prompt chunk in a forward of its own, then all decode tokens in one (the layout
    // before mixed steps; APR_SCHED_MIXED=0 selects it for A/B measurements).
    for (size_t i = 0; i < prompts.size(); ++i) status[i] = run(i, 1);
    if (!decodes.empty()) {
      absl::Status s = run(prompts.size(), decodes.size());
      for (size_t i = prompts.size(); i < step.size(); ++i) status[i] = s;
    }
  }
  const auto t1 = Clock::now();
  prefill_tokens_run_.fetch_add(prompt_tokens, std::memory_order_relaxed);

  std::vector<size_t> sample;  // steps that produce a token now
  for (size_t i = 0; i < step.size(); ++i) {
    Sequence& seq = *step[i];
    if (!status[i].ok()) {
      Finish(seq, FinishReason::kError, status[i]);
      continue;
    }
    if (i < prompts.size()) {
      seq.prefilled += seq.chunk;
    } else {
      seq.pending = -1;  // now in the cache
    }
    if (segments[i].want_logits) sample.push_back(i);
  }
  // Sampling is independent per sequence (each has its own seeded RNG), so the rows are sampled
  // in parallel; with a large vocabulary and temperature > 0 it costs as much as a decode step.
  // Reporting the tokens (callbacks, stop handling) stays sequential.
  std::vector<int32_t> sampled(sample.size());
  tbb::parallel_for(size_t{0}, sample.size(), [&](size_t j) {
    Sequence& seq = *step[sample[j]];
    std::span<const float> row(logits + logit_row[sample[j]] * vocab, vocab);
    sampled[j] = seq.sampler.Sample(row, seq.out);
  });
  const auto t2 = Clock::now();
  for (size_t j = 0; j < sample.size(); ++j) {
    Accept(*step[sample[j]], sampled[j], logits + logit_row[sample[j]] * vocab);
  }
  if (profile_.on) {
    Profile& p = profile_;
    p.forward_s += Seconds(t0, t1);
    p.sample_s += Seconds(t1, t2);
    p.report_s += Seconds(t2, Clock::now());
    ++p.steps;
    p.decode_rows += static_cast<int64_t>(decodes.size());
    if (!prompts.empty()) {
      ++p.prompt_steps;
      p.prompt_chunks += static_cast<int64_t>(prompts.size());
      p.prompt_tokens += prompt_tokens;
      p.prompt_forward_s += Seconds(t0, t1);
    }
  }
  return !running_.empty();
}

void Scheduler::Loop() {
  for (;;) {
    std::unordered_set<uint64_t> cancels;
    bool stop_now = false;
    bool paused = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto t0 = Clock::now();
      cv_.wait(lock, [&] {
        return stopping_ || !cancelled_.empty() ||
               (!paused_ && (!running_.empty() || !waiting_.empty()));
      });
      if (profile_.on) profile_.wait_s += Seconds(t0, Clock::now());
      paused = paused_ && !stopping_;
      cancels.swap(cancelled_);
      if (stopping_ && !drain_) stop_now = true;
      if (stopping_ && drain_ && running_.empty() && waiting_.empty()) stop_now = true;
      if (stop_now) {
        for (auto& w : waiting_) running_.push_back(std::move(w));
        waiting_.clear();
      } else {
        // Cancelled requests still waiting never start.
        for (auto it = waiting_.begin(); it != waiting_.end();) {
          if (cancels.count((*it)->id)) {
            running_.push_back(std::move(*it));
            it = waiting_.erase(it);
            running_.back()->admitted = Clock::now();
            running_.back()->seq_id = static_cast<int>(running_.back()->id & 0x3fffffff);
            reserved_blocks_ += running_.back()->blocks_needed;
          } else {
            ++it;
          }
        }
      }
    }
    for (auto& seq : running_) {
      if (stop_now || cancels.count(seq->id)) Finish(*seq, FinishReason::kCancelled);
    }
    if (!stop_now && !paused) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        AdmitLocked();
      }
      Step();
    }
    running_.erase(
        std::remove_if(running_.begin(), running_.end(), [](const auto& s) { return s->finished; }),
        running_.end());
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_count_ = static_cast<int>(running_.size());
      blocks_used_.store(model_.kv_cache().blocks_used(), std::memory_order_release);
    }
    if (stop_now) return;
  }
}

}  // namespace realizar
