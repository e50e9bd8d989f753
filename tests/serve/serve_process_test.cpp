// Tests against a real server process (serve_fixture_server: the tiny test model behind
// realizar::HttpServer, the same code path as `apr serve`): 100 concurrent streaming clients,
// SIGTERM with streams in flight, and `promtool check metrics` on /metrics after traffic.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define APR_TEST_UNDER_ASAN 1
#endif
#endif
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "load_gen.h"

extern char** environ;

#ifndef APR_SERVE_FIXTURE
#error "APR_SERVE_FIXTURE (path of serve_fixture_server) must be defined"
#endif
#ifndef APR_SERVE_WORK_DIR
#error "APR_SERVE_WORK_DIR must be defined"
#endif

namespace {

using Clock = std::chrono::steady_clock;

// The fixture server as a child process; killed (SIGKILL) if still running at scope exit.
class ChildServer {
 public:
  explicit ChildServer(std::vector<std::string> args) {
    args.insert(args.begin(), APR_SERVE_FIXTURE);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    REQUIRE(rc == 0);
    out_fd_ = fds[0];
    // Read "PORT <n>\n" (bounded).
    std::string got;
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (got.find('\n') == std::string::npos && Clock::now() < until) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    INFO("fixture said: " << got);
    REQUIRE(got.rfind("PORT ", 0) == 0);
    port_ = std::atoi(got.c_str() + 5);
    REQUIRE(port_ > 0);
  }
  ~ChildServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Resident set size in KiB from /proc/<pid>/status (0 if unreadable).
  long RssKib() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return 0;
  }

  void Signal(int sig) const { ::kill(pid_, sig); }

  // Waits up to `seconds` for the child to exit; its exit code, or -1 (timeout / killed).
  int Wait(double seconds) {
    const auto until =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (Clock::now() >= until) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
};

// The value of an unlabelled Prometheus sample ("name value"), or -1.
double MetricValue(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::atof(text.c_str() + at + key.size());
}

std::string CompletionBody(int client, int i, int max_tokens) {
  return "{\"model\":\"tiny\",\"prompt\":\"client " + std::to_string(client) + " request " +
         std::to_string(i) + "\",\"max_tokens\":" + std::to_string(max_tokens) +
         ",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"seed\":" +
         std::to_string(client * 1000 + i) + ",\"temperature\":0.8}";
}

void RequireClean(const serve_load::LoadReport& r, int expected) {
  for (const auto& e : r.errors) UNSCOPED_INFO(e);
  CHECK(r.failed == 0);
  REQUIRE(r.ok == expected);
}

}  // namespace

