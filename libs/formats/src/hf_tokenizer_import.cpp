// tokenizer.json (+ tokenizer_config.json) -> GGUF tokenizer.* metadata, following the facts of
// llama.cpp's converter: byte-level BPE becomes model "gpt2" with merges, SentencePiece-style BPE
// with byte_fallback becomes "llama" with scores; added tokens are control (special, or looking
// like "<|...|>") or user-defined; special ids come from tokenizer_config.json's token strings.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "aprender/hf_dir.h"
#include "hf_json.h"
#include "hf_tokenizer.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxTokenizerBytes = 512ull << 20;
constexpr int64_t kMaxTokenId = 1 << 24;
constexpr uint64_t kMaxVocabGap = 1 << 16;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// llama.cpp marks some non-special added tokens as control because they look special.
bool LooksSpecial(std::string_view t) {
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  if (StartsWith(t, "<|") && EndsWith(t, "|>")) return true;
  if (StartsWith(t, "<\xEF\xBD\x9C") && EndsWith(t, "\xEF\xBD\x9C>")) return true;  // <｜ ｜>
  return StartsWith(t, "<unused") && EndsWith(t, ">");
}

bool IsByteToken(std::string_view t) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  return t.size() == 6 && StartsWith(t, "<0x") && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

// Whether a component of type `type` appears in the (possibly Sequence) pre_tokenizer/decoder.
const json::object* FindComponent(const json::value* v, std::string_view type, int depth = 0) {
  if (v == nullptr || depth > 8) return nullptr;
  const json::object* o = v->if_object();
  if (o == nullptr) return nullptr;
  if (hf_internal::GetString(*o, "type").value_or("") == type) return o;
  for (const char* list : {"pretokenizers", "decoders", "processors", "normalizers"}) {
    if (const json::array* a = hf_internal::GetArray(*o, list)) {
      for (const json::value& item : *a) {
        if (const json::object* found = FindComponent(&item, type, depth + 1)) return found;
      }
    }
  }
  return nullptr;
}

std::string DetectPre(const json::object& root) {
  const json::value* pre = root.if_contains("pre_tokenizer");
  if (const json::object* split = FindComponent(pre, "Split")) {
    if (const json::object* pattern = hf_internal::GetObject(*split, "pattern")) {
      const std::string regex = hf_internal::GetString(*pattern, "Regex").value_or("");
      if (regex == hf_internal::kQwen2Regex) return std::string(hf_internal::kPreQwen2);
      if (regex == hf_internal::kLlama3Regex) return std::string(hf_internal::kPreLlama3);
    }
    return "default";
  }
  return std::string(hf_internal::kPreGpt2);
}

// "bos_token": "<s>" or {"content": "<s>", ...} in tokenizer_config.json.
std::optional<std::string> ConfigTokenString(const json::object& cfg, std::string_view key) {
  const json::value* v = cfg.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (const json::string* s = v->if_string()) return std::string(*s);
  if (const json::object* o = v->if_object()) return hf_internal::GetString(*o, "content");
  return std::nullopt;
}

}  // namespace

