#include "inference_session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>

#include "cli_util.h"
#include "trueno/kernels.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace apr_cli {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string ReadAllStdin() {
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

Spinner::Spinner(std::string label) : label_(std::move(label)) {
  if (!isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    static const char* const kFrames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
    int i = 0;
    while (!stop_.load()) {
      std::fprintf(stderr, "\r%s %s", kFrames[i++ % 10], label_.c_str());
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  });
}

Spinner::~Spinner() { Stop(); }

void Spinner::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

int ChooseThreads(int requested) {
  // The kernels' default (oneTBB's concurrency: the CPUs this process may run on).
  trueno::SetNumThreads(requested > 0 ? requested : 0);
  return trueno::NumThreads();
}

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kContextFull:
      return "context";
    case FinishReason::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<InferenceSession>> InferenceSession::Load(
    const SessionOptions& options) {
  std::unique_ptr<InferenceSession> s(new InferenceSession());
  const double t0 = NowSeconds();
  Spinner spinner("loading " + options.model_path);
  APR_ASSIGN_OR_RETURN(aprender::ModelFile file, LoadModel(options.model_path));
  auto tokenizer = realizar::Tokenizer::FromMetadata(file.metadata);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        trueno::Concat(options.model_path, ": ", tokenizer.status().message()));
  }
  s->tokenizer_.emplace(std::move(*tokenizer));
  if (auto t = file.metadata.GetStringOr("tokenizer.chat_template")) s->chat_template_ = *t;
  s->builtin_ = realizar::DetectBuiltin(file.metadata);
  s->threads_ = ChooseThreads(options.threads);
  if (options.need_model) {
    if (options.ctx_size < 0) {
      return absl::InvalidArgumentError(
          trueno::Concat("--ctx-size must be positive, got ", options.ctx_size));
    }
    realizar::ModelOptions mo;
    mo.max_context = options.ctx_size;
    APR_RETURN_IF_ERROR(ApplyGpuFlags(options.gpu, mo));
    auto model = realizar::Model::FromFile(std::move(file), mo);
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          trueno::Concat(options.model_path, ": ", model.status().message()));
    }
    s->model_ = std::move(*model);
    if (options.verbose) {
      spinner.Stop();
      std::fprintf(stderr, "backend: %s\n", s->model_->backend_description().c_str());
    }
  } else {
    s->file_ = std::move(file);
  }
  spinner.Stop();
  s->load_s_ = NowSeconds() - t0;
  return s;
}

std::string InferenceSession::architecture() const {
  return file().metadata.GetStringOr("general.architecture").value_or("unknown");
}

absl::StatusOr<std::string> InferenceSession::RenderChat(
    const std::vector<realizar::ChatMessage>& messages) const {
  const realizar::Tokenizer& tok = *tokenizer_;
  const std::string bos(tok.bos_id() >= 0 ? tok.TokenPiece(tok.bos_id()) : "");
  const std::string eos(tok.eos_id() >= 0 ? tok.TokenPiece(tok.eos_id()) : "");
  if (!chat_template_.empty()) {
    return realizar::RenderChat(chat_template_, messages, true, bos, eos);
  }
  return realizar::RenderBuiltin(builtin_, messages, true, bos, eos);
}

std::vector<int32_t> InferenceSession::EncodePrompt(const std::string& text, bool chat) const {
  const realizar::Tokenizer& tok = *tokenizer_;
  if (!chat) return tok.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  std::vector<int32_t> ids = tok.Encode(text, /*add_special=*/false, /*parse_special=*/true);
  // Templates that write {{ bos_token }} themselves already start with BOS.
  if (tok.add_bos() && tok.bos_id() >= 0 && (ids.empty() || ids.front() != tok.bos_id())) {
    ids.insert(ids.begin(), tok.bos_id());
  }
  return ids;
}

