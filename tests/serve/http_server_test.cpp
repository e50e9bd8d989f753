// The HTTP server over loopback on an ephemeral port, with a tiny random-weight model:
// response shapes, SSE streams, stop strings, error statuses, metrics, seed determinism in a
// batch, cancellation on disconnect and graceful shutdown.
#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "realizar/http_server.h"
#include "serve_support.h"

namespace {

namespace json = boost::json;
using serve_test::Request;

struct Fixture {
  explicit Fixture(realizar::ServerOptions opt = {}, int max_context = 256) {
    t = serve_test::MakeTestModel(31, max_context);
    opt.host = "127.0.0.1";
    opt.port = 0;
    opt.model_id = "tiny";
    server = realizar::HttpServer::Start(*t.model, *t.tokenizer, opt).value();
    port = server->port();
  }
  serve_test::TestModel t;
  std::unique_ptr<realizar::HttpServer> server;
  int port = 0;
};

json::object Json(const std::string& s) { return json::parse(s).as_object(); }

void CheckError(const serve_test::HttpResult& r, int status, const char* param = nullptr) {
  INFO(r.body);
  CHECK(r.status == status);
  auto o = Json(r.body);
  REQUIRE(o.contains("error"));
  auto& e = o["error"].as_object();
  CHECK(e["message"].is_string());
  CHECK(e["type"].is_string());
  CHECK(e.contains("param"));
  CHECK(e.contains("code"));
  if (param != nullptr) CHECK(e["param"] == param);
}

// Concatenated text of an SSE stream; checks every event is JSON and the stream ends [DONE].
std::string StreamText(const std::string& body, bool chat, json::object* usage = nullptr,
                       std::string* finish = nullptr) {
  auto events = serve_test::SseEvents(body);
  REQUIRE(events.size() >= 2);
  CHECK(events.back() == "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto o = Json(events[i]);
    CHECK(o["object"] == (chat ? "chat.completion.chunk" : "text_completion"));
    auto& choices = o["choices"].as_array();
    if (choices.empty()) {
      if (usage) *usage = o["usage"].as_object();
      continue;
    }
    auto& c = choices[0].as_object();
    if (chat) {
      auto& d = c["delta"].as_object();
      if (i == 0) CHECK(d["role"] == "assistant");
      if (d.contains("content")) text += std::string(d["content"].as_string());
    } else {
      text += std::string(c["text"].as_string());
    }
    if (!c["finish_reason"].is_null() && finish)
      *finish = std::string(c["finish_reason"].as_string());
  }
  return text;
}

}  // namespace

TEST_CASE("Completions and chat completions have OpenAI's response shape", "[http]") {
  Fixture f;
  auto r = Request(f.port, "POST", "/v1/completions",
                   R"({"model":"tiny","prompt":"Hello","max_tokens":12,"seed":5})");
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "application/json");
  auto o = Json(r.body);
  CHECK(std::string(o["id"].as_string()).rfind("cmpl-", 0) == 0);
  CHECK(o["object"] == "text_completion");
  CHECK(o["model"] == "tiny");
  CHECK(o["created"].is_int64());
  auto& c = o["choices"].as_array()[0].as_object();
  CHECK(c["index"] == 0);
  CHECK(c["text"].is_string());
  CHECK(c["logprobs"].is_null());
  CHECK(c["finish_reason"] == "length");
  auto& u = o["usage"].as_object();
  CHECK(u["prompt_tokens"] == 5);  // five bytes, no BOS
  CHECK(u["completion_tokens"] == 12);
  CHECK(u["total_tokens"] == 17);

  auto chat =
      Request(f.port, "POST", "/v1/chat/completions",
              R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"n":2,"seed":1})");
  REQUIRE(chat.status == 200);
  auto co = Json(chat.body);
  CHECK(std::string(co["id"].as_string()).rfind("chatcmpl-", 0) == 0);
  CHECK(co["object"] == "chat.completion");
  auto& choices = co["choices"].as_array();
  REQUIRE(choices.size() == 2);
  CHECK(choices[1].as_object()["index"] == 1);
  auto& msg = choices[0].as_object()["message"].as_object();
  CHECK(msg["role"] == "assistant");
  CHECK(msg["content"].is_string());
  CHECK(co["usage"].as_object()["completion_tokens"] == 12);

  auto native = Request(f.port, "POST", "/generate", R"({"prompt":"abc","n_predict":4})");
  REQUIRE(native.status == 200);
  CHECK(Json(native.body)["tokens_predicted"] == 4);

  auto lp = Request(
      f.port, "POST", "/v1/chat/completions",
      R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"logprobs":true,"top_logprobs":2})");
  REQUIRE(lp.status == 200);
  auto lp_json = Json(lp.body);
  auto& content =
      lp_json["choices"].as_array()[0].as_object()["logprobs"].as_object()["content"].as_array();
  REQUIRE(content.size() == 3);
  auto& first = content[0].as_object();
  CHECK(first["logprob"].as_double() <= 0.0);
  CHECK(first["top_logprobs"].as_array().size() == 2);
}

