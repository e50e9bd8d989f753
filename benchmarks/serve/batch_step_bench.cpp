// batch_step_bench: the cost of one continuous-batching decode step (Model::ForwardBatch) as a
// function of the batch size, without HTTP or the scheduler in the way. Each of B sequences is
// prefilled with --prompt tokens, then --steps decode steps run all B sequences at once.
// Reports wall and CPU (getrusage) milliseconds per step and the tokens/s the step rate allows;
// the ratio to B=1 is the ceiling continuous batching can reach over single-stream decode.
//   batch_step_bench MODEL.gguf [--batches 1,2,4,8,16,32,64] [--prompt 40] [--steps 16] [--gpu]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aprender/model_file.h"
#include "realizar/model.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: batch_step_bench MODEL [--batches 1,8,...] [--prompt N] [--steps N] [--gpu]\n");
    return 2;
  }
  std::string batches_arg = "1,2,4,8,16,32,64";
  int prompt = 40;
  int steps = 16;
  bool gpu = false;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gpu") == 0) {
      gpu = true;
      continue;
    }
    if (i + 1 >= argc) break;
    if (std::strcmp(argv[i], "--batches") == 0) {
      batches_arg = argv[i + 1];
    } else if (std::strcmp(argv[i], "--prompt") == 0) {
      prompt = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--steps") == 0) {
      steps = std::atoi(argv[i + 1]);
    }
    ++i;
  }
  std::vector<int> batches;
  for (size_t pos = 0; pos < batches_arg.size();) {
    size_t end = batches_arg.find(',', pos);
    if (end == std::string::npos) end = batches_arg.size();
    const int b = std::atoi(batches_arg.substr(pos, end - pos).c_str());
    if (b > 0 && b <= 256) batches.push_back(b);
    pos = end + 1;
  }
  int max_b = 1;
  for (int b : batches) max_b = std::max(max_b, b);
  auto file = aprender::LoadModelFile(argv[1]);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  realizar::ModelOptions mopt;
  mopt.max_context = prompt + steps + 16;
  mopt.max_sequences = max_b;
  if (gpu) mopt.backend = realizar::ModelOptions::Backend::kGpu;
  auto model = realizar::Model::FromFile(*std::move(file), mopt);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  realizar::Model& m = **model;
  std::printf("backend: %s\n", m.backend_description().c_str());
  const int n_vocab = m.n_vocab();
  std::vector<float> logits(static_cast<size_t>(n_vocab) * max_b);
  std::vector<int32_t> prompt_tokens(static_cast<size_t>(prompt));
  for (int i = 0; i < prompt; ++i) prompt_tokens[i] = (i * 37 + 11) % n_vocab;
  for (int s = 0; s < max_b; ++s) {
    prompt_tokens[0] = s % n_vocab;
    if (auto st = m.Forward(prompt_tokens, s, 0, logits.data()); !st.ok()) {
      std::fprintf(stderr, "prefill: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  std::printf("| batch | wall ms/step | cpu ms/step | step tok/s | vs batch 1 |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  double base = 0;
  for (int b : batches) {
    std::vector<int32_t> tokens(static_cast<size_t>(b));
    std::vector<int> seqs(static_cast<size_t>(b)), pos(static_cast<size_t>(b));
    for (int i = 0; i < b; ++i) seqs[i] = i;
    double wall = 0, cpu = 0;
    for (int step = -1; step < steps; ++step) {  // step -1 is a warm-up
      for (int i = 0; i < b; ++i) {
        tokens[i] = (step * 13 + i * 7 + 5 + n_vocab) % n_vocab;
        pos[i] = prompt + std::max(step, 0);  // rewinds: positions >= pos are discarded
      }
      const double w0 = WallSeconds(), c0 = CpuSeconds();
      if (auto st = m.ForwardBatch(tokens, seqs, pos, logits.data()); !st.ok()) {
        std::fprintf(stderr, "batch %d: %s\n", b, std::string(st.message()).c_str());
        return 1;
      }
      if (step >= 0) {
        wall += WallSeconds() - w0;
        cpu += CpuSeconds() - c0;
      }
    }
    const double tps = b * steps / wall;
    if (b == 1) base = tps;
    std::printf("| %d | %.1f | %.1f | %.1f | %s |\n", b, 1e3 * wall / steps, 1e3 * cpu / steps, tps,
                base > 0 ? (std::to_string(tps / base).substr(0, 4) + "x").c_str() : "-");
    std::fflush(stdout);
  }
  return 0;
}
