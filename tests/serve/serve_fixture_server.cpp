// A server over the tiny test model for out-of-process clients (the Node `openai` package and
// browser tests, the process-level load/shutdown/promtool tests): prints "PORT <n>" once
// listening, stops on SIGINT/SIGTERM (graceful shutdown, exit 0).
//   serve_fixture_server [API_KEY] [--batch N] [--queue N] [--ctx N] [--grace SECONDS]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "realizar/http_server.h"
#include "serve_support.h"

int main(int argc, char** argv) {
  realizar::ServerOptions opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  opt.model_id = "tiny";
  int ctx = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      opt.api_key = arg;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", arg.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (arg == "--batch") {
      opt.scheduler.max_batch = std::atoi(v);
    } else if (arg == "--queue") {
      opt.scheduler.max_queue = std::atoi(v);
    } else if (arg == "--ctx") {
      ctx = std::atoi(v);
    } else if (arg == "--grace") {
      opt.shutdown_grace_seconds = std::atof(v);
    } else {
      std::fprintf(stderr, "unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  auto t = serve_test::MakeTestModel(31, ctx);
  auto server = realizar::HttpServer::Start(*t.model, *t.tokenizer, opt);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("PORT %d\n", (*server)->port());
  std::fflush(stdout);
  (*server)->WaitForSignal();
  return 0;
}
