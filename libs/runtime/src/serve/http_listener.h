// The Beast listener: accepts connections and hands each socket to a session (request ->
// handler -> response, looping while keep-alive).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "serve/http_plumbing.h"

namespace realizar::serve {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  static absl::StatusOr<std::shared_ptr<Listener>> Create(
      boost::asio::io_context& ioc, const std::string& host, int port, HttpLimits limits,
      Handler handler, std::shared_ptr<ConnectionCounters> counters);
  void Run();    // starts accepting
  void Close();  // stops accepting (posted to the acceptor's strand)
  int port() const { return port_; }

 private:
  Listener(boost::asio::io_context& ioc, HttpLimits limits, Handler handler,
           std::shared_ptr<ConnectionCounters> counters);
  void DoAccept();

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  HttpLimits limits_;
  Handler handler_;
  std::shared_ptr<ConnectionCounters> counters_;
  int port_ = 0;
};

}  // namespace realizar::serve
