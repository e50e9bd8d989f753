// `apr serve`: an OpenAI-compatible HTTP server over one Model (Boost.Beast, kept out of this
// header). Routes: POST /v1/completions, POST /v1/chat/completions (JSON or SSE), GET
// /v1/models, GET /model, GET /health, GET /metrics (Prometheus text), POST /generate, GET /
// (a built-in chat page).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "realizar/model.h"
#include "realizar/scheduler.h"
#include "realizar/tokenizer.h"

namespace realizar {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0 = an ephemeral port (see HttpServer::port)
  std::string model_id;     // the id /v1/models reports and requests must name
  std::string api_key;      // empty = no authentication
  std::string cors_origin;  // empty = no CORS headers
  int io_threads = 2;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  double timeout_seconds = 600;  // per request: generation is cut (finish_reason "length")
  double idle_seconds = 30;      // keep-alive connections with no request are closed
  double shutdown_grace_seconds = 10;
  SchedulerOptions scheduler;
};

struct ServerStats {
  SchedulerStats scheduler;
  int connections = 0;
};

class HttpServer {
 public:
  // Binds, starts the engine thread and the I/O threads. The model and tokenizer must outlive
  // the server. Errors: InvalidArgument (bad host), Unavailable (bind/listen failed).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Model& model, const Tokenizer& tokenizer,
                                                           const ServerOptions& options);
  ~HttpServer();  // Shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  ServerStats Stats() const;
  Scheduler& scheduler();

  // Stops accepting, answers new requests with 503, lets running generations finish for up to
  // the grace period, cancels the rest, then stops the I/O threads. Idempotent.
  void Shutdown();

  // Blocks until SIGINT or SIGTERM, then Shutdown().
  void WaitForSignal();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace realizar
