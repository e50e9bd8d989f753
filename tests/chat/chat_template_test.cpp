// Chat templates: built-in formats against hand-written prompts, the Qwen template shipped in
// ../shared/assets against the ChatML/Qwen3 format written out by hand and (when the
// integrator has generated them with HF transformers) against chat_refs.json, and clear
// errors for unsupported or hostile templates.
#include <boost/json.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "realizar/chat_template.h"
#include "test_assets.h"

using realizar::ChatMessage;
using realizar::ChatTemplateKind;
using realizar::RenderBuiltin;
using realizar::RenderChat;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string QwenTemplate() {
  const std::string text =
      ReadFile((apr_test::SharedAssets() / "tokenizers/qwen2/tokenizer_config.json").string());
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  const auto* t = v.as_object().if_contains("chat_template");
  return t && t->is_string() ? std::string(t->as_string()) : std::string();
}

const std::vector<ChatMessage> kSystemConversation = {
    {"system", "You are a helpful assistant."},
    {"user", "Hi!"},
    {"assistant", "Hello! How can I help?"},
    {"user", "What is 2+2?"},
};

}  // namespace

TEST_CASE("ChatML built-in renders im_start/im_end turns", "[chat]") {
  auto r = RenderBuiltin(ChatTemplateKind::kChatML, kSystemConversation, true, "", "");
  REQUIRE(r.ok());
  CHECK(*r ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n");
}

TEST_CASE("Llama 2 built-in folds the system prompt into the first [INST]", "[chat]") {
  auto r = RenderBuiltin(ChatTemplateKind::kLlama2, kSystemConversation, true, "<s>", "</s>");
  REQUIRE(r.ok());
  CHECK(*r ==
        "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHi! [/INST] "
        "Hello! How can I help? </s><s>[INST] What is 2+2? [/INST]");
  auto bad = RenderBuiltin(ChatTemplateKind::kLlama2, {{"assistant", "x"}}, false, "<s>", "</s>");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("alternate") != std::string::npos);
}

