// apr bench MODEL: prefill (pp, one batched forward pass over --prompt-tokens) and decode (tg,
// --gen-tokens single-token steps after the prompt) throughput, like llama-bench's pp512/tg128.
// One warm-up run, then --runs measured runs: median and spread of tok/s, TTFT, per-token
// latency p50/p99 over every measured decode step, peak RSS. It also measures the machine's
// memory read bandwidth (on the CPU before every measured run and after the last; the median
// counts) and reports decode speed as a share of the roofline bandwidth / (weight bytes read
// per token): decode reads every weight matrix once per token.
#include <sys/resource.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>

#include "apr_build_info.h"  // generated at build time (cmake/AprGitSha.cmake)
#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"
#include "realizar/sampler.h"
#include "realizar/version.h"
#include "trueno/bandwidth.h"
#include "trueno/cuda.h"
#include "trueno/cuda_ops.h"
#include "trueno/kernels.h"
#include "trueno/str_cat.h"

namespace apr_cli {
namespace {

struct BenchOptions {
  std::string path;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int runs = 3;
  int threads = 0;
  int bandwidth_mib = 1024;
  std::string simd;  // Highway target to pin; empty = best
  bool json = false;
  GpuFlags gpu;
};

// The process's resident-set high-water mark (VmHWM, bytes), or 0 where /proc does not say.
uint64_t ReadPeakRss() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %" SCNu64 " kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib * 1024;
}

// Lowers the high-water mark to the current resident set (Linux >= 4.0); false where refused.
bool ResetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

struct Spread {
  double median = 0, min = 0, max = 0, stddev = 0;
};

Spread Summarize(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  s.max = v.back();
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(n);
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  s.stddev = n > 1 ? std::sqrt(sq / static_cast<double>(n - 1)) : 0.0;
  return s;
}

// Nearest-rank percentile of sorted `v`.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank =
      static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

boost::json::object SpreadJson(const Spread& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"stddev", s.stddev}};
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t b = colon + 1;
        while (b < line.size() && line[b] == ' ') ++b;
        return line.substr(b);
      }
    }
  }
  return "unknown";
}

// Bytes of weights one decode step reads: every tensor, except that only one row of an untied
// token embedding is read (a tied one is also the output head, read in full).
uint64_t WeightBytesPerToken(const aprender::ModelFile& file) {
  uint64_t bytes = 0;
  const bool tied = file.FindTensor("output.weight") == nullptr;
  for (const auto& t : file.tensors) {
    if (t.name == "token_embd.weight" && !tied) {
      const uint64_t rows = t.dims.size() >= 2 ? t.dims[1] : 1;
      bytes += rows > 0 ? t.data.size() / rows : 0;
    } else {
      bytes += t.data.size();
    }
  }
  return bytes;
}

