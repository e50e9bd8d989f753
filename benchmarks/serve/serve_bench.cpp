// serve_bench: closed-loop streaming load against a running `apr serve` on loopback.
// For each concurrency level, that many clients send streaming completions back to back for
// --seconds (each finishes its last request) and the level reports aggregate generated tok/s,
// TTFT p50/p99, inter-token latency p50/p99, and at the end the ratio of the c=8 aggregate to
// c=1 (aggregate and single-stream decode rate 1 / mean inter-token gap).
//   serve_bench --port 8080 [--levels 1,8,32,64] [--seconds 30] [--max-tokens 64]
//               [--prompt-words 32] [--path /v1/completions] [--temperature 0.8]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "load_gen.h"

namespace {

std::vector<int> ParseLevels(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const int v = std::atoi(s.substr(pos, end - pos).c_str());
    if (v > 0 && v <= 4096) out.push_back(v);
    pos = end + 1;
  }
  return out;
}

// A prompt of about `words` tokens that differs per client and request.
std::string Prompt(int client, int i, int words) {
  static const char* kWords[] = {"the",   "river", "stone", "light", "quiet", "north",
                                 "table", "green", "paper", "cloud", "seven", "music"};
  std::string p = "Request " + std::to_string(client) + "." + std::to_string(i) + ":";
  for (int w = 0; w < words; ++w) {
    p += " ";
    p += kWords[(client * 7 + i * 3 + w * 5) % 12];
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {
      {"--port", "8080"},      {"--levels", "1,8,32,64"}, {"--seconds", "30"},
      {"--max-tokens", "64"},  {"--prompt-words", "32"},  {"--path", "/v1/completions"},
      {"--temperature", "0.8"}};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || !args.count(argv[i]) || i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: serve_bench --port P [--levels 1,8,32,64] [--seconds S] "
                   "[--max-tokens N] [--prompt-words N] [--path /v1/completions] "
                   "[--temperature T]\n");
      return 2;
    }
    args[argv[i]] = argv[i + 1];
    ++i;
  }
  const int port = std::atoi(args["--port"].c_str());
  const double seconds = std::atof(args["--seconds"].c_str());
  const int max_tokens = std::atoi(args["--max-tokens"].c_str());
  const int words = std::atoi(args["--prompt-words"].c_str());
  const std::vector<int> levels = ParseLevels(args["--levels"]);
  if (port <= 0 || seconds <= 0 || max_tokens <= 0 || levels.empty()) {
    std::fprintf(stderr, "serve_bench: bad arguments (see --help)\n");
    return 2;
  }
  const auto health = serve_load::RunPlain(port, "GET", "/health");
  if (health.status != 200) {
    std::fprintf(stderr, "serve_bench: no server answering GET /health on 127.0.0.1:%d\n", port);
    return 1;
  }
  // Warm-up: one short request.
  serve_load::StreamRequest warm;
  warm.port = port;
  warm.path = args["--path"];
  warm.body = "{\"prompt\":\"warm up\",\"max_tokens\":4,\"stream\":true}";
  warm.timeout_seconds = 300;
  serve_load::RunStream(warm);

  std::printf(
      "| concurrency | requests | failed | gen tok/s | TTFT p50 ms | TTFT p99 ms | "
      "ITL p50 ms | ITL p99 ms | 1/mean ITL tok/s | wall s |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);
  std::map<int, double> aggregate, decode_rate;
  int failures = 0;
  for (int c : levels) {
    serve_load::LoadOptions opt;
    opt.port = port;
    opt.path = args["--path"];
    opt.concurrency = c;
    opt.duration_seconds = seconds;
    opt.timeout_seconds = 600;
    opt.body = [&](int client, int i) {
      return "{\"prompt\":\"" + Prompt(client, i, words) +
             "\",\"max_tokens\":" + std::to_string(max_tokens) +
             ",\"temperature\":" + args["--temperature"] +
             ",\"seed\":" + std::to_string(client * 100000 + i) +
             ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    };
    const serve_load::LoadReport r = serve_load::RunLoad(opt);
    const double tps = r.wall_seconds > 0 ? r.completion_tokens / r.wall_seconds : 0;
    const double mean_gap = r.gap_seconds.empty()
                                ? 0
                                : std::accumulate(r.gap_seconds.begin(), r.gap_seconds.end(), 0.0) /
                                      static_cast<double>(r.gap_seconds.size());
    aggregate[c] = tps;
    decode_rate[c] = mean_gap > 0 ? 1.0 / mean_gap : 0;
    failures += r.failed;
    std::printf("| %d | %d | %d | %.1f | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f |\n", c, r.ok,
                r.failed, tps, 1e3 * serve_load::Percentile(r.ttft_seconds, 0.5),
                1e3 * serve_load::Percentile(r.ttft_seconds, 0.99),
                1e3 * serve_load::Percentile(r.gap_seconds, 0.5),
                1e3 * serve_load::Percentile(r.gap_seconds, 0.99), decode_rate[c], r.wall_seconds);
    for (const auto& e : r.errors) std::fprintf(stderr, "  failure: %s\n", e.c_str());
    std::fflush(stdout);
  }
  if (aggregate.count(1) && aggregate.count(8) && aggregate[1] > 0) {
    std::printf("\nc=8 aggregate / c=1 aggregate: %.2fx\n", aggregate[8] / aggregate[1]);
    if (decode_rate[1] > 0) {
      std::printf("c=8 aggregate / c=1 decode rate (1/mean ITL): %.2fx\n",
                  aggregate[8] / decode_rate[1]);
    }
  }
  return failures == 0 ? 0 : 1;
}
