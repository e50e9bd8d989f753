// A server over the tiny test model for out-of-process clients (the Node `openai` package
// test): prints "PORT <n>" once listening, stops on SIGINT/SIGTERM.
#include <cstdio>
#include <string>

#include "realizar/http_server.h"
#include "serve_support.h"

int main(int argc, char** argv) {
  auto t = serve_test::MakeTestModel(31, 256);
  realizar::ServerOptions opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  opt.model_id = "tiny";
  opt.api_key = argc > 1 ? argv[1] : "";
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