absl::Status ImportHfTokenizer(const std::string& path, Metadata& md) {
  APR_ASSIGN_OR_RETURN(json::value root_v, hf_internal::ReadJsonFile(path, kMaxTokenizerBytes));
  const json::object* root = root_v.if_object();
  const json::object* model = root ? hf_internal::GetObject(*root, "model") : nullptr;
  if (model == nullptr) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": missing object \"model\""));
  }
  const std::string type = hf_internal::GetString(*model, "type").value_or("BPE");
  if (type != "BPE") {
    return absl::UnimplementedError(
        trueno::Concat(path, ": tokenizer model type \"", type, "\" is not supported (only BPE)"));
  }
  const json::object* vocab = hf_internal::GetObject(*model, "vocab");
  const json::array* merges = hf_internal::GetArray(*model, "merges");
  if (vocab == nullptr || merges == nullptr) {
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": BPE model needs \"vocab\" (object) and \"merges\" (array)"));
  }
  const json::array* added = hf_internal::GetArray(*root, "added_tokens");

  const bool byte_level = FindComponent(root->if_contains("pre_tokenizer"), "ByteLevel") ||
                          FindComponent(root->if_contains("decoder"), "ByteLevel");
  const bool byte_fallback = hf_internal::GetBool(*model, "byte_fallback").value_or(false);
  const bool metaspace = FindComponent(root->if_contains("pre_tokenizer"), "Metaspace") ||
                         FindComponent(root->if_contains("decoder"), "Metaspace");
  std::string ggml_model;
  if (byte_level) {
    ggml_model = "gpt2";
  } else if (byte_fallback || metaspace) {
    ggml_model = "llama";
  } else {
    return absl::UnimplementedError(trueno::Concat(
        path, ": BPE tokenizer is neither byte-level nor SentencePiece-style (byte_fallback)"));
  }

  // Token table: vocab ids, then added tokens overriding, then gaps filled.
  int64_t max_id = -1;
  auto check_id = [&](const json::value& v, std::string_view what) -> absl::StatusOr<int64_t> {
    const auto id = hf_internal::AsInt(v);
    if (!id || *id < 0 || *id >= kMaxTokenId) {
      return absl::InvalidArgumentError(
          trueno::Concat(path, ": token ", what, " has an invalid id (expected 0..2^24)"));
    }
    max_id = std::max(max_id, *id);
    return *id;
  };
  for (const auto& kv : *vocab)
    APR_RETURN_IF_ERROR(check_id(kv.value(), std::string(kv.key())).status());
  if (added != nullptr) {
    for (const json::value& a : *added) {
      const json::object* o = a.if_object();
      const json::value* id = o ? o->if_contains("id") : nullptr;
      if (id == nullptr || !hf_internal::GetString(*o, "content")) {
        return absl::InvalidArgumentError(
            trueno::Concat(path, ": added_tokens entries need \"id\" and \"content\""));
      }
      APR_RETURN_IF_ERROR(check_id(*id, "in added_tokens").status());
    }
  }
  const uint64_t n = static_cast<uint64_t>(max_id + 1);
  const uint64_t listed = vocab->size() + (added ? added->size() : 0);
  if (n == 0 || n > listed + kMaxVocabGap) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": token ids run to ", max_id,
                                                     " but only ", listed, " tokens are listed"));
  }
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, 0);
  for (const auto& kv : *vocab) {
    const size_t id = static_cast<size_t>(*hf_internal::AsInt(kv.value()));
    if (types[id] != 0) {
      return absl::InvalidArgumentError(
          trueno::Concat(path, ": id ", id, " is used by two tokens"));
    }
    tokens[id] = std::string(kv.key());
    types[id] = (ggml_model == "llama" && IsByteToken(tokens[id])) ? hf_internal::kTokenByte
                                                                   : hf_internal::kTokenNormal;
  }
  std::set<std::string> special_strings;
  if (added != nullptr) {
    for (const json::value& a : *added) {
      const json::object& o = a.get_object();
      const size_t id = static_cast<size_t>(*hf_internal::AsInt(o.at("id")));
      tokens[id] = *hf_internal::GetString(o, "content");
      const bool special = hf_internal::GetBool(o, "special").value_or(false);
      if (ggml_model == "llama" && IsByteToken(tokens[id])) {
        types[id] = hf_internal::kTokenByte;
      } else {
        types[id] = (special || LooksSpecial(tokens[id])) ? hf_internal::kTokenControl
                                                          : hf_internal::kTokenUserDefined;
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == 0) {
      tokens[i] = trueno::Concat("[PAD", i, "]");
      types[i] = hf_internal::kTokenUserDefined;
    }
  }

  std::vector<std::string> merge_strings;
  merge_strings.reserve(merges->size());
  for (const json::value& m : *merges) {
    if (const json::string* s = m.if_string()) {
      merge_strings.emplace_back(*s);
    } else if (const json::array* pair = m.if_array(); pair != nullptr && pair->size() == 2 &&
                                                       (*pair)[0].is_string() &&
                                                       (*pair)[1].is_string()) {
      merge_strings.push_back(std::string((*pair)[0].get_string()) + " " +
                              std::string((*pair)[1].get_string()));
    } else {
      return absl::InvalidArgumentError(trueno::Concat(path, ": merge #", merge_strings.size(),
                                                       " is neither \"a b\" nor [\"a\", \"b\"]"));
    }
  }

  md.Set("tokenizer.ggml.model", MetaValue::String(ggml_model));
  if (ggml_model == "gpt2") md.Set("tokenizer.ggml.pre", MetaValue::String(DetectPre(*root)));
  // Unicode normalization the tokenizer applies before splitting (realizar supports NFC).
  // "none" records an explicit null so that a qwen2 pre-tokenizer does not imply NFC.
  if (const json::value* norm = root->if_contains("normalizer")) {
    if (FindComponent(norm, "NFC") != nullptr) {
      md.Set("tokenizer.apr.normalizer", MetaValue::String("NFC"));
    } else if (norm->is_null()) {
      md.Set("tokenizer.apr.normalizer", MetaValue::String("none"));
    }
  }
  if (ggml_model == "llama") {
    // SentencePiece merges by score: a token made by merge #r scores -r, so earlier merges win.
    std::map<std::string, size_t> rank;
    for (size_t r = 0; r < merge_strings.size(); ++r) {
      std::string joined = merge_strings[r];
      const size_t space = joined.find(' ');
      if (space != std::string::npos) joined.erase(space, 1);
      rank.emplace(std::move(joined), r);
    }
    std::vector<float> scores(n, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] != hf_internal::kTokenNormal) continue;
      auto it = rank.find(tokens[i]);
      scores[i] = -static_cast<float>(it != rank.end() ? it->second : merge_strings.size() + i);
    }
    md.Set("tokenizer.ggml.tokens", MetaValue::StringArray(tokens));
    md.Set("tokenizer.ggml.scores", MetaValue::F32Array(scores));
  } else {
    md.Set("tokenizer.ggml.tokens", MetaValue::StringArray(tokens));
  }
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array(types));
  if (ggml_model == "gpt2") md.Set("tokenizer.ggml.merges", MetaValue::StringArray(merge_strings));

  // tokenizer_config.json: special token strings -> ids, add_bos/eos, chat template.
  const fs::path dir = fs::path(path).parent_path();
  const fs::path cfg_path = dir / "tokenizer_config.json";
  std::error_code ec;
  if (fs::exists(cfg_path, ec)) {
    APR_ASSIGN_OR_RETURN(json::value cfg_v,
                         hf_internal::ReadJsonFile(cfg_path.string(), 64ull << 20));
    const json::object* cfg = cfg_v.if_object();
    if (cfg == nullptr) {
      return absl::InvalidArgumentError(trueno::Concat(cfg_path.string(), ": not a JSON object"));
    }
    auto find_id = [&](const std::string& s) -> std::optional<uint32_t> {
      for (size_t i = n; i-- > 0;) {  // added tokens (high ids) first, like the HF lookup
        if (tokens[i] == s) return static_cast<uint32_t>(i);
      }
      return std::nullopt;
    };
    const std::pair<const char*, const char*> specials[] = {
        {"bos_token", "tokenizer.ggml.bos_token_id"},
        {"eos_token", "tokenizer.ggml.eos_token_id"},
        {"unk_token", "tokenizer.ggml.unknown_token_id"},
        {"pad_token", "tokenizer.ggml.padding_token_id"},
    };
    for (const auto& [cfg_key, gguf_key] : specials) {
      if (auto s = ConfigTokenString(*cfg, cfg_key)) {
        if (auto id = find_id(*s)) md.Set(gguf_key, MetaValue::U32(*id));
      }
    }
    if (auto b = hf_internal::GetBool(*cfg, "add_bos_token")) {
      md.Set("tokenizer.ggml.add_bos_token", MetaValue::Bool(*b));
    }
    if (auto b = hf_internal::GetBool(*cfg, "add_eos_token")) {
      md.Set("tokenizer.ggml.add_eos_token", MetaValue::Bool(*b));
    }
    std::optional<std::string> tmpl = hf_internal::GetString(*cfg, "chat_template");
    if (!tmpl) {
      // A list of named templates: take "default".
      if (const json::array* list = hf_internal::GetArray(*cfg, "chat_template")) {
        for (const json::value& item : *list) {
          const json::object* o = item.if_object();
          if (o && hf_internal::GetString(*o, "name").value_or("") == "default") {
            tmpl = hf_internal::GetString(*o, "template");
          }
        }
      }
    }
    if (!tmpl && fs::exists(dir / "chat_template.jinja", ec)) {
      APR_ASSIGN_OR_RETURN(std::string t, hf_internal::ReadTextFile(
                                              (dir / "chat_template.jinja").string(), 16ull << 20));
      tmpl = std::move(t);
    }
    if (tmpl) md.Set("tokenizer.chat_template", MetaValue::String(*tmpl));
  }
  return absl::OkStatus();
}

