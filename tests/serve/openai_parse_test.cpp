// ParseCompletionRequest: typed fields, defaults, and a 400 naming the field for each bad input.
#include <catch2/catch.hpp>

#include "realizar/openai_api.h"

using realizar::ApiEndpoint;
using realizar::ParseCompletionRequest;

TEST_CASE("Completion and chat requests parse into typed fields", "[openai]") {
  auto p = ParseCompletionRequest(
      R"({"model":"m","prompt":"hi","max_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":40,
          "min_p":0.05,"seed":42,"stop":["a","bb"],"n":2,"logprobs":3,"stream":true,
          "stream_options":{"include_usage":true},"presence_penalty":1,"frequency_penalty":-0.5})",
      ApiEndpoint::kCompletions);
  REQUIRE(p.request.has_value());
  const auto& r = *p.request;
  CHECK(r.model == "m");
  CHECK(r.prompt == "hi");
  CHECK(r.max_tokens == 7);
  CHECK(r.temperature == 0.5f);
  CHECK(r.top_k == 40);
  CHECK(r.seed == 42u);
  CHECK(r.stop == std::vector<std::string>{"a", "bb"});
  CHECK(r.n == 2);
  CHECK(r.logprobs == 3);
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.frequency_penalty == -0.5f);

  auto c = ParseCompletionRequest(
      R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x"}]}],
          "stop":"END","logprobs":true,"top_logprobs":2})",
      ApiEndpoint::kChatCompletions);
  REQUIRE(c.request.has_value());
  CHECK(c.request->messages.size() == 2);
  CHECK(c.request->messages[1].content == "x");
  CHECK(c.request->stop == std::vector<std::string>{"END"});
  CHECK(c.request->logprobs == 2);
  CHECK(c.request->max_tokens == -1);
}

TEST_CASE("Malformed, missing, mistyped and out-of-range fields are 400 with the param",
          "[openai]") {
  struct Case {
    const char* body;
    ApiEndpoint ep;
    const char* param;
  };
  const Case cases[] = {
      {"{not json", ApiEndpoint::kCompletions, ""},
      {"[1,2]", ApiEndpoint::kCompletions, ""},
      {R"({"model":"m"})", ApiEndpoint::kCompletions, "prompt"},
      {R"({"prompt":5})", ApiEndpoint::kCompletions, "prompt"},
      {R"({"prompt":"x","temperature":50})", ApiEndpoint::kCompletions, "temperature"},
      {R"({"prompt":"x","temperature":"hot"})", ApiEndpoint::kCompletions, "temperature"},
      {R"({"prompt":"x","max_tokens":-1})", ApiEndpoint::kCompletions, "max_tokens"},
      {R"({"prompt":"x","max_tokens":1.5})", ApiEndpoint::kCompletions, "max_tokens"},
      {R"({"prompt":"x","top_p":1.5})", ApiEndpoint::kCompletions, "top_p"},
      {R"({"prompt":"x","n":0})", ApiEndpoint::kCompletions, "n"},
      {R"({"prompt":"x","stop":[1]})", ApiEndpoint::kCompletions, "stop"},
      {R"({"prompt":"x","stop":["a","b","c","d","e"]})", ApiEndpoint::kCompletions, "stop"},
      {R"({"prompt":"x","stream":"yes"})", ApiEndpoint::kCompletions, "stream"},
      {R"({"prompt":"x","seed":"1"})", ApiEndpoint::kCompletions, "seed"},
      {R"({"prompt":"x","presence_penalty":3})", ApiEndpoint::kCompletions, "presence_penalty"},
      {R"({"model":"m"})", ApiEndpoint::kChatCompletions, "messages"},
      {R"({"messages":[]})", ApiEndpoint::kChatCompletions, "messages"},
      {R"({"messages":[{"content":"x"}]})", ApiEndpoint::kChatCompletions, "messages"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", ApiEndpoint::kChatCompletions,
       "messages"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":50,"logprobs":true})",
       ApiEndpoint::kChatCompletions, "top_logprobs"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto p = ParseCompletionRequest(c.body, c.ep);
    CHECK_FALSE(p.request.has_value());
    CHECK(p.error.http_status == 400);
    CHECK(p.error.type == "invalid_request_error");
    CHECK(p.error.param == c.param);
    CHECK_FALSE(p.error.message.empty());
  }
}

TEST_CASE("Error objects have OpenAI's shape", "[openai]") {
  realizar::ApiError e;
  e.message = "bad \"x\"";
  e.param = "x";
  CHECK(
      realizar::ApiErrorJson(e) ==
      R"({"error":{"message":"bad \"x\"","type":"invalid_request_error","param":"x","code":null}})");
}
