// Internal state of realizar::Tokenizer, shared (read-only) by copies and stream decoders.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "realizar/tokenizer.h"

namespace realizar {
namespace internal {

// Transparent hashing so lookups by string_view allocate nothing.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// A compiled pre-tokenizer: regex stages applied in order; every stage splits each current
// piece into its matches and the unmatched gaps between them ("isolated" splitting).
class PreTokenizer {
 public:
  static absl::StatusOr<std::shared_ptr<const PreTokenizer>> Create(std::string_view pre_type);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends [offset, length) pieces of `text` to `out`.
  void Split(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& canonical_name() const { return name_; }
  bool ignore_merges() const { return ignore_merges_; }

 private:
  PreTokenizer() = default;
  std::string name_;
  bool ignore_merges_ = false;
  std::vector<void*> codes_;  // pcre2_code_8*
};

struct MergeInfo {
  int32_t rank;
  int32_t merged_id;
};

}  // namespace internal

struct TokenizerImpl {
  VocabKind kind = VocabKind::kSpm;
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::vector<std::string> decoded;  // bytes each token contributes when decoding
  internal::PieceMap piece_to_id;

  // Special/added tokens matched in raw text, grouped by first byte, longest first.
  struct Special {
    std::string text;
    int32_t id;
    bool control;  // only matched when parse_special
  };
  std::array<std::vector<Special>, 256> specials_by_byte;

  // SPM
  std::array<int32_t, 256> byte_tokens{};  // <0xXX> ids, -1 when absent
  bool add_space_prefix = true;

  // BPE
  std::unordered_map<uint64_t, internal::MergeInfo> merges;  // (left id << 32 | right id)
  std::array<std::string, 256> byte_to_unicode;              // GPT-2 byte -> UTF-8 of its char
  std::shared_ptr<const internal::PreTokenizer> pre;
  std::string pre_name;
  bool nfc = false;  // NFC-normalize raw text (between special tokens) before encoding

  // WordPiece
  bool lowercase = true;

  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1, eom = -1;
  bool add_bos = false, add_eos = false;
  std::vector<int32_t> eog_ids;

  int32_t Find(std::string_view piece) const {
    auto it = piece_to_id.find(piece);
    return it == piece_to_id.end() ? -1 : it->second;
  }
  bool Valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < pieces.size(); }

  void EncodeSpm(std::string_view text, std::vector<int32_t>& out) const;
  void EncodeBpe(std::string_view text, std::vector<int32_t>& out) const;
  void EncodeWordPiece(std::string_view text, std::vector<int32_t>& out) const;
};

// Builds the GPT-2 byte <-> unicode tables.
void BuildByteToUnicode(std::array<std::string, 256>& table);

}  // namespace realizar