TEST_CASE("100 concurrent streaming clients: no failures, well-formed streams, no leak",
          "[serve][load]") {
  // Batch 16 (the test model's sequence limit), queue 128: every client is admitted or waits.
  ChildServer server({"--batch", "16", "--queue", "128"});
  constexpr int kClients = 100;
  constexpr int kTokens = 16;
  serve_load::LoadOptions opt;
  opt.port = server.port();
  opt.concurrency = kClients;
  opt.requests_per_client = 1;
  opt.timeout_seconds = 50;
  opt.body = [](int c, int i) { return CompletionBody(c, i, kTokens); };

  // Warm-up round: thread stacks, allocator arenas and connection buffers reach steady state.
  RequireClean(serve_load::RunLoad(opt), kClients);
  const long rss_warm = server.RssKib();
  std::vector<long> rss_after;
  serve_load::LoadReport last;
  for (int round = 1; round <= 2; ++round) {
    opt.body = [round](int c, int i) { return CompletionBody(c, i + round * 10, kTokens); };
    last = serve_load::RunLoad(opt);
    RequireClean(last, kClients);
    CHECK(last.completion_tokens == static_cast<long>(kClients) * kTokens);
    rss_after.push_back(server.RssKib());
  }
  std::printf(
      "load: %d clients x %d tokens, wall %.2f s, TTFT p50 %.1f ms p99 %.1f ms, "
      "inter-token p99 %.1f ms; RSS KiB warm %ld, after round 1 %ld, after round 2 %ld\n",
      kClients, kTokens, last.wall_seconds, 1e3 * serve_load::Percentile(last.ttft_seconds, 0.5),
      1e3 * serve_load::Percentile(last.ttft_seconds, 0.99),
      1e3 * serve_load::Percentile(last.gap_seconds, 0.99), rss_warm, rss_after[0], rss_after[1]);
  std::fflush(stdout);
  // Allowed slack: 16 MiB over the warmed-up baseline (allocator caching of 100 connections'
  // buffers), and at most 4 MiB growth between two identical rounds of 100 requests.
  REQUIRE(rss_warm > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(APR_TEST_UNDER_ASAN)
  // ASan holds freed memory in its quarantine, so RSS grows without a leak; there the server
  // process's LeakSanitizer report at exit is the leak check instead.
  WARN("RSS bounds not checked under AddressSanitizer (quarantine); LeakSanitizer checks leaks");
#else
  CHECK(rss_after[1] <= rss_warm + 16 * 1024);
  CHECK(rss_after[1] <= rss_after[0] + 4 * 1024);
#endif

  // Nothing is left running or holding KV blocks.
  const auto metrics = serve_load::RunPlain(server.port(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(MetricValue(metrics.body, "apr_requests_in_flight") == 0);
  CHECK(MetricValue(metrics.body, "apr_kv_cache_usage_ratio") == 0);
  CHECK(MetricValue(metrics.body, "apr_queue_depth") == 0);
  CHECK(MetricValue(metrics.body, "apr_inference_count") == 3 * kClients);
  server.Signal(SIGTERM);
  CHECK(server.Wait(20) == 0);
}

TEST_CASE("SIGTERM lets in-flight streams finish cleanly within the grace period and exits 0",
          "[serve][shutdown]") {
  ChildServer server({"--ctx", "1024", "--grace", "20"});
  constexpr int kStreams = 4;
  std::vector<serve_load::StreamResult> results(kStreams);
  std::vector<std::thread> clients;
  for (int c = 0; c < kStreams; ++c) {
    clients.emplace_back([&, c] {
      serve_load::StreamRequest req;
      req.port = server.port();
      req.body = CompletionBody(c, 0, 400);
      req.timeout_seconds = 50;
      results[c] = serve_load::RunStream(req);
    });
  }
  // Wait until all four are being generated (bounded), then SIGTERM.
  const auto until = Clock::now() + std::chrono::seconds(20);
  double in_flight = 0;
  while (in_flight < kStreams && Clock::now() < until) {
    in_flight = MetricValue(serve_load::RunPlain(server.port(), "GET", "/metrics").body,
                            "apr_requests_in_flight");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(in_flight == kStreams);
  const auto sent = Clock::now();
  server.Signal(SIGTERM);
  const int code = server.Wait(30);
  const double took = std::chrono::duration<double>(Clock::now() - sent).count();
  for (auto& t : clients) t.join();
  std::printf("shutdown with %d streams in flight took %.2f s\n", kStreams, took);
  CHECK(code == 0);
  CHECK(took < 20 + 5);
  for (int c = 0; c < kStreams; ++c) {
    INFO("stream " << c << ": " << results[c].error);
    CHECK(results[c].ok);
    CHECK(results[c].completion_tokens == 400);  // finished, not cut, inside the grace period
  }
}

TEST_CASE("SIGTERM past the grace period ends running streams with [DONE] and exits 0",
          "[serve][shutdown]") {
  ChildServer server({"--ctx", "4096", "--grace", "0.2"});
  serve_load::StreamResult result;
  std::thread client([&] {
    serve_load::StreamRequest req;
    req.port = server.port();
    req.body = CompletionBody(7, 0, 4000);
    req.timeout_seconds = 50;
    result = serve_load::RunStream(req);
  });
  const auto until = Clock::now() + std::chrono::seconds(20);
  double in_flight = 0;
  while (in_flight < 1 && Clock::now() < until) {
    in_flight = MetricValue(serve_load::RunPlain(server.port(), "GET", "/metrics").body,
                            "apr_requests_in_flight");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(in_flight == 1);
  server.Signal(SIGTERM);
  const int code = server.Wait(15);
  client.join();
  CHECK(code == 0);
  INFO(result.error);
  CHECK(result.ok);  // terminated by data: [DONE] with a finish_reason
  std::printf("stream cut by shutdown after %d of 4000 tokens\n", result.completion_tokens);
  CHECK(result.completion_tokens < 4000);
}

TEST_CASE("promtool check metrics accepts /metrics after traffic", "[serve][metrics]") {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    std::printf("APR_TEST_SKIPPED: promtool not found (Debian package prometheus)\n");
    return;
  }
  ChildServer server({});
  serve_load::LoadOptions opt;
  opt.port = server.port();
  opt.concurrency = 4;
  opt.requests_per_client = 2;
  opt.body = [](int c, int i) { return CompletionBody(c, i, 8); };
  RequireClean(serve_load::RunLoad(opt), 8);
  CHECK(serve_load::RunPlain(server.port(), "POST", "/v1/completions",
                             R"({"prompt":"x","max_tokens":3})")
            .status == 200);
  CHECK(serve_load::RunPlain(server.port(), "POST", "/v1/completions", "{bad").status == 400);
  const auto metrics = serve_load::RunPlain(server.port(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(MetricValue(metrics.body, "apr_inference_count") == 9);
  const std::filesystem::path dir = APR_SERVE_WORK_DIR;
  std::filesystem::create_directories(dir);
  const std::string in = (dir / "metrics.txt").string();
  const std::string out = (dir / "promtool.out").string();
  std::ofstream(in, std::ios::binary) << metrics.body;
  const int rc =
      std::system(("promtool check metrics < '" + in + "' > '" + out + "' 2>&1").c_str());
  std::stringstream report;
  report << std::ifstream(out).rdbuf();
  INFO("promtool said:\n" << report.str());
  CHECK(rc == 0);
  CHECK(report.str().empty());
}
