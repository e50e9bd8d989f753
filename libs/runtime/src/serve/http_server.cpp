// HttpServer: wires the scheduler, the routes and the listener together and owns the I/O
// threads. Shutdown order: stop accepting -> new generation requests get 503 -> wait (up to the
// grace period) for running/queued generations -> cancel the rest -> give sessions a moment to
// flush their last bytes -> stop the io_context.
#include "realizar/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "serve/api_routes.h"
#include "serve/http_listener.h"

namespace realizar {

namespace net = boost::asio;

struct HttpServer::Impl {
  ServerOptions options;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<serve::Api> api;
  std::shared_ptr<serve::ConnectionCounters> connections =
      std::make_shared<serve::ConnectionCounters>();
  std::shared_ptr<serve::Listener> listener;
  std::vector<std::thread> threads;
  std::mutex shutdown_mu;
  bool shut_down = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Model& model,
                                                              const Tokenizer& tokenizer,
                                                              const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.model_id.empty()) impl->options.model_id = "apr";
  impl->scheduler = std::make_unique<Scheduler>(model, options.scheduler);
  serve::ApiOptions api_options;
  api_options.model_id = impl->options.model_id;
  api_options.api_key = options.api_key;
  api_options.timeout_seconds = options.timeout_seconds;
  impl->api = std::make_unique<serve::Api>(*impl->scheduler, model, tokenizer, api_options,
                                           impl->connections);
  serve::HttpLimits limits;
  limits.max_body_bytes = options.max_body_bytes;
  limits.max_header_bytes = options.max_header_bytes;
  limits.idle_seconds = options.idle_seconds;
  limits.write_seconds = std::max(1.0, std::min(options.timeout_seconds, 120.0));
  limits.cors_origin = options.cors_origin;
  serve::Api* api = impl->api.get();
  auto listener = serve::Listener::Create(
      impl->ioc, options.host, options.port, limits,
      [api](serve::HttpRequest req, std::shared_ptr<serve::Responder> out) {
        api->Handle(std::move(req), std::move(out));
      },
      impl->connections);
  if (!listener.ok()) {
    impl->scheduler->Shutdown(false);
    return listener.status();
  }
  impl->listener = *listener;
  impl->listener->Run();
  impl->work.emplace(net::make_work_guard(impl->ioc));
  const int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->listener->port(); }

Scheduler& HttpServer::scheduler() { return *impl_->scheduler; }

ServerStats HttpServer::Stats() const {
  ServerStats s;
  s.scheduler = impl_->scheduler->Stats();
  s.connections = impl_->connections->open.load();
  return s;
}

void HttpServer::Shutdown() {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mu);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->listener->Close();
  impl_->api->SetDraining();
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(impl_->options.shutdown_grace_seconds * 1000));
  while (Clock::now() < deadline) {
    const SchedulerStats s = impl_->scheduler->Stats();
    if (s.running == 0 && s.queued == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->scheduler->Shutdown(false);  // cancels whatever is left; every on_done has run
  // Let sessions write their final events and replies (bounded), then stop.
  const auto flush_deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < flush_deadline && impl_->connections->replies_pending.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

void HttpServer::WaitForSignal() {
  net::io_context signal_ioc;
  net::signal_set signals(signal_ioc, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int) {});
  signal_ioc.run_one();
  Shutdown();
}

}  // namespace realizar