void AddGpuFlags(CLI::App* cmd, GpuFlags& f) {
  cmd->add_flag("--gpu", f.gpu, "run on the GPU; fail if there is none (default: GPU when usable)");
  cmd->add_flag("--no-gpu", f.no_gpu, "run on the CPU even when a GPU is usable");
  cmd->add_option("--gpu-layers", f.gpu_layers,
                  "layers to offload to the GPU (default all; 0 = none; N < the layer count puts "
                  "the last N layers and the head on the GPU, the rest on the CPU)");
  cmd->add_option("--gpu-device", f.gpu_device, "CUDA device index (default 0)");
  cmd->add_flag("--mmap", f.mmap,
                "CPU: read the weights through the file mapping instead of copying them into "
                "memory at load (less memory when several processes share the file; slower "
                "decode on machines where streaming mapped pages stalls)");
}

absl::Status ApplyGpuFlags(const GpuFlags& f, realizar::ModelOptions& mo) {
  if (f.gpu && f.no_gpu) return absl::InvalidArgumentError("--gpu and --no-gpu exclude each other");
  if (f.gpu_layers < -1) {
    return absl::InvalidArgumentError(
        trueno::Concat("--gpu-layers must be >= 0 (or -1 for all), got ", f.gpu_layers));
  }
  if (f.gpu_device < 0) {
    return absl::InvalidArgumentError(
        trueno::Concat("--gpu-device must be >= 0, got ", f.gpu_device));
  }
  using Backend = realizar::ModelOptions::Backend;
  mo.backend = f.no_gpu ? Backend::kCpu : (f.gpu ? Backend::kGpu : Backend::kAuto);
  mo.gpu_layers = f.gpu_layers;
  mo.gpu_device = f.gpu_device;
  mo.mmap_weights = f.mmap;
  return absl::OkStatus();
}

void AddGenerationFlags(CLI::App* cmd, GenerationFlags& f) {
  AddGpuFlags(cmd, f.gpu);
  cmd->add_option("-n,--max-tokens", f.max_tokens, "tokens to generate at most (default 256)");
  cmd->add_option("--temperature,--temp", f.temperature,
                  "sampling temperature; 0 = greedy (default 0.8)");
  cmd->add_option("--top-k", f.top_k, "keep the k most likely tokens; 0 = off (default 40)");
  cmd->add_option("--top-p", f.top_p, "nucleus sampling mass; 1 = off (default 0.95)");
  cmd->add_option("--min-p", f.min_p, "drop tokens below min-p x p(best); 0 = off (default 0.05)");
  cmd->add_option("--repeat-penalty", f.repeat_penalty, "repetition penalty; 1 = off (default 1)");
  cmd->add_option("--repeat-last-n", f.repeat_last_n,
                  "tokens the penalty looks back on (default 64)");
  cmd->add_option("--seed", f.seed, "random seed (default: random)");
  cmd->add_option("-t,--threads", f.threads, "CPU threads (default: every available CPU)");
  cmd->add_option("-c,--ctx-size", f.ctx_size,
                  "context length (default: the model's, at most 4096)");
}

