// Test support for the server: a tiny random-weight llama model with a byte-level BPE
// tokenizer (256 byte tokens, no merges, no end-of-generation token, so generation only stops
// at max_tokens or a stop string), and a minimal blocking HTTP/1.1 client over loopback.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "realizar/model.h"
#include "realizar/tokenizer.h"
#include "synth_model.h"

namespace serve_test {

struct TestModel {
  apr_test::SynthModel synth;
  std::unique_ptr<realizar::Model> model;
  std::unique_ptr<realizar::Tokenizer> tokenizer;
};

// n_vocab = 256; kv_blocks = 0 means the Model default for max_sequences.
TestModel MakeTestModel(uint32_t seed, int max_context = 256, int kv_blocks = 0,
                        trueno::DType wtype = trueno::DType::kF32);

struct HttpResult {
  int status = 0;                              // 0 = connection failed
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One request on a fresh connection; reads the whole response (Content-Length or until close).
HttpResult Request(int port, const std::string& method, const std::string& target,
                   const std::string& body = "",
                   const std::map<std::string, std::string>& headers = {});

// Sends raw bytes and reads the raw response until close (for malformed requests).
std::string RawRequest(int port, const std::string& bytes);

// The JSON payloads of "data: " lines of an SSE body, in order ("[DONE]" kept verbatim).
std::vector<std::string> SseEvents(const std::string& body);

}  // namespace serve_test
