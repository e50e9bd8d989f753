#include "hf_tokenizer_export.h"

#include <filesystem>
#include <set>

#include "hf_json.h"
#include "hf_tokenizer.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender::hf_internal {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

absl::StatusOr<std::vector<std::string>> Strings(const Metadata& md, const std::string& key) {
  std::vector<std::string> out;
  const MetaValue* v = md.Find(key);
  if (v == nullptr) return out;
  const MetaArray* a = v->AsArray();
  if (a == nullptr)
    return absl::InvalidArgumentError(trueno::Concat("metadata ", key, " is not an array"));
  out.reserve(a->items.size());
  for (const MetaValue& item : a->items) {
    const std::string* s = item.AsString();
    if (s == nullptr)
      return absl::InvalidArgumentError(trueno::Concat("metadata ", key, " holds a non-string"));
    out.push_back(*s);
  }
  return out;
}

json::object ByteLevel(bool use_regex, bool trim_offsets) {
  return json::object{{"type", "ByteLevel"},
                      {"add_prefix_space", false},
                      {"trim_offsets", trim_offsets},
                      {"use_regex", use_regex}};
}

json::value PreTokenizer(const std::string& pre) {
  std::string_view regex;
  if (pre == kPreQwen2) regex = kQwen2Regex;
  if (pre == kPreLlama3) regex = kLlama3Regex;
  if (regex.empty()) return ByteLevel(/*use_regex=*/true, /*trim_offsets=*/true);
  json::object split{
      {"type", "Split"},
      {"pattern", json::object{{"Regex", json::string_view(regex.data(), regex.size())}}},
      {"behavior", "Isolated"},
      {"invert", false}};
  return json::object{{"type", "Sequence"},
                      {"pretokenizers", json::array{split, ByteLevel(false, pre == kPreLlama3)}}};
}

absl::Status WriteTokenizerJson(const Metadata& md, const std::vector<std::string>& tokens,
                                const std::string& path) {
  APR_ASSIGN_OR_RETURN(std::vector<std::string> merges, Strings(md, "tokenizer.ggml.merges"));
  std::vector<int32_t> types(tokens.size(), kTokenNormal);
  if (const MetaValue* v = md.Find("tokenizer.ggml.token_type"); v && v->AsArray()) {
    const MetaArray* a = v->AsArray();
    for (size_t i = 0; i < a->items.size() && i < types.size(); ++i) {
      types[i] = static_cast<int32_t>(a->items[i].AsInt().value_or(kTokenNormal));
    }
  }
  const std::string pre = md.GetStringOr("tokenizer.ggml.pre").value_or(std::string(kPreGpt2));
  json::object root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  json::array added;
  json::object vocab;
  std::set<std::string> seen;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& t = tokens[id];
    // Filler rows the importer recreates for ids no token uses.
    if (types[id] == kTokenUserDefined && t == trueno::Concat("[PAD", id, "]")) continue;
    if (!seen.insert(t).second) continue;  // a JSON object cannot hold the same token twice
    if (types[id] == kTokenControl || types[id] == kTokenUserDefined) {
      added.push_back(json::object{{"id", id},
                                   {"content", t},
                                   {"single_word", false},
                                   {"lstrip", false},
                                   {"rstrip", false},
                                   {"normalized", false},
                                   {"special", types[id] == kTokenControl}});
    }
    vocab[t] = id;
  }
  root["added_tokens"] = std::move(added);
  const std::string norm =
      md.GetStringOr("tokenizer.apr.normalizer").value_or(pre == kPreQwen2 ? "NFC" : "none");
  root["normalizer"] =
      norm == "NFC" ? json::value(json::object{{"type", "NFC"}}) : json::value(nullptr);
  root["pre_tokenizer"] = PreTokenizer(pre);
  root["post_processor"] = ByteLevel(false, false);
  root["decoder"] = ByteLevel(false, false);
  json::array merge_list;
  merge_list.reserve(merges.size());
  for (const std::string& m : merges) merge_list.emplace_back(m);
  root["model"] = json::object{{"type", "BPE"},
                               {"dropout", nullptr},
                               {"unk_token", nullptr},
                               {"continuing_subword_prefix", nullptr},
                               {"end_of_word_suffix", nullptr},
                               {"fuse_unk", false},
                               {"byte_fallback", false},
                               {"ignore_merges", false},
                               {"vocab", std::move(vocab)},
                               {"merges", std::move(merge_list)}};
  return WriteJsonFile(root, path);
}

}  // namespace

absl::Status ExportHfTokenizer(const Metadata& md, const std::string& dir) {
  try {
    APR_ASSIGN_OR_RETURN(std::vector<std::string> tokens, Strings(md, "tokenizer.ggml.tokens"));
    const std::string model = md.GetStringOr("tokenizer.ggml.model").value_or("");
    if (model == "gpt2") {
      APR_RETURN_IF_ERROR(
          WriteTokenizerJson(md, tokens, (fs::path(dir) / "tokenizer.json").string()));
    }
    json::object cfg;
    if (auto v = md.Find("tokenizer.ggml.add_bos_token"); v && v->AsBool())
      cfg["add_bos_token"] = *v->AsBool();
    if (auto v = md.Find("tokenizer.ggml.add_eos_token"); v && v->AsBool())
      cfg["add_eos_token"] = *v->AsBool();
    const std::pair<const char*, const char*> specials[] = {
        {"tokenizer.ggml.bos_token_id", "bos_token"},
        {"tokenizer.ggml.eos_token_id", "eos_token"},
        {"tokenizer.ggml.unknown_token_id", "unk_token"},
        {"tokenizer.ggml.padding_token_id", "pad_token"},
    };
    for (const auto& [key, name] : specials) {
      auto id = md.GetUint(key);
      if (id.ok() && *id < tokens.size()) cfg[name] = tokens[*id];
    }
    if (auto t = md.GetStringOr("tokenizer.chat_template")) cfg["chat_template"] = *t;
    cfg["clean_up_tokenization_spaces"] = false;
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
    return WriteJsonFile(cfg, (fs::path(dir) / "tokenizer_config.json").string());
  } catch (...) {
    return absl::ResourceExhaustedError(
        trueno::Concat(dir, ": out of memory writing the tokenizer"));
  }
}

}  // namespace aprender::hf_internal
