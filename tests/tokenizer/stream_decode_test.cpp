// StreamDecoder: multi-byte characters split across byte tokens are held back until complete,
// so every chunk is valid UTF-8 and the chunks concatenate to the full text.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "realizar/tokenizer.h"
#include "test_assets.h"
#include "vocab_loader.h"

namespace {

// Independent UTF-8 validator (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

const char* const kTexts[] = {
    "🦙🦙 llamas 😶‍🌫️ and 🚀",
    "我想在apple工作1314151天～",
    "нещо на Български",
    "កាន់តែពិសេសអាចខលចេញ",
    "Cửa Việt 👩‍👩‍👧‍👦 ✅",
};

void CheckStreaming(const std::string& vocab) {
  const std::string rel = "vocab/ggml-vocab-" + vocab + ".gguf";
  APR_REQUIRE_ASSET(rel);
  auto md = apr_test::LoadGgufMetadata((apr_test::SharedAssets() / rel).string());
  REQUIRE(md.has_value());
  auto tok = realizar::Tokenizer::FromMetadata(*md);
  REQUIRE(tok.ok());
  // The vocabulary must actually split some character across tokens for this to prove
  // anything: at least one token alone decodes to invalid UTF-8.
  bool split_somewhere = false;
  for (const char* text : kTexts) {
    INFO("vocab " << vocab << " text [" << text << "]");
    const std::vector<int32_t> ids = tok->Encode(text, false, false);
    for (int32_t id : ids) split_somewhere |= !IsValidUtf8(tok->TokenBytes(id));
    realizar::Tokenizer::StreamDecoder dec(*tok);
    std::string all;
    for (int32_t id : ids) {
      const std::string chunk = dec.Push(id);
      CHECK(IsValidUtf8(chunk));
      all += chunk;
    }
    const std::string tail = dec.Flush();
    CHECK(tail.empty());
    all += tail;
    CHECK(all == text);
  }
  CHECK(split_somewhere);
}

}  // namespace

TEST_CASE("Streaming decode never emits a broken code point (byte-level BPE)", "[tokenizer]") {
  CheckStreaming("gpt-2");
}

TEST_CASE("Streaming decode never emits a broken code point (SPM byte fallback)",
          "[tokenizer]") {
  CheckStreaming("llama-spm");
}

TEST_CASE("Streaming decode holds an incomplete tail until Flush", "[tokenizer]") {
  APR_REQUIRE_ASSET("vocab/ggml-vocab-gpt-2.gguf");
  auto md = apr_test::LoadGgufMetadata(
      (apr_test::SharedAssets() / "vocab/ggml-vocab-gpt-2.gguf").string());
  REQUIRE(md.has_value());
  auto tok = realizar::Tokenizer::FromMetadata(*md);
  REQUIRE(tok.ok());
  // GPT-2 has a token for every single byte; 0xF0 0x9F is the start of a 4-byte emoji.
  const int32_t f0 = tok->PieceToId("ð");   // byte 0xF0
  const int32_t x9f = tok->PieceToId("Ł");  // byte 0x9F
  REQUIRE(f0 >= 0);
  REQUIRE(x9f >= 0);
  realizar::Tokenizer::StreamDecoder dec(*tok);
  CHECK(dec.Push(f0).empty());
  CHECK(dec.Push(x9f).empty());
  CHECK(dec.Flush() == "\xEF\xBF\xBD");  // the unfinished sequence becomes one U+FFFD
}
