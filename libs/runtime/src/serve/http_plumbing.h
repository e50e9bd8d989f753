// HTTP plumbing between the Beast listener/sessions (http_session.cpp) and the routes
// (api_routes.cpp): plain request/response structs and a reply channel that can carry one
// complete response or a server-sent-event stream. No Beast types cross this boundary.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace realizar::serve {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::string authorization;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

// One request's reply channel. Thread-safe: every call is posted to the connection's strand.
// Exactly one of Respond() or StartStream()...End() should be used; later calls are ignored.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Respond(HttpResponse response) = 0;
  virtual void StartStream() = 0;  // 200 text/event-stream; the connection closes after End()
  virtual void Send(std::string data) = 0;
  virtual void End() = 0;
  // Called once (on an I/O thread) if the client goes away before the reply is complete.
  virtual void OnDisconnect(std::function<void()> callback) = 0;
};

using Handler = std::function<void(HttpRequest, std::shared_ptr<Responder>)>;

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  double idle_seconds = 30;
  double write_seconds = 60;
  std::string cors_origin;
};

// Counters the listener keeps for /metrics and shutdown.
struct ConnectionCounters {
  std::atomic<int> open{0};
  std::atomic<int> replies_pending{0};  // requests handed to the handler, reply not yet written
};

}  // namespace realizar::serve
