// Tokenizer construction from tokenizer.ggml.* metadata, special-token partitioning and
// decoding. The per-algorithm encoders live in spm.cpp, bpe.cpp and wordpiece.cpp.
#include "realizar/tokenizer.h"

#include <algorithm>
#include <utility>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"
#include "trueno/str_cat.h"

namespace realizar {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

const aprender::MetaArray* GetArray(const aprender::Metadata& md, std::string_view key) {
  const aprender::MetaValue* v = md.Find(key);
  return v == nullptr ? nullptr : v->AsArray();
}

int32_t GetId(const aprender::Metadata& md, std::string_view key, size_t vocab) {
  const aprender::MetaValue* v = md.Find(key);
  if (v == nullptr) return -1;
  auto i = v->AsInt();
  if (!i || *i < 0 || static_cast<uint64_t>(*i) >= vocab) return -1;  // absent or out of range
  return static_cast<int32_t>(*i);
}

std::optional<bool> GetBool(const aprender::Metadata& md, std::string_view key) {
  const aprender::MetaValue* v = md.Find(key);
  if (v == nullptr) return std::nullopt;
  return v->AsBool();
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// Undoes the GPT-2 byte -> unicode mapping; characters outside the table pass through.
std::string DecodeByteLevel(std::string_view piece, const std::array<std::string, 256>& b2u) {
  static const auto* table = [&b2u] {
    auto* t = new std::unordered_map<uint32_t, uint8_t>();
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = 0;
      internal::DecodeUtf8(b2u[b], 0, cp);
      (*t)[cp] = static_cast<uint8_t>(b);
    }
    return t;
  }();
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    uint32_t cp = 0;
    const size_t n = internal::DecodeUtf8(piece, i, cp);
    auto it = table->find(cp);
    if (it != table->end()) {
      out.push_back(static_cast<char>(it->second));
    } else {
      out.append(piece.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace

absl::StatusOr<Tokenizer> Tokenizer::FromMetadata(const aprender::Metadata& md) {
  auto impl = std::make_shared<TokenizerImpl>();
  const std::string model = md.GetStringOr("tokenizer.ggml.model").value_or("");
  if (model == "llama") {
    impl->kind = VocabKind::kSpm;
  } else if (model == "gpt2") {
    impl->kind = VocabKind::kBpe;
  } else if (model == "bert") {
    impl->kind = VocabKind::kWordPiece;
  } else if (model.empty()) {
    return absl::NotFoundError(
        "tokenizer metadata: key tokenizer.ggml.model is missing; the model carries no "
        "tokenizer (convert it with its tokenizer files)");
  } else {
    return absl::UnimplementedError(trueno::Concat(
        "tokenizer metadata: tokenizer.ggml.model '", model,
        "' is not supported (supported: llama, gpt2, bert)"));
  }

  const aprender::MetaArray* tokens = GetArray(md, "tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->items.empty()) {
    return absl::InvalidArgumentError(
        "tokenizer metadata: tokenizer.ggml.tokens is missing or not a non-empty array");
  }
  const size_t n = tokens->items.size();
  if (n > (1u << 30)) {
    return absl::InvalidArgumentError("tokenizer metadata: tokenizer.ggml.tokens is too large");
  }
  impl->pieces.reserve(n);
  impl->piece_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string* s = tokens->items[i].AsString();
    if (s == nullptr) {
      return absl::InvalidArgumentError(trueno::Concat(
          "tokenizer metadata: tokenizer.ggml.tokens[", i, "] is not a string"));
    }
    impl->pieces.push_back(*s);
    impl->piece_to_id.emplace(*s, static_cast<int32_t>(i));  // first occurrence wins
  }

  impl->scores.assign(n, 0.0f);
  if (const aprender::MetaArray* scores = GetArray(md, "tokenizer.ggml.scores")) {
    if (scores->items.size() != n) {
      return absl::InvalidArgumentError(trueno::Concat(
          "tokenizer metadata: tokenizer.ggml.scores has ", scores->items.size(),
          " entries but tokenizer.ggml.tokens has ", n));
    }
    for (size_t i = 0; i < n; ++i) {
      impl->scores[i] = static_cast<float>(scores->items[i].AsDouble().value_or(0.0));
    }
  }
  impl->types.assign(n, TokenType::kNormal);
  if (const aprender::MetaArray* types = GetArray(md, "tokenizer.ggml.token_type")) {
    if (types->items.size() != n) {
      return absl::InvalidArgumentError(trueno::Concat(
          "tokenizer metadata: tokenizer.ggml.token_type has ", types->items.size(),
          " entries but tokenizer.ggml.tokens has ", n));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types->items[i].AsInt().value_or(1);
      impl->types[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::kNormal;
    }
  }

  impl->bos = GetId(md, "tokenizer.ggml.bos_token_id", n);
  impl->eos = GetId(md, "tokenizer.ggml.eos_token_id", n);
  impl->unk = GetId(md, "tokenizer.ggml.unknown_token_id", n);
  impl->pad = GetId(md, "tokenizer.ggml.padding_token_id", n);
  impl->eot = GetId(md, "tokenizer.ggml.eot_token_id", n);
  impl->eom = GetId(md, "tokenizer.ggml.eom_token_id", n);
  impl->add_bos = GetBool(md, "tokenizer.ggml.add_bos_token").value_or(impl->kind != VocabKind::kBpe);
  impl->add_eos = GetBool(md, "tokenizer.ggml.add_eos_token").value_or(false);
  impl->add_space_prefix =
      GetBool(md, "tokenizer.ggml.add_space_prefix").value_or(impl->kind == VocabKind::kSpm);
  if (impl->kind == VocabKind::kWordPiece) {
    if (impl->bos < 0) impl->bos = GetId(md, "tokenizer.ggml.cls_token_id", n);
    if (impl->eos < 0) impl->eos = GetId(md, "tokenizer.ggml.seperator_token_id", n);
  }

  impl->byte_tokens.fill(-1);
  BuildByteToUnicode(impl->byte_to_unicode);
  if (impl->kind == VocabKind::kSpm) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const std::string name = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
      impl->byte_tokens[b] = impl->Find(name);
    }
  }
  if (impl->kind == VocabKind::kBpe) {
    impl->pre_name = md.GetStringOr("tokenizer.ggml.pre").value_or("default");
    auto pre = internal::PreTokenizer::Create(impl->pre_name);
    if (!pre.ok()) return pre.status();
    impl->pre = *std::move(pre);
    // "tokenizer.apr.normalizer" (written by the tokenizer.json importer) says which Unicode
    // normalization to apply; without it, qwen2's pre-tokenizer implies NFC (its tokenizer.json
    // declares "normalizer": {"type": "NFC"}, which llama.cpp's converter drops).
    const std::string norm =
        md.GetStringOr("tokenizer.apr.normalizer")
            .value_or(impl->pre_name == "qwen2" || impl->pre_name == "deepseek-r1-qwen" ? "NFC"
                                                                                        : "none");
    if (norm == "NFC") {
      impl->nfc = true;
    } else if (norm != "none") {
      return absl::UnimplementedError("tokenizer metadata: tokenizer.apr.normalizer is \"" + norm +
                                      "\"; supported: \"NFC\", \"none\"");
    }
    const aprender::MetaArray* merges = GetArray(md, "tokenizer.ggml.merges");
    if (merges == nullptr) {
      return absl::InvalidArgumentError(
          "tokenizer metadata: tokenizer.ggml.merges is missing (required for gpt2 BPE)");
    }
    impl->merges.reserve(merges->items.size());
    for (size_t r = 0; r < merges->items.size(); ++r) {
      const std::string* m = merges->items[r].AsString();
      if (m == nullptr) {
        return absl::InvalidArgumentError(trueno::Concat(
            "tokenizer metadata: tokenizer.ggml.merges[", r, "] is not a string"));
      }
      const size_t sp = m->find(' ', 1);
      if (sp == std::string::npos) continue;  // malformed merge: cannot apply
      const std::string_view left = std::string_view(*m).substr(0, sp);
      const std::string_view right = std::string_view(*m).substr(sp + 1);
      const int32_t a = impl->Find(left), b = impl->Find(right);
      if (a < 0 || b < 0) continue;
      const int32_t merged = impl->Find(std::string(left) + std::string(right));
      const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                           static_cast<uint32_t>(b);
      impl->merges.emplace(key, internal::MergeInfo{static_cast<int32_t>(r), merged});
    }
  }

  // Decoded bytes per token and the special-token matcher.
  impl->decoded.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = impl->pieces[i];
    switch (impl->types[i]) {
      case TokenType::kNormal:
      case TokenType::kUndefined:
        if (impl->kind == VocabKind::kSpm) {
          impl->decoded[i] = ReplaceAll(p, kSpmSpace, " ");
        } else if (impl->kind == VocabKind::kBpe) {
          impl->decoded[i] = DecodeByteLevel(p, impl->byte_to_unicode);
        } else {
          impl->decoded[i] = p;  // WordPiece spacing is handled in Decode
        }
        break;
      case TokenType::kByte: {
        unsigned v = 0;
        if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
          v = static_cast<unsigned>(std::stoul(p.substr(3, 2), nullptr, 16));
          impl->decoded[i] = std::string(1, static_cast<char>(v));
        } else {
          impl->decoded[i] = p;
        }
        break;
      }
      case TokenType::kUserDefined:
        impl->decoded[i] = p;
        break;
      default:
        break;  // control, unknown, unused: rendered only on request
    }
    const TokenType t = impl->types[i];
    if ((t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) &&
        !p.empty()) {
      impl->specials_by_byte[static_cast<uint8_t>(p[0])].push_back(
          {p, static_cast<int32_t>(i), t != TokenType::kUserDefined});
    }
  }
  for (auto& bucket : impl->specials_by_byte) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const auto& a, const auto& b) { return a.text.size() > b.text.size(); });
  }

  for (int32_t id : {impl->eos, impl->eot, impl->eom}) {
    if (id >= 0) impl->eog_ids.push_back(id);
  }
  for (std::string_view name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|EOT|>",
                                "<｜end▁of▁sentence｜>", "<|end_of_text|>"}) {
    const int32_t id = impl->Find(name);
    if (id >= 0 && impl->types[id] != TokenType::kNormal &&
        std::find(impl->eog_ids.begin(), impl->eog_ids.end(), id) == impl->eog_ids.end()) {
      impl->eog_ids.push_back(id);
    }
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const TokenizerImpl& t = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && t.add_bos && t.bos >= 0) out.push_back(t.bos);
  bool prev_special = true;  // SPM: the first fragment gets the dummy-prefix space
  std::string buf;
  std::string normalized;
  auto encode_raw = [&](std::string_view raw) {
    if (raw.empty()) return;
    if (t.nfc && !internal::IsNfcQuickYes(raw)) {
      normalized = internal::NfcNormalize(raw);
      raw = normalized;
    }
    switch (t.kind) {
      case VocabKind::kSpm:
        buf.clear();
        if (t.add_space_prefix && prev_special) buf += kSpmSpace;
        buf += ReplaceAll(raw, " ", kSpmSpace);
        t.EncodeSpm(buf, out);
        break;
      case VocabKind::kBpe:
        t.EncodeBpe(raw, out);
        break;
      case VocabKind::kWordPiece:
        t.EncodeWordPiece(raw, out);
        break;
    }
    prev_special = false;
  };
  size_t raw_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto& bucket = t.specials_by_byte[static_cast<uint8_t>(text[pos])];
    const TokenizerImpl::Special* hit = nullptr;
    for (const auto& s : bucket) {
      if (s.control && !parse_special) continue;
      if (text.compare(pos, s.text.size(), s.text) == 0) {
        hit = &s;  // buckets are sorted longest first
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    encode_raw(text.substr(raw_start, pos - raw_start));
    out.push_back(hit->id);
    prev_special = true;
    pos += hit->text.size();
    raw_start = pos;
  }
  encode_raw(text.substr(raw_start));
  if (add_special && t.add_eos && t.eos >= 0) out.push_back(t.eos);
  return out;
}