TEST_CASE("Streams are well-formed SSE ending with [DONE] and carry the same text", "[http]") {
  Fixture f;
  const std::string req = R"("prompt":"The cat","max_tokens":20,"seed":9,"temperature":0.8)";
  auto plain = Request(f.port, "POST", "/v1/completions", "{" + req + "}");
  REQUIRE(plain.status == 200);
  const std::string text =
      std::string(Json(plain.body)["choices"].as_array()[0].as_object()["text"].as_string());
  auto s = Request(f.port, "POST", "/v1/completions",
                   "{" + req + R"(,"stream":true,"stream_options":{"include_usage":true}})");
  REQUIRE(s.status == 200);
  CHECK(s.headers["content-type"] == "text/event-stream");
  json::object usage;
  std::string finish;
  CHECK(StreamText(s.body, false, &usage, &finish) == text);
  CHECK(finish == "length");
  CHECK(usage["completion_tokens"] == 20);
  CHECK(usage["prompt_tokens"] == 7);

  auto chat = Request(
      f.port, "POST", "/v1/chat/completions",
      R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true,"seed":3})");
  REQUIRE(chat.status == 200);
  std::string chat_finish;
  StreamText(chat.body, true, nullptr, &chat_finish);
  CHECK(chat_finish == "length");
}

TEST_CASE("A stop string cuts the text before it, streamed or not", "[http]") {
  Fixture f;
  const std::string base = R"("prompt":"Once","max_tokens":60,"seed":77,"temperature":1.0)";
  auto r = Request(f.port, "POST", "/v1/completions", "{" + base + "}");
  REQUIRE(r.status == 200);
  const std::string text =
      std::string(Json(r.body)["choices"].as_array()[0].as_object()["text"].as_string());
  // Pick two printable ASCII bytes from the middle of the text as the stop string.
  std::string stop;
  for (size_t i = 10; i + 1 < text.size() && stop.empty(); ++i) {
    if (text[i] > 32 && text[i] < 127 && text[i + 1] > 32 && text[i + 1] < 127 && text[i] != '"' &&
        text[i] != '\\' && text[i + 1] != '"' && text[i + 1] != '\\') {
      stop = text.substr(i, 2);
    }
  }
  if (stop.empty()) {
    WARN("no ASCII pair in the sampled text; stop-string check skipped");
    return;
  }
  const std::string expected = text.substr(0, text.find(stop));
  auto s =
      Request(f.port, "POST", "/v1/completions", "{" + base + R"(,"stop":[")" + stop + R"("]})");
  REQUIRE(s.status == 200);
  auto s_json = Json(s.body);
  auto& c = s_json["choices"].as_array()[0].as_object();
  CHECK(std::string(c["text"].as_string()) == expected);
  CHECK(c["finish_reason"] == "stop");
  auto st = Request(f.port, "POST", "/v1/completions",
                    "{" + base + R"(,"stream":true,"stop":")" + stop + R"("})");
  std::string finish;
  CHECK(StreamText(st.body, false, nullptr, &finish) == expected);
  CHECK(finish == "stop");
}

