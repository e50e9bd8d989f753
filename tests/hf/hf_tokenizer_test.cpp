// tokenizer.json -> tokenizer.ggml.* metadata: the real Qwen2 tokenizer and hand-written ones.
#include <catch2/catch.hpp>

#include <fstream>

#include "aprender/hf_dir.h"
#include "test_assets.h"

using aprender::Metadata;

namespace {

std::vector<std::string> StringArray(const Metadata& md, const std::string& key) {
  std::vector<std::string> out;
  const aprender::MetaValue* v = md.Find(key);
  if (v == nullptr || v->AsArray() == nullptr) return out;
  for (const auto& item : v->AsArray()->items) out.push_back(*item.AsString());
  return out;
}

std::vector<int64_t> IntArray(const Metadata& md, const std::string& key) {
  std::vector<int64_t> out;
  const aprender::MetaValue* v = md.Find(key);
  if (v == nullptr || v->AsArray() == nullptr) return out;
  for (const auto& item : v->AsArray()->items) out.push_back(*item.AsInt());
  return out;
}

}  // namespace

TEST_CASE("Qwen2 tokenizer.json imports vocab and merges and special tokens and chat template") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer.json");
  Metadata md;
  const auto path = apr_test::SharedAssets() / "tokenizers/qwen2/tokenizer.json";
  REQUIRE(aprender::ImportHfTokenizer(path.string(), md).ok());
  CHECK(md.GetStringOr("tokenizer.ggml.model") == "gpt2");
  CHECK(md.GetStringOr("tokenizer.ggml.pre") == "qwen2");
  const auto tokens = StringArray(md, "tokenizer.ggml.tokens");
  const auto types = IntArray(md, "tokenizer.ggml.token_type");
  const auto merges = StringArray(md, "tokenizer.ggml.merges");
  // 151643 BPE tokens + 26 added tokens; 151387 merges (counted with Python's json module).
  REQUIRE(tokens.size() == 151669);
  REQUIRE(types.size() == tokens.size());
  CHECK(merges.size() == 151387);
  CHECK(merges.front() == "\xC4\xA0 \xC4\xA0");  // ["Ġ", "Ġ"] pair form joined with a space
  CHECK(tokens[0] == "!");
  CHECK(tokens[279] == "\xC4\xA0the");  // "Ġthe"
  CHECK(tokens[151644] == "<|im_start|>");
  CHECK(types[151644] == 3);  // special -> control
  CHECK(types[151659] == 3);  // <|fim_prefix|>: not special but looks special (llama.cpp rule)
  CHECK(tokens[151657] == "<tool_call>");
  CHECK(types[151657] == 4);  // plain added token -> user-defined
  CHECK(types[279] == 1);
  CHECK(*md.GetUint("tokenizer.ggml.eos_token_id") == 151645);      // "<|im_end|>"
  CHECK(*md.GetUint("tokenizer.ggml.padding_token_id") == 151643);  // "<|endoftext|>"
  CHECK(md.Find("tokenizer.ggml.bos_token_id") == nullptr);         // bos_token is null
  CHECK(md.Find("tokenizer.ggml.add_bos_token")->AsBool() == false);
  const auto tmpl = md.GetStringOr("tokenizer.chat_template");
  REQUIRE(tmpl.has_value());
  CHECK(tmpl->find("<|im_start|>") != std::string::npos);
}

