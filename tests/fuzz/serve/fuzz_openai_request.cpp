// libFuzzer entry for realizar::ParseCompletionRequest: never crashes, and either yields a
// request whose fields are inside their documented ranges or a 400 error with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "realizar/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto endpoint = static_cast<realizar::ApiEndpoint>(data[0] % 3);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const realizar::ParsedRequest p = realizar::ParseCompletionRequest(body, endpoint);
  if (p.request) {
    const auto& r = *p.request;
    if (r.temperature < 0 || r.temperature > 2 || r.top_p < 0 || r.top_p > 1 || r.n < 1 ||
        r.n > 16 || r.max_tokens < -1 || r.stop.size() > 4 || r.logprobs < -1 || r.logprobs > 20) {
      std::abort();
    }
    if (endpoint == realizar::ApiEndpoint::kChatCompletions && r.messages.empty()) std::abort();
  } else {
    if (p.error.http_status != 400 || p.error.message.empty()) std::abort();
    if (realizar::ApiErrorJson(p.error).empty()) std::abort();
  }
  return 0;
}