TEST_CASE("Bad requests get OpenAI-shaped errors with the right status", "[http]") {
  realizar::ServerOptions opt;
  opt.max_body_bytes = 1024;
  Fixture f(opt, 64);
  auto post = [&](const char* path, const std::string& body) {
    return Request(f.port, "POST", path, body);
  };
  CheckError(post("/v1/completions", "{\"prompt\": "), 400);
  CheckError(post("/v1/completions", R"({"model":"tiny"})"), 400, "prompt");
  CheckError(post("/v1/completions", R"({"prompt":["a",1]})"), 400, "prompt");
  CheckError(post("/v1/completions", R"({"prompt":"x","temperature":50})"), 400, "temperature");
  CheckError(post("/v1/completions", R"({"prompt":"x","max_tokens":-5})"), 400, "max_tokens");
  CheckError(post("/v1/chat/completions", R"({"messages":"hi"})"), 400, "messages");
  CheckError(post("/v1/completions", R"({"model":"gpt-9","prompt":"x"})"), 404, "model");
  CheckError(Request(f.port, "GET", "/v1/nothing"), 404);
  CheckError(Request(f.port, "GET", "/v1/completions"), 405);
  CheckError(post("/v1/completions", R"({"prompt":")" + std::string(100, 'a') + R"("})"), 400,
             "prompt");
  const std::string raw = serve_test::RawRequest(
      f.port,
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2000\r\n\r\n" +
          std::string(2000, ' '));
  CHECK(raw.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(raw.find("\"error\"") != std::string::npos);
}

TEST_CASE("A wrong API key is 401 and a full queue is 503 with Retry-After", "[http]") {
  realizar::ServerOptions opt;
  opt.api_key = "sesame";
  opt.scheduler.max_batch = 1;
  opt.scheduler.max_queue = 1;
  Fixture f(opt);
  const std::string body = R"({"prompt":"x","max_tokens":3})";
  CheckError(Request(f.port, "POST", "/v1/completions", body), 401);
  CheckError(Request(f.port, "POST", "/v1/completions", body, {{"Authorization", "Bearer sesam"}}),
             401);
  CheckError(Request(f.port, "GET", "/v1/models", "", {{"Authorization", "Bearer sesame!"}}), 401);
  CHECK(Request(f.port, "GET", "/health").status == 200);  // health needs no key
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer sesame"}};
  CHECK(Request(f.port, "GET", "/v1/models", "", auth).status == 200);

  f.server->scheduler().SetPaused(true);
  auto a = std::async(std::launch::async,
                      [&] { return Request(f.port, "POST", "/v1/completions", body, auth); });
  auto b = std::async(std::launch::async,
                      [&] { return Request(f.port, "POST", "/v1/completions", body, auth); });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (f.server->Stats().scheduler.queued < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(f.server->Stats().scheduler.queued == 2);
  auto busy = Request(f.port, "POST", "/v1/completions", body, auth);
  CheckError(busy, 503);
  CHECK(busy.headers["retry-after"] == "1");
  f.server->scheduler().SetPaused(false);
  CHECK(a.get().status == 200);
  CHECK(b.get().status == 200);
}

TEST_CASE("Info routes: models, model, health, metrics and the chat page", "[http]") {
  Fixture f;
  REQUIRE(Request(f.port, "POST", "/v1/completions", R"({"prompt":"x","max_tokens":2})").status ==
          200);
  auto models = Json(Request(f.port, "GET", "/v1/models").body);
  CHECK(models["object"] == "list");
  CHECK(models["data"].as_array()[0].as_object()["id"] == "tiny");
  CHECK(Json(Request(f.port, "GET", "/model").body)["n_vocab"] == 256);
  CHECK(Json(Request(f.port, "GET", "/health").body)["status"] == "ok");
  auto page = Request(f.port, "GET", "/");
  CHECK(page.headers["content-type"].rfind("text/html", 0) == 0);
  CHECK(page.body.find("/v1/chat/completions") != std::string::npos);
  auto m = Request(f.port, "GET", "/metrics");
  REQUIRE(m.status == 200);
  for (const char* name :
       {"apr_inference_count 1", "apr_tokens_generated_total 2", "apr_prompt_tokens_total 1",
        "apr_inference_duration_seconds_bucket", "apr_time_to_first_token_seconds_count 1",
        "apr_queue_depth 0", "apr_kv_cache_usage_ratio 0", "apr_requests_in_flight 0"}) {
    INFO(name);
    CHECK(m.body.find(name) != std::string::npos);
  }
}

TEST_CASE("Seeded output is identical alone and among 8 concurrent requests", "[http]") {
  Fixture f;
  auto body = [](int i) {
    return "{\"prompt\":\"request " + std::to_string(i) +
           "\",\"max_tokens\":16,\"seed\":" + std::to_string(500 + i) +
           ",\"temperature\":0.9,\"top_p\":0.95}";
  };
  std::vector<std::string> alone;
  for (int i = 0; i < 8; ++i) {
    auto r = Request(f.port, "POST", "/v1/completions", body(i));
    REQUIRE(r.status == 200);
    alone.push_back(r.body);
  }
  f.server->scheduler().SetPaused(true);  // so all eight are admitted into one batch
  std::vector<std::future<serve_test::HttpResult>> futs;
  for (int i = 0; i < 8; ++i) {
    futs.push_back(std::async(std::launch::async, [&, i] {
      return Request(f.port, "POST", "/v1/completions", body(i));
    }));
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (f.server->Stats().scheduler.queued < 8 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(f.server->Stats().scheduler.queued == 8);
  f.server->scheduler().SetPaused(false);
  for (int i = 0; i < 8; ++i) {
    auto r = futs[i].get();
    REQUIRE(r.status == 200);
    INFO("request " << i);
    CHECK(Json(r.body)["choices"] == Json(alone[i])["choices"]);
  }
}

TEST_CASE("A client that disconnects mid-stream is cancelled and its KV blocks freed", "[http]") {
  Fixture f({}, 2048);
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(f.port)});
  const std::string body = R"({"prompt":"go","max_tokens":2000,"stream":true,"seed":1})";
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(sock, net::buffer(req));
  std::string got;
  char buf[512];
  while (got.find("data: ") == std::string::npos) {
    const size_t n = sock.read_some(net::buffer(buf));
    got.append(buf, n);
  }
  CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
  sock.close();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  realizar::ServerStats s;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s = f.server->Stats();
  } while ((s.scheduler.running > 0 || s.scheduler.kv_blocks_used > 0) &&
           std::chrono::steady_clock::now() < until);
  CHECK(s.scheduler.running == 0);
  CHECK(s.scheduler.kv_blocks_used == 0);
  const std::string metrics = Request(f.port, "GET", "/metrics").body;
  const size_t at = metrics.find("\napr_tokens_generated_total ");
  REQUIRE(at != std::string::npos);
  const long generated = std::stol(metrics.substr(at + 28));
  INFO("generated before cancellation: " << generated);
  CHECK(generated < 2000);
  CHECK(metrics.find("apr_kv_cache_usage_ratio 0\n") != std::string::npos);
}

TEST_CASE("Shutdown lets an in-flight stream finish and then refuses connections", "[http]") {
  Fixture f;
  auto stream = std::async(std::launch::async, [&] {
    return Request(f.port, "POST", "/v1/completions",
                   R"({"prompt":"go","max_tokens":200,"stream":true,"seed":2})");
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  f.server->scheduler().SetPaused(true);
  while (f.server->Stats().scheduler.queued + f.server->Stats().scheduler.running == 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  f.server->scheduler().SetPaused(false);
  f.server->Shutdown();
  auto r = stream.get();
  REQUIRE(r.status == 200);
  std::string finish;
  StreamText(r.body, false, nullptr, &finish);
  CHECK(finish == "length");
  CHECK(Request(f.port, "GET", "/health").status == 0);
}

TEST_CASE("A client that hangs up before a non-streaming reply is cancelled", "[http]") {
  Fixture f({}, 2048);
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(f.port)});
  const std::string body = R"({"prompt":"go","max_tokens":2000,"seed":1})";
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(sock, net::buffer(req));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (f.server->Stats().scheduler.running == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sock.close();
  realizar::ServerStats s;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s = f.server->Stats();
  } while ((s.scheduler.running > 0 || s.scheduler.kv_blocks_used > 0) &&
           std::chrono::steady_clock::now() < until);
  CHECK(s.scheduler.running == 0);
  CHECK(s.scheduler.kv_blocks_used == 0);
  const std::string metrics = Request(f.port, "GET", "/metrics").body;
  const size_t at = metrics.find("\napr_tokens_generated_total ");
  REQUIRE(at != std::string::npos);
  const long generated = std::stol(metrics.substr(at + 28));
  INFO("generated before cancellation: " << generated);
  CHECK(generated < 2000);
}

TEST_CASE("Oversized headers are 431, CORS headers and preflight, idle connections close",
          "[http]") {
  realizar::ServerOptions opt;
  opt.cors_origin = "http://example.com";
  opt.max_header_bytes = 4096;
  opt.idle_seconds = 0.2;
  Fixture f(opt);
  const std::string big = serve_test::RawRequest(
      f.port, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  CHECK(big.rfind("HTTP/1.1 431", 0) == 0);

  auto health = Request(f.port, "GET", "/health");
  CHECK(health.headers["access-control-allow-origin"] == "http://example.com");
  auto pre = Request(f.port, "OPTIONS", "/v1/chat/completions", "",
                     {{"Origin", "http://example.com"}, {"Access-Control-Request-Method", "POST"}});
  CHECK(pre.status == 204);
  CHECK(pre.headers["access-control-allow-methods"].find("POST") != std::string::npos);
  CHECK(pre.headers["access-control-allow-headers"].find("Authorization") != std::string::npos);

  // A connection that never sends a request is closed by the server (bounded wait: the read
  // below returns EOF once the 0.2 s idle timeout fires; the test's own limit is generous).
  const std::string idle = serve_test::RawRequest(f.port, "");
  CHECK(idle.empty());
  CHECK(Request(f.port, "HEAD", "/health").status == 405);
}