TEST_CASE("merges in string form and pair form import identically") {
  apr_test::ScratchDir dir;
  const std::string head = R"({"added_tokens":[{"id":0,"content":"<s>","special":true}],
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
    "decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","vocab":{"<s>":0,"a":1,"b":2,"ab":3,"abb":5},"merges":)";
  std::ofstream(dir.file("tokenizer.json")) << head << R"(["a b","ab b"]}})";
  Metadata strings;
  REQUIRE(aprender::ImportHfTokenizer(dir.file("tokenizer.json"), strings).ok());
  std::ofstream(dir.file("tokenizer.json")) << head << R"([["a","b"],["ab","b"]]}})";
  Metadata pairs;
  REQUIRE(aprender::ImportHfTokenizer(dir.file("tokenizer.json"), pairs).ok());
  CHECK(StringArray(strings, "tokenizer.ggml.merges") == std::vector<std::string>{"a b", "ab b"});
  CHECK(StringArray(pairs, "tokenizer.ggml.merges") ==
        StringArray(strings, "tokenizer.ggml.merges"));
  CHECK(strings.GetStringOr("tokenizer.ggml.pre") == "gpt-2");
  // id 4 is unused: filled like llama.cpp's converter does.
  CHECK(StringArray(strings, "tokenizer.ggml.tokens") ==
        std::vector<std::string>{"<s>", "a", "b", "ab", "[PAD4]", "abb"});
  CHECK(IntArray(strings, "tokenizer.ggml.token_type") == std::vector<int64_t>{3, 1, 1, 1, 4, 1});
}

TEST_CASE(
    "SentencePiece-style BPE with byte_fallback imports as llama with byte tokens and scores") {
  apr_test::ScratchDir dir;
  std::ofstream(dir.file("tokenizer.json")) << R"({"added_tokens":[
      {"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true},
      {"id":2,"content":"</s>","special":true}],
    "pre_tokenizer":null,"decoder":{"type":"Sequence","decoders":[{"type":"ByteFallback"}]},
    "model":{"type":"BPE","byte_fallback":true,
      "vocab":{"<unk>":0,"<s>":1,"</s>":2,"<0x0A>":3,"\u2581":4,"t":5,"\u2581t":6},
      "merges":["\u2581 t"]}})";
  std::ofstream(dir.file("tokenizer_config.json"))
      << R"({"bos_token":{"content":"<s>"},"eos_token":"</s>","add_bos_token":true})";
  Metadata md;
  REQUIRE(aprender::ImportHfTokenizer(dir.file("tokenizer.json"), md).ok());
  CHECK(md.GetStringOr("tokenizer.ggml.model") == "llama");
  CHECK(IntArray(md, "tokenizer.ggml.token_type") == std::vector<int64_t>{3, 3, 3, 6, 1, 1, 1});
  const aprender::MetaValue* scores = md.Find("tokenizer.ggml.scores");
  REQUIRE(scores != nullptr);
  REQUIRE(scores->AsArray()->items.size() == 7);
  // "▁t" comes from merge #0 and must outrank the unmerged pieces.
  CHECK(*scores->AsArray()->items[6].AsDouble() > *scores->AsArray()->items[5].AsDouble());
  CHECK(*md.GetUint("tokenizer.ggml.bos_token_id") == 1);
  CHECK(*md.GetUint("tokenizer.ggml.eos_token_id") == 2);
  CHECK(*md.Find("tokenizer.ggml.add_bos_token")->AsBool());
}

TEST_CASE("hostile tokenizer.json files fail cleanly") {
  apr_test::ScratchDir dir;
  auto import = [&](const std::string& text) {
    std::ofstream(dir.file("tokenizer.json"), std::ios::trunc) << text;
    Metadata md;
    return aprender::ImportHfTokenizer(dir.file("tokenizer.json"), md);
  };
  CHECK_FALSE(import("{").ok());
  CHECK_FALSE(import(R"({"model":{"type":"BPE"}})").ok());
  CHECK(import(R"({"model":{"type":"Unigram","vocab":[]}})").code() ==
        absl::StatusCode::kUnimplemented);
  // An id far beyond the listed tokens must not allocate a huge table.
  CHECK(
      import(
          R"({"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":4000000000},"merges":[]}})")
          .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      import(
          R"({"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":9000000},"merges":[]}})")
          .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      import(
          R"({"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":0},"merges":[]}})")
          .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      import(
          R"({"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[7]}})")
          .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      aprender::ImportHfTokenizer(dir.file("absent.json"), *std::make_unique<Metadata>()).code() ==
      absl::StatusCode::kNotFound);
}
