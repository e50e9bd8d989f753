// End-to-end CPU decode benchmark on a synthetic model (default: qwen2.5-0.5b quantized with the
// q4_k_m preset, i.e. llama.cpp's tensor-type mix): prefill of --prompt tokens, then --gen
// greedy-free decode steps (token ids are fixed, so only the engine is timed). Reports tok/s,
// the weight bytes one decode step streams, GB/s of those bytes, and the fraction of a measured
// memory-read bandwidth (the decode roofline). CPU time (getrusage) is reported next to wall
// time because the development machine is shared: cpu-seconds per token is the steadier figure.
//
//   decode_bench [--preset qwen2.5-0.5b] [--quant q4_k_m] [--threads 2] [--prompt 512]
//                [--gen 128] [--runs 1] [--cache /tmp/x.gguf] [--no-bandwidth] [--steps] [--mmap]
//
// --steps: print every decode step's milliseconds in order (periodic stalls show as a pattern).
// --cache: reuse a GGUF written by an earlier run (synthesis + quantization takes ~30 s).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "aprender/gguf.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "aprender/quantize_model.h"
#include "aprender/synth.h"
#include "realizar/model.h"
#include "trueno/bandwidth.h"
#include "trueno/dtype.h"
#include "trueno/kernels.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Args {
  std::string preset = "qwen2.5-0.5b";
  std::string quant = "q4_k_m";
  std::string cache;
  int threads = 2;
  int prompt = 512;
  int gen = 128;
  int runs = 1;
  int batch = 0;           // > 0: also time ForwardBatch decode steps of this many sequences
  std::string simd;        // Highway target to pin ("avx2", ...); empty = best
  std::string kv = "f32";  // KV cache type: f32 or f16
  bool bandwidth = true;
  bool steps = false;
  bool mmap = false;  // read the weights through the file mapping (apr --mmap)
};

bool ParseArgs(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--no-bandwidth") {
      a.bandwidth = false;
      continue;
    }
    if (k == "--steps") {
      a.steps = true;
      continue;
    }
    if (k == "--mmap") {
      a.mmap = true;
      continue;
    }
    if ((v = next()) == nullptr) return false;
    if (k == "--preset") {
      a.preset = v;
    } else if (k == "--quant") {
      a.quant = v;
    } else if (k == "--cache") {
      a.cache = v;
    } else if (k == "--threads") {
      a.threads = std::atoi(v);
    } else if (k == "--prompt") {
      a.prompt = std::atoi(v);
    } else if (k == "--gen") {
      a.gen = std::atoi(v);
    } else if (k == "--runs") {
      a.runs = std::atoi(v);
    } else if (k == "--batch") {
      a.batch = std::atoi(v);
    } else if (k == "--simd") {
      a.simd = v;
    } else if (k == "--kv-type") {
      a.kv = v;
    } else {
      return false;
    }
  }
  return a.prompt > 0 && a.gen > 0 && a.runs > 0 && a.batch >= 0 &&
         (a.kv == "f32" || a.kv == "f16");
}