absl::StatusOr<GenerationParams> ToGenerationParams(const GenerationFlags& f) {
  if (f.max_tokens < 0) {
    return absl::InvalidArgumentError(
        trueno::Concat("--max-tokens must be >= 0, got ", f.max_tokens));
  }
  if (f.top_k < 0)
    return absl::InvalidArgumentError(trueno::Concat("--top-k must be >= 0, got ", f.top_k));
  if (!(f.top_p > 0.0f && f.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(trueno::Concat("--top-p must be in (0, 1], got ", f.top_p));
  }
  if (!(f.min_p >= 0.0f && f.min_p <= 1.0f)) {
    return absl::InvalidArgumentError(trueno::Concat("--min-p must be in [0, 1], got ", f.min_p));
  }
  if (!(f.repeat_penalty > 0.0f)) {
    return absl::InvalidArgumentError(
        trueno::Concat("--repeat-penalty must be > 0, got ", f.repeat_penalty));
  }
  if (!(f.temperature >= 0.0f)) {
    return absl::InvalidArgumentError(
        trueno::Concat("--temperature must be >= 0, got ", f.temperature));
  }
  if (f.threads < 0)
    return absl::InvalidArgumentError(trueno::Concat("--threads must be >= 0, got ", f.threads));
  GenerationParams p;
  p.max_tokens = f.max_tokens;
  p.sampler.temperature = f.temperature;
  p.sampler.top_k = f.top_k;
  p.sampler.top_p = f.top_p;
  p.sampler.min_p = f.min_p;
  p.sampler.repetition_penalty = f.repeat_penalty;
  p.sampler.penalty_last_n = f.repeat_last_n;
  if (f.seed) {
    p.sampler.seed = *f.seed;
  } else {
    std::random_device rd;
    p.sampler.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  return p;
}

void InferenceSession::ResetCache() {
  if (model_ && model_->kv_cache().HasSequence(0)) model_->kv_cache().FreeSequence(0);
  cached_.clear();
}

absl::StatusOr<Generation> InferenceSession::Generate(std::span<const int32_t> prompt,
                                                      const GenerationParams& params,
                                                      const OnToken& on_token) {
  realizar::Model& model = *model_;
  const int ctx = model.max_context();
  const int n_prompt = static_cast<int>(prompt.size());
  if (n_prompt == 0) return absl::InvalidArgumentError("the prompt is empty (0 tokens)");
  if (n_prompt >= ctx) {
    return absl::InvalidArgumentError(trueno::Concat(
        "prompt too long: the prompt is ", n_prompt, " tokens but the context holds ", ctx,
        " (and needs room for at least one generated token); shorten the "
        "prompt or raise --ctx-size"));
  }
  Generation g;
  g.stats.prompt_tokens = n_prompt;

  // Reuse the cached prefix; at least the last prompt token runs, for its logits.
  size_t keep = 0;
  while (keep < cached_.size() && keep < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
  keep = std::min(keep, prompt.size() - 1);

  realizar::Sampler sampler(params.sampler);
  std::vector<float> logits(static_cast<size_t>(model.n_vocab()));
  std::vector<int32_t> history(prompt.begin(), prompt.end());

  const double t0 = NowSeconds();
  cached_.clear();  // unknown until the forward pass succeeds
  absl::Status st = model.Forward(prompt.subspan(keep), 0, static_cast<int>(keep), logits.data());
  if (!st.ok()) {
    ResetCache();
    return st;
  }
  cached_.assign(prompt.begin(), prompt.end());
  g.stats.prefill_tokens = n_prompt - static_cast<int>(keep);
  g.stats.prefill_s = NowSeconds() - t0;

  int pos = n_prompt;
  bool first = true;
  double step_start = NowSeconds();
  while (true) {
    if (static_cast<int>(g.ids.size()) >= params.max_tokens) {
      g.reason = FinishReason::kLength;
      break;
    }
    const int32_t id = sampler.Sample(logits, history);
    if (first) {
      g.stats.ttft_s = NowSeconds() - t0;
      first = false;
    }
    if (IsStop(id)) {
      g.reason = FinishReason::kStop;
      break;
    }
    g.ids.push_back(id);
    history.push_back(id);
    if (on_token && !on_token(id)) {
      g.reason = FinishReason::kInterrupted;
      break;
    }
    if (static_cast<int>(g.ids.size()) >= params.max_tokens) {
      g.reason = FinishReason::kLength;
      break;
    }
    if (pos >= ctx) {
      g.reason = FinishReason::kContextFull;
      break;
    }
    const int32_t one[1] = {id};
    st = model.Forward(one, 0, pos, logits.data());
    if (!st.ok()) {
      ResetCache();
      return st;
    }
    cached_.push_back(id);
    ++pos;
    const double now = NowSeconds();
    // A step: sampling the previous token, streaming it, and its forward pass.
    g.stats.step_s.push_back(now - step_start);
    g.stats.decode_s += now - step_start;
    ++g.stats.decode_steps;
    step_start = now;
  }
  return g;
}

}  // namespace apr_cli
