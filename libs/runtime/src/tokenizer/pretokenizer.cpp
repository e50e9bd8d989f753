// Pre-tokenizer regexes selected by tokenizer.ggml.pre. The patterns are those of the
// reference tokenizers (HF tokenizers' Split pre-tokenizers, as llama.cpp lists them per
// pre-tokenizer type); multi-stage types apply each stage inside the pieces of the previous.
// PCRE2 runs them in UTF mode with Unicode properties (UCP) so \s, \p{L}, \p{N} are Unicode
// aware; PCRE2_MATCH_INVALID_UTF lets hostile, non-UTF-8 input through without errors
// (invalid bytes never match and end up in gap pieces).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>
#include <vector>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"
#include "trueno/str_cat.h"

namespace realizar::internal {
namespace {

constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kPoro = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// CJK ideographs, the U+0800..U+4E00 block range and Hangul, as the deepseek tokenizers list.
constexpr const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

struct PreSpec {
  std::vector<std::string_view> names;
  std::string canonical;
  std::vector<const char*> stages;
  bool ignore_merges = false;
};

const std::vector<PreSpec>& Specs() {
  static const std::vector<PreSpec>* specs = new std::vector<PreSpec>{
      {{"gpt2", "gpt-2", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "jina-v1-en",
        "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe"},
       "gpt2",
       {kGpt2}},
      {{"llama3", "llama-bpe", "llama-v3", "dbrx", "smaug-bpe", "falcon3", "pixtral"},
       "llama3",
       {kLlama3},
       true},
      {{"chatglm-bpe"}, "chatglm-bpe", {kLlama3}},
      {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez"}, "qwen2", {kQwen2}},
      {{"deepseek-coder"},
       "deepseek-coder",
       {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}},
      {{"deepseek-llm"},
       "deepseek-llm",
       {R"([\r\n])", kDeepseekLlmLetters, R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)",
        kDeepseekCjk, R"(\p{N}+)"}},
      {{"falcon"}, "falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, R"([0-9][0-9][0-9])"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       "starcoder",
       {R"(\p{N})", kGpt2}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, "poro", {kPoro}},
      {{"viking"}, "viking", {kPoro, R"(\p{N})"}},
      {{"tekken"}, "tekken", {kTekken}},
      {{"gpt-4o"}, "gpt-4o", {kGpt4o}},
      {{"default", ""},
       "default",
       {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", R"([0-9][0-9][0-9])"}},
  };
  return *specs;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const PreTokenizer>> PreTokenizer::Create(
    std::string_view pre_type) {
  const PreSpec* spec = nullptr;
  for (const auto& s : Specs()) {
    for (auto n : s.names) {
      if (n == pre_type) spec = &s;
    }
  }
  if (spec == nullptr) spec = &Specs().back();  // unknown names use the reference default
  std::shared_ptr<PreTokenizer> pre(new PreTokenizer());
  pre->name_ = spec->canonical;
  pre->ignore_merges_ = spec->ignore_merges;
  for (const char* pattern : spec->stages) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      return absl::InternalError(trueno::Concat("pre-tokenizer '", pre_type,
                                                "': regex does not compile at offset ", err_off,
                                                ": ", reinterpret_cast<const char*>(buf)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // interpreter fallback when JIT is absent
    pre->codes_.push_back(code);
  }
  return std::shared_ptr<const PreTokenizer>(std::move(pre));
}

PreTokenizer::~PreTokenizer() {
  for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
}

void PreTokenizer::Split(std::string_view text,
                         std::vector<std::pair<size_t, size_t>>& out) const {
  std::vector<std::pair<size_t, size_t>> cur{{0, text.size()}};
  std::vector<std::pair<size_t, size_t>> next;
  if (text.empty()) return;
  for (void* raw : codes_) {
    auto* code = static_cast<pcre2_code*>(raw);
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    next.clear();
    for (auto [off, len] : cur) {
      // The subject is only this piece: lookaheads and `$` see its end, as in the reference.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + off);
      size_t start = 0;  // next search position
      size_t emitted = 0;  // end of what is already covered by pieces
      while (start < len) {
        int rc = pcre2_match(code, subject, len, start, 0, md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) {  // empty match: step over one character
          start = ms + Utf8SeqLen(static_cast<uint8_t>(text[off + ms]));
          continue;
        }
        if (ms > emitted) next.emplace_back(off + emitted, ms - emitted);
        next.emplace_back(off + ms, me - ms);
        emitted = me;
        start = me;
      }
      if (emitted < len) next.emplace_back(off + emitted, len - emitted);
    }
    pcre2_match_data_free(md);
    cur.swap(next);
  }
  out.insert(out.end(), cur.begin(), cur.end());
}

}  // namespace realizar::internal