std::string Tokenizer::TokenBytes(int32_t id, bool render_special) const {
  const TokenizerImpl& t = *impl_;
  if (!t.Valid(id)) return {};
  const TokenType type = t.types[id];
  if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) {
    return render_special ? t.pieces[id] : std::string();
  }
  if (t.kind == VocabKind::kWordPiece && type == TokenType::kNormal) {
    const std::string& p = t.pieces[id];
    if (p.compare(0, 2, "##") == 0) return p.substr(2);
    return " " + p;
  }
  return t.decoded[id];
}

namespace {
// Drops the space the encoder put in front of the first word (SPM dummy prefix, WordPiece
// word separator) from the first token that renders text.
bool StripsLeadingSpace(const TokenizerImpl& t) {
  return (t.kind == VocabKind::kSpm && t.add_space_prefix) || t.kind == VocabKind::kWordPiece;
}
}  // namespace

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  bool strip = StripsLeadingSpace(*impl_);
  for (int32_t id : ids) {
    std::string piece = TokenBytes(id, render_special);
    if (piece.empty()) continue;
    if (strip && impl_->Valid(id) && impl_->types[id] == TokenType::kNormal && piece[0] == ' ') {
      piece.erase(0, 1);
    }
    strip = false;
    out += piece;
  }
  return out;
}