namespace hf_internal {

void PadVocab(uint64_t n_vocab, Metadata& md) {
  const MetaValue* tokens_v = md.Find("tokenizer.ggml.tokens");
  const MetaValue* types_v = md.Find("tokenizer.ggml.token_type");
  if (tokens_v == nullptr || types_v == nullptr || tokens_v->AsArray() == nullptr ||
      types_v->AsArray() == nullptr) {
    return;
  }
  MetaArray tokens = *tokens_v->AsArray();
  MetaArray types = *types_v->AsArray();
  if (tokens.items.size() >= n_vocab || n_vocab - tokens.items.size() > kMaxVocabGap) return;
  std::optional<MetaArray> scores;
  if (const MetaValue* s = md.Find("tokenizer.ggml.scores"); s && s->AsArray())
    scores = *s->AsArray();
  for (uint64_t i = tokens.items.size(); i < n_vocab; ++i) {
    tokens.items.push_back(MetaValue::String(trueno::Concat("[PAD", i, "]")));
    types.items.push_back(MetaValue::I32(kTokenUserDefined));
    if (scores) scores->items.push_back(MetaValue::F32(-1000.0f));
  }
  md.Set("tokenizer.ggml.tokens", MetaValue::Array(std::move(tokens)));
  md.Set("tokenizer.ggml.token_type", MetaValue::Array(std::move(types)));
  if (scores) md.Set("tokenizer.ggml.scores", MetaValue::Array(std::move(*scores)));
}

}  // namespace hf_internal
}  // namespace aprender