absl::StatusOr<aprender::ModelFile> BuildModel(const Args& a) {
  if (!a.cache.empty() && std::filesystem::exists(a.cache)) return aprender::ReadGguf(a.cache);
  auto spec = aprender::SynthPreset(a.preset);
  if (!spec.ok()) return spec.status();
  spec->seed = 1;
  auto quant = aprender::ParseQuantPreset(a.quant);
  if (!quant.ok()) return quant.status();
  const double t0 = Now();
  auto f16 = aprender::SynthesizeModel(*spec, trueno::DType::kF16);
  if (!f16.ok()) return f16.status();
  const double t1 = Now();
  auto q = aprender::QuantizeModel(*f16, *quant);
  if (!q.ok()) return q.status();
  std::fprintf(stderr, "synthesized in %.1f s, quantized in %.1f s\n", t1 - t0, Now() - t1);
  if (!a.cache.empty()) {
    absl::Status s = aprender::WriteGguf(*q, a.cache);
    if (!s.ok()) return s;
    return aprender::ReadGguf(a.cache);  // mmap-backed, like a real run
  }
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: decode_bench [--preset NAME] [--quant PRESET] [--threads N] [--prompt N] "
                 "[--gen N] [--runs N] [--cache FILE.gguf] [--no-bandwidth] [--steps] [--mmap] "
                 "[--simd avx2|avx3|sse4|scalar] [--kv-type f32|f16] [--batch N]\n");
    return 2;
  }
  if (!a.simd.empty()) {
    absl::Status s = trueno::SetSimdTarget(a.simd);
    if (!s.ok()) {
      std::fprintf(stderr, "--simd: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  trueno::SetNumThreads(a.threads);
  auto file = BuildModel(a);
  if (!file.ok()) {
    std::fprintf(stderr, "model: %s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  auto config = aprender::ModelConfigFromFile(*file);
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }

  // Bytes one decode step streams: every 2-D weight once (a tied token_embd once, as the head;
  // the embedding lookup reads one row). Norms and biases are negligible and left out.
  uint64_t step_bytes = 0;
  std::map<std::string, uint64_t> by_type;
  for (const auto& t : file->tensors) {
    if (t.dims.size() != 2) continue;
    if (t.name == "token_embd.weight" && file->FindTensor("output.weight") != nullptr) continue;
    step_bytes += t.data.size();
    by_type[std::string(trueno::DTypeName(t.type))] += t.data.size();
  }
  uint64_t params = 0;
  for (const auto& t : file->tensors) {
    if (t.dims.size() != 2) continue;
    if (t.name == "token_embd.weight" && file->FindTensor("output.weight") != nullptr) continue;
    params += t.elements();
  }

  realizar::ModelOptions opts;
  opts.max_context = a.prompt + a.gen + 16;
  opts.max_sequences = std::max(1, a.batch);
  opts.kv_type = a.kv == "f16" ? trueno::DType::kF16 : trueno::DType::kF32;
  opts.mmap_weights = a.mmap;
  auto model = realizar::Model::Create(std::move(*file), *config, opts);
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  realizar::Model& m = **model;

  std::printf("model %s %s, SIMD target %s, %d threads, KV cache %s\n", a.preset.c_str(),
              a.quant.c_str(), trueno::ActiveSimdTarget(), trueno::NumThreads(), a.kv.c_str());
  std::printf("weights read per decode step: %.1f MiB (%llu bytes); FLOPs/token (matmul) %.3f G\n",
              step_bytes / 1048576.0, static_cast<unsigned long long>(step_bytes),
              2.0 * params / 1e9);
  for (const auto& [type, bytes] : by_type) {
    std::printf("  %-5s %7.1f MiB  %4.1f%%\n", type.c_str(), bytes / 1048576.0,
                100.0 * bytes / step_bytes);
  }

  double bw = 0.0;
  if (a.bandwidth) {
    auto measured = trueno::MeasureReadBandwidth(size_t{1} << 30, a.threads);
    if (!measured.ok()) {
      std::fprintf(stderr, "decode_bench: %s\n", std::string(measured.status().message()).c_str());
      return 1;
    }
    bw = *measured / 1e9;
    std::printf("measured read bandwidth (%d threads, 1 GiB): %.2f GB/s -> roofline %.1f tok/s\n",
                a.threads, bw, bw * 1e9 / step_bytes);
  }

  std::vector<int32_t> prompt(static_cast<size_t>(a.prompt));
  for (int i = 0; i < a.prompt; ++i)
    prompt[i] = static_cast<int32_t>((i * 7919 + 13) % m.n_vocab());
  std::vector<float> logits(static_cast<size_t>(m.n_vocab()));
  for (int run = 0; run < a.runs; ++run) {
    double c0 = CpuSeconds(), t0 = Now();
    absl::Status s = m.Forward(prompt, 0, 0, logits.data());
    double pp_wall = Now() - t0, pp_cpu = CpuSeconds() - c0;
    if (!s.ok()) {
      std::fprintf(stderr, "prefill: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    std::vector<double> steps;
    c0 = CpuSeconds();
    t0 = Now();
    for (int i = 0; i < a.gen; ++i) {
      const int32_t tok = static_cast<int32_t>((i * 104729 + 7) % m.n_vocab());
      const double s0 = Now();
      s = m.Forward(std::span<const int32_t>(&tok, 1), 0, a.prompt + i, logits.data());
      steps.push_back(Now() - s0);
      if (!s.ok()) {
        std::fprintf(stderr, "decode: %s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    const double tg_wall = Now() - t0, tg_cpu = CpuSeconds() - c0;
    if (a.steps) {
      for (double st : steps) std::printf("%.1f ", 1e3 * st);
      std::printf("\n");
    }
    std::sort(steps.begin(), steps.end());
    const double tg = a.gen / tg_wall;
    const double gbs = tg * step_bytes / 1e9;
    std::printf(
        "run %d: pp%d %.1f tok/s (%.2f s wall, %.2f cpu-s) | tg%d %.1f tok/s (p50 %.1f ms, "
        "min %.1f ms, %.2f cpu-ms/token) | %.2f GB/s of weights",
        run, a.prompt, a.prompt / pp_wall, pp_wall, pp_cpu, a.gen, tg,
        1e3 * steps[steps.size() / 2], 1e3 * steps.front(), 1e3 * tg_cpu / a.gen, gbs);
    if (bw > 0) std::printf(" = %.1f%% of measured bandwidth", 100.0 * gbs / bw);
    std::printf("\n");
    // Best-step figure: the least disturbed step, a proxy for an unloaded machine.
    const double best_gbs = step_bytes / steps.front() / 1e9;
    std::printf("        best step %.1f tok/s, %.2f GB/s", 1.0 / steps.front(), best_gbs);
    if (bw > 0) std::printf(" = %.1f%% of measured bandwidth", 100.0 * best_gbs / bw);
    std::printf("\n");
  }

  if (a.batch > 0) {
    // Continuous-batching decode: a.batch sequences, each with a short prompt, then a.gen
    // ForwardBatch steps of one token per sequence. Aggregate tok/s vs the single-stream figure.
    const int B = a.batch, prompt_len = 64;
    // The pool holds max(1, batch) sequences: give back the single-stream runs' blocks first.
    m.kv_cache().FreeSequence(0);
    std::vector<float> batch_logits(static_cast<size_t>(B) * m.n_vocab());
    for (int b = 0; b < B; ++b) {
      absl::Status s = m.Forward(std::span(prompt).first(prompt_len), 100 + b, 0, logits.data());
      if (!s.ok()) {
        std::fprintf(stderr, "batch prefill: %s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    std::vector<int32_t> toks(B);
    std::vector<int> seqs(B), pos(B);
    std::vector<double> steps;
    double single = 0.0;
    {  // single-stream steps at the same context length, for the ratio
      std::vector<double> one;
      for (int i = 0; i < a.gen; ++i) {
        const int32_t tok = static_cast<int32_t>((i * 104729 + 7) % m.n_vocab());
        const double s0 = Now();
        absl::Status s =
            m.Forward(std::span<const int32_t>(&tok, 1), 100, prompt_len + i, logits.data());
        one.push_back(Now() - s0);
        if (!s.ok()) return 1;
      }
      std::sort(one.begin(), one.end());
      single = one[one.size() / 2];
    }
    const double c0 = CpuSeconds(), t0 = Now();
    for (int i = 0; i < a.gen; ++i) {
      for (int b = 0; b < B; ++b) {
        toks[b] = static_cast<int32_t>((i * 104729 + 7 * b) % m.n_vocab());
        seqs[b] = 100 + b;
        pos[b] = prompt_len + i;
      }
      const double s0 = Now();
      absl::Status s = m.ForwardBatch(toks, seqs, pos, batch_logits.data());
      steps.push_back(Now() - s0);
      if (!s.ok()) {
        std::fprintf(stderr, "batch decode: %s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    const double wall = Now() - t0, cpu = CpuSeconds() - c0;
    std::sort(steps.begin(), steps.end());
    const double p50 = steps[steps.size() / 2];
    std::printf(
        "batch %d: %.1f tok/s aggregate (%d steps, p50 step %.1f ms, min %.1f ms, %.2f cpu-ms/step)"
        " | single-stream p50 step %.1f ms = %.1f tok/s | step cost %.2fx a single step, "
        "aggregate %.2fx single-stream\n",
        B, B * a.gen / wall, a.gen, 1e3 * p50, 1e3 * steps.front(), 1e3 * cpu / a.gen, 1e3 * single,
        1.0 / single, p50 / single, B * single / p50);
  }
  return 0;
}
