#include "serve_support.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdlib>

namespace serve_test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// GPT-2's byte -> printable code point mapping, UTF-8 encoded.
std::string ByteToken(int b) {
  static const std::vector<int> map = [] {
    std::vector<int> m(256, -1);
    int extra = 0;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
      m[c] = printable ? c : 256 + extra++;
    }
    return m;
  }();
  const int cp = map[b];
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

TestModel MakeTestModel(uint32_t seed, int max_context, int kv_blocks, trueno::DType wtype) {
  TestModel t;
  apr_test::SynthSpec spec;
  spec.n_vocab = 256;
  spec.seed = seed;
  spec.wtype = wtype;
  t.synth = apr_test::MakeSynthModel(spec);
  auto& md = t.synth.file.metadata;
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(ByteToken(b));
    types.push_back(1);
  }
  md.Set("tokenizer.ggml.model", aprender::MetaValue::String("gpt2"));
  md.Set("tokenizer.ggml.pre", aprender::MetaValue::String("gpt2"));
  md.Set("tokenizer.ggml.tokens", aprender::MetaValue::StringArray(tokens));
  md.Set("tokenizer.ggml.token_type", aprender::MetaValue::I32Array(types));
  md.Set("tokenizer.ggml.merges", aprender::MetaValue::StringArray({}));
  auto tok = realizar::Tokenizer::FromMetadata(md);
  if (!tok.ok()) std::abort();
  t.tokenizer = std::make_unique<realizar::Tokenizer>(*std::move(tok));
  realizar::ModelOptions opt;
  opt.max_context = max_context;
  opt.max_sequences = 16;
  opt.kv_blocks = kv_blocks;
  auto m = realizar::Model::Create(t.synth.file, t.synth.config, opt);
  if (!m.ok()) std::abort();
  t.model = *std::move(m);
  return t;
}

HttpResult Request(int port, const std::string& method, const std::string& target,
                   const std::string& body, const std::map<std::string, std::string>& headers) {
  HttpResult out;
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    beast::error_code ec;
    http::read(stream, buf, parser, ec);
    if (ec && ec != http::error::end_of_stream) return out;
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = res.body();
    beast::error_code ignore;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignore);
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

std::string RawRequest(int port, const std::string& bytes) {
  std::string out;
  try {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    beast::error_code ec;
    net::write(sock, net::buffer(bytes), ec);
    ec = {};
    char buf[4096];
    for (;;) {
      const size_t n = sock.read_some(net::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
  } catch (const std::exception&) {
  }
  return out;
}

std::vector<std::string> SseEvents(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(pos, end - pos);
    if (line.rfind("data: ", 0) == 0) events.push_back(line.substr(6));
    pos = end + 1;
  }
  return events;
}

}  // namespace serve_test
