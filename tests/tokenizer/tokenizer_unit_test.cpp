// Tokenizer behaviour on small hand-built vocabularies whose expected ids are worked out by
// hand from the algorithms' definitions (no shared assets needed).
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "aprender/metadata.h"
#include "realizar/tokenizer.h"

using aprender::Metadata;
using aprender::MetaValue;
using realizar::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

Metadata SpmMetadata() {
  Metadata md;
  md.Set("tokenizer.ggml.model", MetaValue::String("llama"));
  md.Set("tokenizer.ggml.tokens",
         MetaValue::StringArray({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "ab",
                                 "\xE2\x96\x81" "ab", "<0xC3>", "<0xA9>", "<|im_start|>"}));
  md.Set("tokenizer.ggml.scores",
         MetaValue::F32Array({0, 0, 0, -1.0f, -2.0f, -2.0f, -0.5f, -0.1f, 0, 0, 0}));
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 1, 1, 1, 1, 1, 6, 6, 3}));
  md.Set("tokenizer.ggml.bos_token_id", MetaValue::U32(1));
  md.Set("tokenizer.ggml.eos_token_id", MetaValue::U32(2));
  md.Set("tokenizer.ggml.unknown_token_id", MetaValue::U32(0));
  return md;
}

Metadata BpeMetadata() {
  Metadata md;
  md.Set("tokenizer.ggml.model", MetaValue::String("gpt2"));
  md.Set("tokenizer.ggml.pre", MetaValue::String("gpt2"));
  // "Ġ" is GPT-2's stand-in for the space byte.
  md.Set("tokenizer.ggml.tokens",
         MetaValue::StringArray({"a", "b", "\xC4\xA0", "ab", "\xC4\xA0" "ab", "c", "<|endoftext|>",
                                 "x", "y", "z", "xy", "yz"}));
  md.Set("tokenizer.ggml.token_type",
         MetaValue::I32Array({1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1}));
  md.Set("tokenizer.ggml.merges",
         MetaValue::StringArray({"a b", "\xC4\xA0 ab", "y z", "x y"}));
  md.Set("tokenizer.ggml.eos_token_id", MetaValue::U32(6));
  return md;
}

}  // namespace

TEST_CASE("SPM merges the best-scoring pairs and falls back to byte tokens", "[tokenizer]") {
  auto tok = Tokenizer::FromMetadata(SpmMetadata());
  REQUIRE(tok.ok());
  // "ab é" -> "▁ab▁é": ab (-0.5) merges, then ▁ab (-0.1); é is not a piece -> <0xC3><0xA9>.
  CHECK(tok->Encode("ab \xC3\xA9", false, false) == Ids{7, 3, 8, 9});
  CHECK(tok->Encode("ab \xC3\xA9", true, false) == Ids{1, 7, 3, 8, 9});
  CHECK(tok->Decode({1, 7, 3, 8, 9}) == "ab \xC3\xA9");
  // A rendered control token is the first text, so the dummy-prefix space stays (as llama.cpp).
  CHECK(tok->Decode({1, 7}, /*render_special=*/true) == "<s> ab");
  CHECK(tok->Encode("", false, false).empty());
  CHECK(tok->bos_id() == 1);
  CHECK(tok->IsEog(2));
  CHECK_FALSE(tok->IsEog(7));
}

TEST_CASE("Control tokens are matched in text only with parse_special", "[tokenizer]") {
  auto tok = Tokenizer::FromMetadata(SpmMetadata());
  REQUIRE(tok.ok());
  // After a special token the next fragment gets the dummy-prefix space again: "▁ab".
  CHECK(tok->Encode("<|im_start|>ab", false, true) == Ids{10, 7});
  const Ids plain = tok->Encode("<|im_start|>ab", false, false);
  CHECK(std::find(plain.begin(), plain.end(), 10) == plain.end());
}

TEST_CASE("Byte-level BPE applies merges by rank over pre-tokenized words", "[tokenizer]") {
  auto tok = Tokenizer::FromMetadata(BpeMetadata());
  REQUIRE(tok.ok());
  // Words "ab", " ab", " c": a+b -> ab; Ġ+ab -> Ġab; Ġ c has no merge.
  CHECK(tok->Encode("ab ab c", false, false) == Ids{3, 4, 2, 5});
  CHECK(tok->Decode({3, 4, 2, 5}) == "ab ab c");
  // "y z" (rank 2) beats "x y" (rank 3): xyz -> x + yz, never xy + z.
  CHECK(tok->Encode("xyz", false, false) == Ids{7, 11});
  CHECK(tok->Encode("ab<|endoftext|>", false, true) == Ids{3, 6});
  CHECK(tok->pre_type() == "gpt2");
}

TEST_CASE("Tokenizer metadata errors name the key", "[tokenizer]") {
  Metadata none;
  auto r = Tokenizer::FromMetadata(none);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(r.status().message()).find("tokenizer.ggml.model") != std::string::npos);

  Metadata rwkv = SpmMetadata();
  rwkv.Set("tokenizer.ggml.model", MetaValue::String("rwkv"));
  CHECK(Tokenizer::FromMetadata(rwkv).status().code() == absl::StatusCode::kUnimplemented);

  Metadata no_merges = BpeMetadata();
  no_merges.Erase("tokenizer.ggml.merges");
  auto m = Tokenizer::FromMetadata(no_merges);
  REQUIRE_FALSE(m.ok());
  CHECK(std::string(m.status().message()).find("tokenizer.ggml.merges") != std::string::npos);

  Metadata short_scores = SpmMetadata();
  short_scores.Set("tokenizer.ggml.scores", MetaValue::F32Array({0.0f}));
  auto s = Tokenizer::FromMetadata(short_scores);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Encoding hostile bytes never fails or crashes", "[tokenizer]") {
  auto spm = Tokenizer::FromMetadata(SpmMetadata());
  auto bpe = Tokenizer::FromMetadata(BpeMetadata());
  REQUIRE(spm.ok());
  REQUIRE(bpe.ok());
  const char kJunk[] = "\xFF\xC3\x28\xE2\x82\x00 a\xF0\x9F\x98";
  const std::string junk(kJunk, sizeof(kJunk) - 1);  // embedded NUL kept, terminator not
  (void)spm->Encode(junk, true, true);
  (void)bpe->Encode(junk, true, true);
  CHECK(spm->Decode({-5, 999, 3}) == "");  // invalid ids render as nothing; lone "▁" stripped
}
