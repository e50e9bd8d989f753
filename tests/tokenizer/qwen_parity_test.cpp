// Qwen2 byte-level BPE parity with HF `tokenizers`: the corpus in
// tests/fixtures/tokenizer/qwen_corpus.jsonl, tokenized by the reference into qwen_ref.jsonl
// (gen_qwen_ref.py, run with tokenizers 0.23.2; the fixture is committed).
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "realizar/tokenizer.h"
#include "test_assets.h"
#include <boost/json.hpp>

#include "aprender/hf_dir.h"

TEST_CASE("Qwen2 tokenizer matches HF tokenizers on the authored corpus", "[tokenizer]") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer.json");
  const std::string fixtures = APR_TOKENIZER_FIXTURES;
  std::ifstream corpus(fixtures + "/qwen_corpus.jsonl");
  std::ifstream refs(fixtures + "/qwen_ref.jsonl");
  REQUIRE(corpus);
  REQUIRE(refs);
  aprender::Metadata md;
  const auto st = aprender::ImportHfTokenizer(
      (apr_test::SharedAssets() / "tokenizers/qwen2/tokenizer.json").string(), md);
  REQUIRE(st.ok());
  auto tok = realizar::Tokenizer::FromMetadata(md);
  REQUIRE(tok.ok());
  CHECK(tok->pre_type() == "qwen2");
  std::string text_line, ref_line;
  int n = 0;
  while (std::getline(corpus, text_line) && std::getline(refs, ref_line)) {
    const std::string text = std::string(boost::json::parse(text_line).as_string());
    std::vector<int32_t> expected;
    const boost::json::value ref = boost::json::parse(ref_line);  // outlives the loop below
    for (const auto& v : ref.as_array()) {
      expected.push_back(static_cast<int32_t>(v.as_int64()));
    }
    INFO("corpus line " << n << ": " << text.substr(0, 80));
    // HF always matches added tokens in text, so parse_special is on.
    CHECK(tok->Encode(text, false, true) == expected);
    CHECK(tok->Decode(expected, true) == text);
    ++n;
  }
  CHECK(n >= 20);
}
