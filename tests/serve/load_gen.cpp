#include "load_gen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

namespace serve_load {
namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A connected loopback socket, closed on scope exit.
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  bool ok() const { return fd_ >= 0; }

  bool WriteAll(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Appends what arrives before the deadline: > 0 bytes read, 0 EOF, -1 error or timeout.
  ssize_t ReadSome(std::string& out, Clock::time_point deadline) {
    const double left = Seconds(Clock::now(), deadline);
    if (left <= 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::ceil(left * 1000)));
    if (r <= 0) return -1;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    return n < 0 ? -1 : n;
  }

 private:
  int fd_ = -1;
};

std::string BuildRequest(const std::string& method, const std::string& target,
                         const std::string& body, const std::string& api_key) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!api_key.empty()) r += "Authorization: Bearer " + api_key + "\r\n";
  if (!body.empty() || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

// Parses "HTTP/1.1 200 OK\r\nName: value\r\n..." (without the blank line).
bool ParseHead(const std::string& head, int& status, std::map<std::string, std::string>& headers) {
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return false;
  status = std::atoi(head.c_str() + 9);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    const std::string line = head.substr(start, end - start);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      headers[name] = line.substr(v);
    }
    pos = end < head.size() ? end : std::string::npos;
  }
  return status > 0;
}

// Checks one SSE data payload (not [DONE]); returns "" or the reason it is malformed.
std::string CheckChunk(const std::string& payload, bool& has_text, int& finishes,
                       int& usage_tokens) {
  has_text = false;
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) return "event is not a JSON object: " + payload.substr(0, 200);
  const json::object& o = v.as_object();
  if (o.contains("error")) return "error event: " + payload.substr(0, 200);
  const json::value* choices = o.if_contains("choices");
  if (choices == nullptr || !choices->is_array()) return "chunk without a choices array";
  if (const json::value* u = o.if_contains("usage"); u != nullptr && u->is_object()) {
    const json::value* ct = u->as_object().if_contains("completion_tokens");
    if (ct == nullptr || !ct->is_int64()) return "usage without completion_tokens";
    usage_tokens = static_cast<int>(ct->as_int64());
  }
  for (const json::value& cv : choices->as_array()) {
    if (!cv.is_object()) return "choice is not an object";
    const json::object& c = cv.as_object();
    const json::value* text = c.if_contains("text");
    if (const json::value* d = c.if_contains("delta"); d != nullptr && d->is_object()) {
      text = d->as_object().if_contains("content");
    }
    if (text != nullptr && text->is_string() && !text->as_string().empty()) has_text = true;
    const json::value* fr = c.if_contains("finish_reason");
    if (fr == nullptr) return "choice without finish_reason";
    if (!fr->is_null()) ++finishes;
  }
  return "";
}

}  // namespace

