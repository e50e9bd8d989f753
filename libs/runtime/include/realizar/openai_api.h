// The OpenAI request mapping, separate from HTTP and from the scheduler: request bodies become
// typed requests (a pure function of the bytes, fuzzed by tests/fuzz/serve), errors become
// OpenAI-shaped error objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/chat_template.h"

namespace realizar {

// {"error": {"message", "type", "param", "code"}} plus the HTTP status it is sent with.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // empty = null
  std::string code;   // empty = null
};

std::string ApiErrorJson(const ApiError& error);

enum class ApiEndpoint { kCompletions, kChatCompletions, kGenerate };

struct CompletionRequest {
  ApiEndpoint endpoint = ApiEndpoint::kCompletions;
  std::string model;                   // empty = not given
  std::string prompt;                  // completions / generate (when prompt_tokens is empty)
  std::vector<int32_t> prompt_tokens;  // completions: prompt given as token ids
  std::vector<ChatMessage> messages;   // chat
  int max_tokens = -1;                 // -1 = not given (16 for completions, else to context)
  float temperature = 1.0f;            // [0, 2]
  float top_p = 1.0f;                  // (0, 1]
  int top_k = 0;                       // >= 0
  float min_p = 0.0f;                  // [0, 1]
  float presence_penalty = 0.0f;       // [-2, 2]
  float frequency_penalty = 0.0f;      // [-2, 2]
  float repetition_penalty = 1.0f;     // (0, 10]
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // at most 4, non-empty strings
  int n = 1;                      // [1, 16]
  int logprobs = -1;              // -1 = off, else number of top alternatives (0..20)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Parses and validates a JSON body. On failure returns the 400 error to send (param names the
// offending field). Never throws; bounded work on hostile input.
struct ParsedRequest {
  std::optional<CompletionRequest> request;
  ApiError error;
};
ParsedRequest ParseCompletionRequest(std::string_view body, ApiEndpoint endpoint);

}  // namespace realizar
