// Listener and per-connection session in the shape of Beast's async server example: all I/O
// of a connection runs on its strand; reads and writes are bounded by tcp_stream timeouts;
// parser limits answer 413 (body) and 431 (headers). Streaming replies are written raw (no
// Content-Length, Connection: close) so each SSE event goes out as soon as it is produced.
#include "serve/http_listener.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>

#include "realizar/openai_api.h"
#include "trueno/str_cat.h"

namespace realizar::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

class Session : public Responder, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpLimits& limits, const Handler& handler,
          std::shared_ptr<ConnectionCounters> counters)
      : stream_(std::move(socket)),
        limits_(limits),
        handler_(handler),
        counters_(std::move(counters)) {
    counters_->open.fetch_add(1);
  }
  ~Session() override {
    ReplyDone();
    counters_->open.fetch_sub(1);
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
  }

  // Responder: every call hops onto the strand; calls for a finished reply are ignored.
  void Respond(HttpResponse response) override {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), r = std::move(response)]() mutable {
                if (self->phase_ != Phase::kHandling) return;
                self->phase_ = Phase::kWriting;
                self->WriteResponse(std::move(r));
              });
  }
  void StartStream() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ != Phase::kHandling) return;
      self->phase_ = Phase::kStreaming;
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
          "Cache-Control: no-cache\r\nConnection: close\r\n";
      if (!self->limits_.cors_origin.empty()) {
        head += "Access-Control-Allow-Origin: " + self->limits_.cors_origin + "\r\n";
      }
      head += "\r\n";
      self->Queue(std::move(head));
    });
  }
  void Send(std::string data) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), d = std::move(data)]() mutable {
      if (self->phase_ != Phase::kStreaming) return;
      self->Queue(std::move(d));
    });
  }
  void End() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ != Phase::kStreaming) return;
      self->end_requested_ = true;
      if (!self->writing_) self->CloseNow();
    });
  }
  void OnDisconnect(std::function<void()> callback) override {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), cb = std::move(callback)]() mutable {
                if (self->phase_ == Phase::kClosed) {
                  if (cb) cb();
                  return;
                }
                // A reply already written (or being written) needs no cancellation; keeping
                // the callback would attach it to the connection's next request.
                if (self->phase_ == Phase::kHandling || self->phase_ == Phase::kStreaming) {
                  self->on_disconnect_ = std::move(cb);
                }
              });
  }

 private:
  enum class Phase { kReading, kHandling, kWriting, kStreaming, kClosed };

  void DoRead() {
    phase_ = Phase::kReading;
    on_disconnect_ = nullptr;
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    stream_.expires_after(Ms(limits_.idle_seconds));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      ApiError e;
      const bool body = ec == http::error::body_limit;
      e.http_status = body ? 413 : 431;
      e.message =
          body ? trueno::Concat("the request body exceeds ", limits_.max_body_bytes, " bytes")
               : trueno::Concat("the request headers exceed ", limits_.max_header_bytes, " bytes");
      HttpResponse r;
      r.status = e.http_status;
      r.body = ApiErrorJson(e);
      keep_alive_ = false;
      phase_ = Phase::kWriting;
      WriteResponse(std::move(r));
      return;
    }
    if (ec) {
      CloseNow();
      return;
    }
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.body = std::move(msg.body());
    if (auto it = msg.find(http::field::authorization); it != msg.end()) {
      req.authorization = std::string(it->value());
    }
    phase_ = Phase::kHandling;
    reply_pending_ = true;
    counters_->replies_pending.fetch_add(1);
    stream_.expires_never();
    WatchForHangup();
    handler_(std::move(req), shared_from_this());
  }

  // While a reply is being produced, a peek that reports end-of-stream means the client
  // closed the connection: cancel at once instead of at the next write (which a non-streaming
  // reply only does at the very end). Readiness can be stale (the data that raised it was
  // already consumed), so would_block re-arms the watch; pipelined bytes leave it disarmed.
  void WatchForHangup() {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
          if (ec || (self->phase_ != Phase::kHandling && self->phase_ != Phase::kStreaming)) return;
          auto& sock = self->stream_.socket();
          beast::error_code pec;
          sock.non_blocking(true, pec);
          char byte;
          const size_t n = sock.receive(net::buffer(&byte, 1), tcp::socket::message_peek, pec);
          if (pec == net::error::would_block || pec == net::error::try_again) {
            self->WatchForHangup();
          } else if (pec || n == 0) {
            self->CloseNow();
          }
        });
  }

  void WriteResponse(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(static_cast<http::status>(r.status));
    res->version(11);
    res->set(http::field::server, "apr");
    res->set(http::field::content_type, r.content_type);
    if (!limits_.cors_origin.empty()) {
      res->set(http::field::access_control_allow_origin, limits_.cors_origin);
      res->set(http::field::access_control_allow_headers, "Authorization, Content-Type");
      res->set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
    }
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    stream_.expires_after(Ms(limits_.write_seconds));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        self->ReplyDone();
                        if (ec || !self->keep_alive_) {
                          self->CloseNow();
                          return;
                        }
                        self->DoRead();
                      });
  }

  void Queue(std::string data) {
    out_.push_back(std::move(data));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (out_.empty()) {
      writing_ = false;
      if (end_requested_) CloseNow();
      return;
    }
    writing_ = true;
    stream_.expires_after(Ms(limits_.write_seconds));
    net::async_write(stream_, net::buffer(out_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) {
                         self->writing_ = false;
                         self->out_.clear();
                         self->CloseNow();
                         return;
                       }
                       self->out_.pop_front();
                       self->WriteNext();
                     });
  }

  void ReplyDone() {
    if (!reply_pending_) return;
    reply_pending_ = false;
    counters_->replies_pending.fetch_sub(1);
  }

  // Closes the socket; a reply still in progress means the client is gone.
  void CloseNow() {
    if (phase_ == Phase::kClosed) return;
    const bool incomplete =
        phase_ == Phase::kHandling || (phase_ == Phase::kStreaming && !end_requested_);
    phase_ = Phase::kClosed;
    ReplyDone();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    if (incomplete && on_disconnect_) {
      auto cb = std::move(on_disconnect_);
      cb();
    }
    on_disconnect_ = nullptr;
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpLimits limits_;
  Handler handler_;
  std::shared_ptr<ConnectionCounters> counters_;
  Phase phase_ = Phase::kReading;
  bool keep_alive_ = true;
  bool writing_ = false;
  bool end_requested_ = false;
  bool reply_pending_ = false;
  std::deque<std::string> out_;
  std::function<void()> on_disconnect_;
};

}  // namespace