int RunBench(const BenchOptions& opt) {
  if (opt.prompt_tokens < 0) return Fail("--prompt-tokens must be >= 0");
  if (opt.gen_tokens < 0) return Fail("--gen-tokens must be >= 0");
  if (opt.prompt_tokens == 0 && opt.gen_tokens == 0) {
    return Fail("nothing to measure: --prompt-tokens and --gen-tokens are both 0");
  }
  if (opt.runs < 1) return Fail("--runs must be at least 1");
  if (!opt.simd.empty()) {
    absl::Status s = trueno::SetSimdTarget(opt.simd);
    if (!s.ok()) return Fail(s);
  }
  if (opt.bandwidth_mib < 0) return Fail("--bandwidth-mib must be >= 0 (0 skips the measurement)");

  SessionOptions so;
  so.model_path = opt.path;
  so.threads = opt.threads;
  so.ctx_size = opt.prompt_tokens + opt.gen_tokens + 1;
  so.gpu = opt.gpu;
  auto loaded = InferenceSession::Load(so);
  if (!loaded.ok()) return Fail(loaded.status());
  InferenceSession& session = **loaded;
  realizar::Model& model = session.model();
  const int vocab = model.n_vocab();

  // Prompt: seeded random ids (throughput does not depend on which ids they are).
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> dist(0, vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(opt.prompt_tokens));
  for (auto& t : prompt) t = dist(rng);
  const int32_t start_token = session.tokenizer().bos_id() >= 0 ? session.tokenizer().bos_id() : 0;

  std::vector<double> pp_tok_s, tg_tok_s, ttft_s, steps;
  // On the CPU the read bandwidth is measured before every measured run and once after the last:
  // where the memory system is shared its rate drifts by 2-4x within a minute (docs/benchmarks.md,
  // 2026-12-07), so one measurement taken at another moment than the runs misplaces the roofline.
  // The measurement's buffer must not count as the model's memory: the peak RSS reported is
  // the high-water mark read before each measurement, which is then reset. Where the mark
  // cannot be reset (probed here, before any measurement), one measurement after the runs.
  std::vector<double> bandwidths;
  uint64_t peak_rss = ReadPeakRss();  // the load's; the runs' are added below
  const bool cpu_bandwidth = !model.on_gpu() && opt.bandwidth_mib > 0;
  const bool per_run_bandwidth = cpu_bandwidth && peak_rss > 0 && ResetPeakRss();
  auto measure_cpu_bandwidth = [&]() -> absl::Status {
    peak_rss = std::max(peak_rss, ReadPeakRss());
    auto bw = trueno::MeasureReadBandwidth(static_cast<size_t>(opt.bandwidth_mib) << 20,
                                           session.threads());
    if (!bw.ok()) return bw.status();
    bandwidths.push_back(*bw);
    if (per_run_bandwidth) (void)ResetPeakRss();  // it worked at the probe
    return absl::OkStatus();
  };
  std::vector<float> logits(static_cast<size_t>(vocab));
  ProgressBar progress("bench");
  for (int run = 0; run <= opt.runs; ++run) {  // run 0 is the warm-up
    if (run > 0 && per_run_bandwidth) {
      if (absl::Status s = measure_cpu_bandwidth(); !s.ok()) return Fail(s);
    }
    session.ResetCache();
    int pos = 0;
    int32_t next = start_token;
    const double t0 = NowSeconds();
    if (!prompt.empty()) {
      if (absl::Status s = model.Forward(prompt, 0, 0, logits.data()); !s.ok()) return Fail(s);
      const double prefill = NowSeconds() - t0;
      next = realizar::Argmax(logits);
      const double ttft = NowSeconds() - t0;
      pos = static_cast<int>(prompt.size());
      if (run > 0) {
        pp_tok_s.push_back(prefill > 0 ? prompt.size() / prefill : 0.0);
        ttft_s.push_back(ttft);
      }
    }
    double decode = 0;
    for (int i = 0; i < opt.gen_tokens; ++i) {
      const double s0 = NowSeconds();
      const int32_t one[1] = {next};
      if (absl::Status s = model.Forward(one, 0, pos++, logits.data()); !s.ok()) return Fail(s);
      next = realizar::Argmax(logits);
      const double dt = NowSeconds() - s0;
      decode += dt;
      if (run > 0) steps.push_back(dt);
    }
    if (run > 0 && opt.gen_tokens > 0) tg_tok_s.push_back(decode > 0 ? opt.gen_tokens / decode : 0);
    progress.Update(static_cast<uint64_t>(run + 1), static_cast<uint64_t>(opt.runs + 1));
  }
  progress.Finish();
  session.ResetCache();
  if (peak_rss > 0) peak_rss = std::max(peak_rss, ReadPeakRss());
  if (peak_rss == 0) {  // no /proc: the process's peak from the kernel's accounting
    struct rusage ru = {};
    getrusage(RUSAGE_SELF, &ru);
    peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux: KiB
  }
  if (cpu_bandwidth) {
    if (absl::Status s = measure_cpu_bandwidth(); !s.ok()) return Fail(s);
  }

  std::sort(steps.begin(), steps.end());
  const Spread pp = Summarize(pp_tok_s), tg = Summarize(tg_tok_s), ttft = Summarize(ttft_s);
  const double p50 = Percentile(steps, 50), p99 = Percentile(steps, 99);
  const uint64_t weight_bytes = WeightBytesPerToken(session.file());
  // On the GPU: a 4 GiB device-to-device copy (bytes read + written per second).
  double bandwidth = 0.0;
  boost::json::object gpu_json;
  if (model.on_gpu()) {
    if (opt.bandwidth_mib > 0) {
      auto bw = trueno::cuda::MeasureCopyBandwidth(opt.gpu.gpu_device, size_t{4} << 30);
      if (!bw.ok()) return Fail(bw.status());
      bandwidth = *bw;
    }
    auto info = trueno::cuda::QueryDevice(opt.gpu.gpu_device);
    if (!info.ok()) return Fail(info.status());
    gpu_json = {{"name", info->name},
                {"sm", info->sm_major * 10 + info->sm_minor},
                {"memory_bytes", info->total_bytes},
                {"driver_version", info->driver_version},
                {"cuda_runtime_version", info->runtime_version},
                {"sm_clock_mhz", info->sm_clock_mhz},
                {"mem_clock_mhz", info->mem_clock_mhz},
                {"mem_bus_bits", info->mem_bus_bits}};
  }
  const Spread bw_spread = Summarize(bandwidths);
  if (cpu_bandwidth) bandwidth = bw_spread.median;
  const double roofline = bandwidth > 0 && weight_bytes > 0 ? bandwidth / weight_bytes : 0.0;
  const double roofline_pct = roofline > 0 ? 100.0 * tg.median / roofline : 0.0;
  const std::string cpu = CpuModel();

  if (opt.json) {
    boost::json::object out{
        {"model", opt.path},
        {"architecture", session.architecture()},
        {"prompt_tokens", opt.prompt_tokens},
        {"gen_tokens", opt.gen_tokens},
        {"runs", opt.runs},
        {"warmup_runs", 1},
        {"prefill_tok_s", pp.median},
        {"prefill_tok_s_spread", SpreadJson(pp)},
        {"decode_tok_s", tg.median},
        {"decode_tok_s_spread", SpreadJson(tg)},
        {"ttft_ms", ttft.median * 1e3},
        {"token_latency_ms", boost::json::object{{"p50", p50 * 1e3}, {"p99", p99 * 1e3}}},
        {"peak_rss_bytes", peak_rss},
        {"weight_bytes_per_token", weight_bytes},
        {"memory_bandwidth_gb_s", bandwidth / 1e9},
        {"memory_bandwidth_measurements",
         static_cast<uint64_t>(cpu_bandwidth ? bandwidths.size() : (bandwidth > 0 ? 1 : 0))},
        {"memory_bandwidth_gb_s_min", (cpu_bandwidth ? bw_spread.min : bandwidth) / 1e9},
        {"memory_bandwidth_gb_s_max", (cpu_bandwidth ? bw_spread.max : bandwidth) / 1e9},
        {"roofline_decode_tok_s", roofline},
        {"decode_roofline_pct", roofline_pct},
        {"provenance", boost::json::object{{"git_sha", apr_build::GitSha()},
                                           {"version", std::string(realizar::Version())},
                                           {"compiler", __VERSION__},
                                           {"cpu", cpu},
                                           {"backend", model.on_gpu() ? "gpu" : "cpu"},
                                           {"backend_detail", model.backend_description()},
                                           {"gpu", gpu_json},
                                           {"simd", trueno::ActiveSimdTarget()},
                                           {"threads", session.threads()}}},
    };
    PrintJson(out);
    return 0;
  }
  std::printf("model      %s (%s)\n", opt.path.c_str(), session.architecture().c_str());
  if (model.on_gpu()) {
    std::printf("backend    %s\n", model.backend_description().c_str());
  } else {
    std::printf("backend    %s, %s, %d threads; %s\n", model.backend_description().c_str(),
                trueno::ActiveSimdTarget(), session.threads(), cpu.c_str());
  }
  if (opt.prompt_tokens > 0) {
    std::printf("pp%-7d  %10.1f tok/s  (min %.1f, max %.1f, sd %.1f)  ttft %.1f ms\n",
                opt.prompt_tokens, pp.median, pp.min, pp.max, pp.stddev, ttft.median * 1e3);
  }
  if (opt.gen_tokens > 0) {
    std::printf("tg%-7d  %10.1f tok/s  (min %.1f, max %.1f, sd %.1f)  p50 %.2f ms, p99 %.2f ms\n",
                opt.gen_tokens, tg.median, tg.min, tg.max, tg.stddev, p50 * 1e3, p99 * 1e3);
  }
  std::printf("peak RSS   %s\n", HumanBytes(peak_rss).c_str());
  if (bandwidth > 0) {
    std::printf("roofline   %.1f GB/s %s / %s per token = %.1f tok/s; decode at %.1f%%\n",
                bandwidth / 1e9, model.on_gpu() ? "device copy (read + write)" : "read",
                HumanBytes(weight_bytes).c_str(), roofline, roofline_pct);
    if (bandwidths.size() > 1) {
      std::printf(
          "           read bandwidth: median of %zu measurements around the runs, "
          "%.1f-%.1f GB/s\n",
          bandwidths.size(), bw_spread.min / 1e9, bw_spread.max / 1e9);
    }
  }
  std::printf("%d runs after 1 warm-up; git %s, apr %s\n", opt.runs, apr_build::GitSha(),
              std::string(realizar::Version()).c_str());
  return 0;
}

}  // namespace

void RegisterBench(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prefill and decode speed (pp512/tg128), latency, memory and roofline");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("-p,--prompt-tokens", opt->prompt_tokens,
                  "prompt length (default 512; 0 = decode only)");
  cmd->add_option("-n,--gen-tokens", opt->gen_tokens, "decode steps (default 128)");
  cmd->add_option("-r,--runs", opt->runs, "measured runs after one warm-up (default 3)");
  cmd->add_option("-t,--threads", opt->threads, "CPU threads (default: every available CPU)");
  cmd->add_option("--bandwidth-mib", opt->bandwidth_mib,
                  "buffer for the memory bandwidth measurement (default 1024; 0 skips it)");
  cmd->add_option("--simd", opt->simd,
                  "pin the SIMD target: avx3, avx2, sse4, scalar or best (default: best; the "
                  "TRUENO_SIMD environment variable does the same)");
  cmd->add_flag("--json", opt->json, "print a JSON object");
  AddGpuFlags(cmd, opt->gpu);
  cmd->callback([opt, &exit_code] { exit_code = RunBench(*opt); });
}

}  // namespace apr_cli
