// A small closed-loop load generator for `apr serve` over loopback (POSIX sockets with poll
// deadlines, one thread per client). Each request is a streaming completion; the reply is
// checked to be a well-formed SSE stream (HTTP 200, text/event-stream, every event a JSON
// chunk, exactly one finish_reason per choice, a usage chunk when asked, terminated by
// `data: [DONE]` and nothing after it). Used by the load test (tests/serve) and serve_bench
// (benchmarks/serve).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace serve_load {

struct StreamResult {
  bool ok = false;
  std::string error;                 // why the stream is not well-formed (empty when ok)
  int status = 0;                    // HTTP status, 0 = no response
  int events = 0;                    // data events including [DONE]
  int completion_tokens = 0;         // from the usage chunk (or the count of text chunks)
  double ttft_seconds = 0;           // request written -> first data event
  double total_seconds = 0;          // request written -> end of stream
  std::vector<double> gaps_seconds;  // between successive text-carrying events
};

struct StreamRequest {
  int port = 0;
  std::string path = "/v1/completions";
  std::string body;  // JSON; must ask for "stream": true
  std::string api_key;
  double timeout_seconds = 60;  // whole request
};

// One streaming request on a fresh connection.
StreamResult RunStream(const StreamRequest& request);

// One plain request on a fresh connection (Connection: close); status 0 on failure.
struct PlainResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};
PlainResult RunPlain(int port, const std::string& method, const std::string& target,
                     const std::string& body = "", double timeout_seconds = 30);

struct LoadOptions {
  int port = 0;
  std::string path = "/v1/completions";
  int concurrency = 1;
  int requests_per_client = 1;  // used when duration_seconds == 0
  double duration_seconds = 0;  // > 0: each client starts requests until this much time passed
  double timeout_seconds = 60;
  // Body of request `i` of client `client`.
  std::function<std::string(int client, int i)> body;
};

struct LoadReport {
  int ok = 0;
  int failed = 0;
  std::vector<std::string> errors;  // the first few failure reasons
  long completion_tokens = 0;       // of successful requests
  double wall_seconds = 0;
  std::vector<double> ttft_seconds;  // per successful request
  std::vector<double> gap_seconds;   // inter-token gaps of all successful requests
};

// Starts `concurrency` clients at once; each runs its requests back to back (closed loop).
LoadReport RunLoad(const LoadOptions& options);

// The p-quantile (0..1, nearest rank) of v; 0 when v is empty.
double Percentile(std::vector<double> v, double p);

}  // namespace serve_load
