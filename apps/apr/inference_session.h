// What the inference subcommands (run, chat, pass, tokenize, perplexity, bench) share: loading a
// model with its tokenizer and chat template (a spinner on stderr while that happens, only when
// stderr is a terminal), choosing the thread count, turning a prompt into ids, and one
// generation loop that streams tokens and measures prefill and decode separately.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/model_file.h"
#include "realizar/chat_template.h"
#include "realizar/model.h"
#include "realizar/sampler.h"
#include "realizar/tokenizer.h"

namespace apr_cli {

// "⠋ label" animated on stderr until Stop() or destruction; draws nothing (and starts no
// thread) when stderr is not a terminal.
class Spinner {
 public:
  explicit Spinner(std::string label);
  ~Spinner();
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  void Stop();  // erases the line

 private:
  std::string label_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sets the CPU kernels' thread count to `requested` when > 0, else to their default (every CPU
// this process may run on), and returns it.
int ChooseThreads(int requested);

// Backend flags shared by run, chat, pass, bench and serve: the GPU is used by default when this
// build has CUDA, a device exists and the model fits (--verbose says which backend ran and why).
struct GpuFlags {
  bool gpu = false;     // --gpu: require the GPU (fail clearly without one)
  bool no_gpu = false;  // --no-gpu: run on the CPU
  int gpu_layers = -1;  // --gpu-layers N: -1 = all, 0 = none, else the last N layers
  int gpu_device = 0;   // --gpu-device
  bool mmap = false;    // --mmap: the CPU reads weights through the file mapping (no copy)
};
void AddGpuFlags(CLI::App* cmd, GpuFlags& flags);
// Copies the flags into `mo` (backend, device, layers); InvalidArgument names a bad combination.
absl::Status ApplyGpuFlags(const GpuFlags& flags, realizar::ModelOptions& mo);

struct SessionOptions {
  std::string model_path;
  GpuFlags gpu;
  bool verbose = false;    // print the backend the model runs on to stderr after loading
  int threads = 0;         // 0 = ChooseThreads(0)
  int ctx_size = 0;        // 0 = the model's training context (at most 4096)
  bool need_model = true;  // false: tokenizer only (apr tokenize)
};

enum class FinishReason { kStop, kLength, kContextFull, kInterrupted };
// "stop", "length", "context", "interrupted".
const char* FinishReasonName(FinishReason r);

struct GenerationParams {
  int max_tokens = 256;
  realizar::SamplerParams sampler;
};

struct GenerationStats {
  int prompt_tokens = 0;       // tokens given as the prompt
  int prefill_tokens = 0;      // of those, tokens actually run (the rest were cached)
  double prefill_s = 0;        // prompt forward pass
  double ttft_s = 0;           // start -> first token sampled
  double decode_s = 0;         // all single-token steps (forward + sample)
  int decode_steps = 0;        // single-token forward passes
  std::vector<double> step_s;  // each decode step
};

struct Generation {
  std::vector<int32_t> ids;  // generated ids, without the stop token
  FinishReason reason = FinishReason::kLength;
  GenerationStats stats;
};

// Called with each generated id as soon as it is sampled; return false to stop (kInterrupted).
using OnToken = std::function<bool(int32_t id)>;

class InferenceSession {
 public:
  // Loads the model (unless !need_model), its tokenizer and chat template, sets the thread
  // count. Errors name the path.
  static absl::StatusOr<std::unique_ptr<InferenceSession>> Load(const SessionOptions& options);

  const aprender::ModelFile& file() const { return model_ ? model_->file() : file_; }
  realizar::Model& model() { return *model_; }
  const realizar::Tokenizer& tokenizer() const { return *tokenizer_; }
  int threads() const { return threads_; }
  double load_s() const { return load_s_; }
  std::string architecture() const;
  int context() const { return model_ ? model_->max_context() : 0; }
  // Where the model runs (realizar::Model::backend_description), "none" without a model.
  std::string backend() const { return model_ ? model_->backend_description() : "none"; }

  // True when the file carries tokenizer.chat_template.
  bool has_chat_template() const { return !chat_template_.empty(); }
  // The conversation rendered with the model's template (or the built-in DetectBuiltin picks),
  // with the assistant generation prompt appended.
  absl::StatusOr<std::string> RenderChat(const std::vector<realizar::ChatMessage>& messages) const;

  // Prompt ids. Chat text (already rendered) parses special tokens and gets BOS only when the
  // vocabulary asks for it and the text does not already start with it; raw text gets the
  // vocabulary's BOS rule and no special-token parsing.
  std::vector<int32_t> EncodePrompt(const std::string& text, bool chat) const;

  // Ids that end generation (Tokenizer::IsEog).
  bool IsStop(int32_t id) const { return tokenizer_->IsEog(id); }

  // Generates after `prompt` on sequence 0. The cache keeps what it computed, so a prompt that
  // extends the previous prompt + reply (a chat turn) only runs its new suffix. A prompt that
  // leaves no room for one generated token is InvalidArgument ("prompt is N tokens, context
  // holds M").
  absl::StatusOr<Generation> Generate(std::span<const int32_t> prompt,
                                      const GenerationParams& params, const OnToken& on_token);

  // Forgets the cached sequence.
  void ResetCache();

 private:
  InferenceSession() = default;

  aprender::ModelFile file_;  // only when the model is not loaded (tokenizer only)
  std::unique_ptr<realizar::Model> model_;
  std::optional<realizar::Tokenizer> tokenizer_;
  std::string chat_template_;
  realizar::ChatTemplateKind builtin_ = realizar::ChatTemplateKind::kChatML;
  int threads_ = 1;
  double load_s_ = 0;
  std::vector<int32_t> cached_;  // tokens whose K/V sequence 0 holds
};

// Flags shared by run, chat and pass. Defaults follow llama.cpp's (temperature 0.8, top-k 40,
// top-p 0.95, min-p 0.05, no repetition penalty); the seed is random unless given.
struct GenerationFlags {
  int max_tokens = 256;
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  std::optional<uint64_t> seed;
  int threads = 0;
  int ctx_size = 0;
  GpuFlags gpu;
};
void AddGenerationFlags(CLI::App* cmd, GenerationFlags& flags);
// Validated parameters (InvalidArgument names the flag); draws the seed when none was given.
absl::StatusOr<GenerationParams> ToGenerationParams(const GenerationFlags& flags);

// apr run / apr pass: one completion, streamed to stdout (or one JSON object).
struct CompletionOptions {
  std::string path;
  std::string prompt;  // "-" = stdin
  std::string system;
  bool chat = false;
  bool raw = false;
  bool verbose = false;
  bool json = false;
  bool echo = false;
  std::string trace;  // --trace FILE (apr run): per-stage JSON trace; "" = none
  GenerationFlags gen;
};
// Exit status; errors are printed as one line. Without allow_chat the prompt is always raw.
int RunCompletion(const CompletionOptions& options, bool allow_chat);

// Whole of stdin.
std::string ReadAllStdin();

// Monotonic seconds.
double NowSeconds();

}  // namespace apr_cli