TEST_CASE("Llama 3 built-in uses header ids and eot", "[chat]") {
  auto r = RenderBuiltin(ChatTemplateKind::kLlama3, {{"system", "Be brief."}, {"user", " Hi "}},
                         true, "<|begin_of_text|>", "<|eot_id|>");
  REQUIRE(r.ok());
  CHECK(*r ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("Qwen template renders the ChatML/Qwen3 format", "[chat]") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer_config.json");
  const std::string tmpl = QwenTemplate();
  REQUIRE_FALSE(tmpl.empty());
  auto with_system = RenderChat(tmpl, kSystemConversation, true, "", "<|im_end|>");
  REQUIRE(with_system.ok());
  CHECK(*with_system ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n");
  // Without a system message; the final assistant turn after the last user query gets the
  // (empty) think block, as Qwen3's template writes it.
  auto no_system = RenderChat(tmpl, {{"user", "Hi!"}, {"assistant", "Hello!"}}, false, "", "");
  REQUIRE(no_system.ok());
  CHECK(*no_system ==
        "<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n");
  // Reasoning content inside <think> in an assistant message is split out.
  auto think = RenderChat(
      tmpl, {{"user", "Q"}, {"assistant", "<think>\nhmm\n</think>\n\nA"}}, false, "", "");
  REQUIRE(think.ok());
  CHECK(*think ==
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nA"
        "<|im_end|>\n");
}

TEST_CASE("Qwen template matches HF transformers references when generated", "[chat]") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer_config.json");
  const std::string refs_path = std::string(APR_CHAT_FIXTURES) + "/chat_refs.json";
  const std::string refs_text = ReadFile(refs_path);
  if (refs_text.empty()) {
    WARN("SKIPPED: " << refs_path
                     << " is absent; generate it with tests/fixtures/chat/gen_chat_refs.py");
    return;
  }
  boost::system::error_code ec;
  boost::json::value refs = boost::json::parse(refs_text, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(refs.is_array());
  const std::string tmpl = QwenTemplate();
  for (const auto& c : refs.as_array()) {
    const auto& o = c.as_object();
    std::vector<ChatMessage> msgs;
    for (const auto& m : o.at("messages").as_array()) {
      msgs.push_back({std::string(m.at("role").as_string()), std::string(m.at("content").as_string())});
    }
    const bool gen = o.at("add_generation_prompt").as_bool();
    auto r = RenderChat(tmpl, msgs, gen, "", "<|im_end|>");
    INFO("case " << o.at("name").as_string().c_str());
    REQUIRE(r.ok());
    CHECK(*r == std::string(o.at("expected").as_string()));
  }
}

TEST_CASE("Jinja subset: loops, namespaces, slicing, filters, tests", "[chat]") {
  const std::vector<ChatMessage> msgs = {{"user", "a"}, {"assistant", "b"}, {"user", "c"}};
  auto r = RenderChat(
      "{%- set ns = namespace(n=0) -%}\n"
      "{%- for m in messages[::-1] -%}\n"
      "  {{ loop.index0 }}{{ m.role[0] | upper }}{% if loop.first %}F{% endif %}"
      "{% if loop.last %}L{{ loop.length }}{% endif %}\n"
      "  {%- set ns.n = ns.n + 1 %}\n"
      "{%- endfor %}|{{ ns.n }}|{{ messages | length - 1 }}|{{ 'x' ~ 1 }}|"
      "{{ {'k': [1, 'two', none, true]} | tojson }}|{{ undefined_thing is defined }}|"
      "{{ ' pad '.strip() }}|{{ 'a,b'.split(',')[-1] }}|{{ 'b' in 'abc' }}|"
      "{{ 7 // 2 }}{{ -7 % 3 }}|{{ 'yes' if messages else 'no' }}",
      msgs, false, "", "");
  REQUIRE(r.ok());
  CHECK(*r ==
        "0UF1A2UL3|3|2|x1|{\"k\": [1, \"two\", null, true]}|False|pad|b|True|32|yes");
}

TEST_CASE("trim_blocks and lstrip_blocks apply as in HF's environment", "[chat]") {
  auto r = RenderChat("A\n  {% if true %}\nB\n  {% endif %}\nC", {}, false, "", "");
  REQUIRE(r.ok());
  CHECK(*r == "A\nB\nC");
}

TEST_CASE("Unsupported or broken templates give errors with line and column", "[chat]") {
  auto inc = RenderChat("ok\n{% include 'x.j2' %}", {}, false, "", "");
  REQUIRE_FALSE(inc.ok());
  CHECK(inc.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(inc.status().message()).find("line 2") != std::string::npos);
  CHECK(std::string(inc.status().message()).find("include") != std::string::npos);

  CHECK_FALSE(RenderChat("{{ x", {}, false, "", "").ok());
  CHECK_FALSE(RenderChat("{% for %}", {}, false, "", "").ok());
  CHECK_FALSE(RenderChat("{% if x %}no end", {}, false, "", "").ok());
  CHECK_FALSE(RenderChat("{{ 1 / 0 }}", {}, false, "", "").ok());
  CHECK_FALSE(RenderChat("{{ x | nosuchfilter }}", {}, false, "", "").ok());
  auto raised = RenderChat("{{ raise_exception('bad role') }}", {}, false, "", "");
  REQUIRE_FALSE(raised.ok());
  CHECK(std::string(raised.status().message()).find("bad role") != std::string::npos);
  // Hostile: deep nesting and runaway loops are refused, not crashed on.
  CHECK_FALSE(RenderChat("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", {},
                         false, "", "")
                  .ok());
  CHECK_FALSE(RenderChat("{% for i in range(100000000) %}x{% endfor %}", {}, false, "", "").ok());
}

TEST_CASE("DetectBuiltin picks the format from the vocabulary", "[chat]") {
  aprender::Metadata md;
  md.Set("general.architecture", aprender::MetaValue::String("llama"));
  md.Set("tokenizer.ggml.model", aprender::MetaValue::String("llama"));
  md.Set("tokenizer.ggml.tokens", aprender::MetaValue::StringArray({"<s>", "</s>"}));
  CHECK(realizar::DetectBuiltin(md) == ChatTemplateKind::kLlama2);
  md.Set("tokenizer.ggml.tokens", aprender::MetaValue::StringArray({"<|im_start|>"}));
  CHECK(realizar::DetectBuiltin(md) == ChatTemplateKind::kChatML);
  md.Set("tokenizer.ggml.tokens", aprender::MetaValue::StringArray({"<|start_header_id|>"}));
  CHECK(realizar::DetectBuiltin(md) == ChatTemplateKind::kLlama3);
}