std::string_view Tokenizer::TokenPiece(int32_t id) const {
  return impl_->Valid(id) ? std::string_view(impl_->pieces[id]) : std::string_view();
}
int32_t Tokenizer::PieceToId(std::string_view piece) const { return impl_->Find(piece); }
VocabKind Tokenizer::kind() const { return impl_->kind; }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
TokenType Tokenizer::token_type(int32_t id) const {
  return impl_->Valid(id) ? impl_->types[id] : TokenType::kUndefined;
}
bool Tokenizer::IsEog(int32_t id) const {
  return id >= 0 &&
         std::find(impl_->eog_ids.begin(), impl_->eog_ids.end(), id) != impl_->eog_ids.end();
}
bool Tokenizer::IsControl(int32_t id) const { return token_type(id) == TokenType::kControl; }
int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->pieces.size()); }
std::string_view Tokenizer::pre_type() const {
  return impl_->pre ? std::string_view(impl_->pre->canonical_name()) : std::string_view();
}

// ---- StreamDecoder ----

Tokenizer::StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool render_special)
    : impl_(tokenizer.impl_), render_special_(render_special) {}

std::string Tokenizer::StreamDecoder::Push(int32_t id) {
  const TokenizerImpl& t = *impl_;
  std::string piece = Tokenizer(impl_).TokenBytes(id, render_special_);
  if (piece.empty()) return {};
  if (first_ && StripsLeadingSpace(t) && t.types[id] == TokenType::kNormal && piece[0] == ' ') {
    piece.erase(0, 1);
  }
  first_ = false;
  pending_ += piece;
  // Emit every complete code point; keep a trailing incomplete (but so far valid) sequence.
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const auto lead = static_cast<uint8_t>(pending_[i]);
    const size_t need = internal::Utf8SeqLen(lead);
    if (need > 1 && i + need > pending_.size()) {
      bool prefix_ok = true;
      for (size_t k = i + 1; k < pending_.size(); ++k) {
        prefix_ok &= (static_cast<uint8_t>(pending_[k]) & 0xC0) == 0x80;
      }
      if (prefix_ok) break;  // wait for the rest of this code point
    }
    uint32_t cp = 0;
    const size_t n = internal::DecodeUtf8(pending_, i, cp);
    if (cp == internal::kInvalidCodePoint) {
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that can never become valid
    } else {
      out.append(pending_, i, n);
    }
    i += n;
  }
  pending_.erase(0, i);
  return out;
}

std::string Tokenizer::StreamDecoder::Flush() {
  std::string out;
  if (!pending_.empty()) out = "\xEF\xBF\xBD";
  pending_.clear();
  return out;
}

}  // namespace realizar