StreamResult RunStream(const StreamRequest& request) {
  StreamResult r;
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::milliseconds(static_cast<int64_t>(request.timeout_seconds * 1000));
  Socket sock(request.port);
  if (!sock.ok()) {
    r.error = "connect failed: " + std::string(std::strerror(errno));
    return r;
  }
  if (!sock.WriteAll(BuildRequest("POST", request.path, request.body, request.api_key))) {
    r.error = "write failed";
    return r;
  }
  std::string buf;
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    const ssize_t n = sock.ReadSome(buf, deadline);
    if (n <= 0) {
      r.error = n == 0 ? "connection closed before the response head" : "timeout before head";
      return r;
    }
    head_end = buf.find("\r\n\r\n");
  }
  std::map<std::string, std::string> headers;
  if (!ParseHead(buf.substr(0, head_end), r.status, headers)) {
    r.error = "malformed response head";
    return r;
  }
  if (r.status != 200) {
    r.error = "HTTP " + std::to_string(r.status);
    return r;
  }
  if (headers["content-type"].rfind("text/event-stream", 0) != 0) {
    r.error = "content-type is " + headers["content-type"];
    return r;
  }
  size_t pos = head_end + 4;  // start of the next unparsed event
  bool done = false;
  int finishes = 0;
  int usage_tokens = -1;
  int text_events = 0;
  Clock::time_point last_text{};
  for (;;) {
    // Every complete event in the buffer.
    for (size_t end; (end = buf.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
      const std::string ev = buf.substr(pos, end - pos);
      const auto now = Clock::now();
      if (done) {
        r.error = "data after [DONE]";
        return r;
      }
      if (ev.rfind("data: ", 0) != 0) {
        r.error = "event without 'data: ': " + ev.substr(0, 100);
        return r;
      }
      const std::string payload = ev.substr(6);
      if (++r.events == 1) r.ttft_seconds = Seconds(start, now);
      if (payload == "[DONE]") {
        done = true;
        continue;
      }
      bool has_text = false;
      std::string why = CheckChunk(payload, has_text, finishes, usage_tokens);
      if (!why.empty()) {
        r.error = why;
        return r;
      }
      if (has_text) {
        if (text_events++ > 0) r.gaps_seconds.push_back(Seconds(last_text, now));
        last_text = now;
      }
    }
    const ssize_t n = sock.ReadSome(buf, deadline);
    if (n == 0) break;
    if (n < 0) {
      r.error = "timeout or error mid-stream";
      return r;
    }
  }
  r.total_seconds = Seconds(start, Clock::now());
  if (pos != buf.size()) {
    r.error = "stream ends with a partial event";
    return r;
  }
  if (!done) {
    r.error = "stream not terminated by data: [DONE]";
    return r;
  }
  if (finishes < 1) {
    r.error = "no finish_reason in the stream";
    return r;
  }
  r.completion_tokens = usage_tokens >= 0 ? usage_tokens : text_events;
  r.ok = true;
  return r;
}

PlainResult RunPlain(int port, const std::string& method, const std::string& target,
                     const std::string& body, double timeout_seconds) {
  PlainResult r;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  Socket sock(port);
  if (!sock.ok() || !sock.WriteAll(BuildRequest(method, target, body, ""))) return r;
  std::string buf;
  size_t head_end = std::string::npos;
  size_t want = std::string::npos;
  for (;;) {
    if (head_end == std::string::npos && (head_end = buf.find("\r\n\r\n")) != std::string::npos) {
      if (!ParseHead(buf.substr(0, head_end), r.status, r.headers)) return PlainResult{};
      auto it = r.headers.find("content-length");
      if (it != r.headers.end())
        want = head_end + 4 + std::strtoull(it->second.c_str(), nullptr, 10);
    }
    if (want != std::string::npos && buf.size() >= want) break;
    const ssize_t n = sock.ReadSome(buf, deadline);
    if (n == 0) break;
    if (n < 0) return PlainResult{};
  }
  if (head_end == std::string::npos) return PlainResult{};
  r.body =
      buf.substr(head_end + 4, want == std::string::npos ? std::string::npos : want - head_end - 4);
  return r;
}

LoadReport RunLoad(const LoadOptions& options) {
  LoadReport report;
  std::mutex mu;
  const auto start = Clock::now();
  const auto stop_at =
      start + std::chrono::milliseconds(static_cast<int64_t>(options.duration_seconds * 1000));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(options.concurrency));
  for (int c = 0; c < options.concurrency; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0;; ++i) {
        if (options.duration_seconds > 0 ? Clock::now() >= stop_at
                                         : i >= options.requests_per_client) {
          break;
        }
        StreamRequest req;
        req.port = options.port;
        req.path = options.path;
        req.body = options.body(c, i);
        req.timeout_seconds = options.timeout_seconds;
        StreamResult r = RunStream(req);
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok) {
          ++report.failed;
          if (report.errors.size() < 5) {
            report.errors.push_back("client " + std::to_string(c) + ": " + r.error);
          }
          continue;
        }
        ++report.ok;
        report.completion_tokens += r.completion_tokens;
        report.ttft_seconds.push_back(r.ttft_seconds);
        report.gap_seconds.insert(report.gap_seconds.end(), r.gaps_seconds.begin(),
                                  r.gaps_seconds.end());
      }
    });
  }
  for (auto& t : threads) t.join();
  report.wall_seconds = Seconds(start, Clock::now());
  return report;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p * static_cast<double>(v.size()));
  const size_t idx = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1;
  return v[idx];
}

}  // namespace serve_load