Listener::Listener(net::io_context& ioc, HttpLimits limits, Handler handler,
                   std::shared_ptr<ConnectionCounters> counters)
    : ioc_(ioc),
      acceptor_(net::make_strand(ioc)),
      limits_(std::move(limits)),
      handler_(std::move(handler)),
      counters_(std::move(counters)) {}

absl::StatusOr<std::shared_ptr<Listener>> Listener::Create(
    net::io_context& ioc, const std::string& host, int port, HttpLimits limits, Handler handler,
    std::shared_ptr<ConnectionCounters> counters) {
  using trueno::Concat;
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        Concat("--host '", host, "' is not an IP address (use e.g. 127.0.0.1 or 0.0.0.0)"));
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(Concat("--port ", port, " is outside [0, 65535]"));
  }
  std::shared_ptr<Listener> l(
      new Listener(ioc, std::move(limits), std::move(handler), std::move(counters)));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  l->acceptor_.open(endpoint.protocol(), ec);
  if (!ec) l->acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor_.bind(endpoint, ec);
  if (!ec) l->acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(Concat("cannot listen on ", host, ":", port, ": ", ec.message()));
  }
  l->port_ = l->acceptor_.local_endpoint().port();
  return l;
}

void Listener::Run() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->DoAccept(); });
}

void Listener::Close() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec,
                                                                             tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      std::make_shared<Session>(std::move(socket), self->limits_, self->handler_, self->counters_)
          ->Run();
    }
    self->DoAccept();
  });
}

}  // namespace realizar::serve
