// Text <-> token ids for the vocabularies GGUF carries (tokenizer.ggml.*):
//  - "llama": SentencePiece BPE driven by piece scores, "▁" for spaces, <0xXX> byte fallback;
//  - "gpt2":  byte-level BPE driven by merge ranks, with a pre-tokenizer regex chosen by
//             tokenizer.ggml.pre (gpt2, llama3, qwen2, deepseek-coder, falcon, starcoder, ...);
//  - "bert":  WordPiece (lower-casing, punctuation splitting, "##" continuation pieces).
// Behaviour follows the reference tokenizers (HF tokenizers / llama.cpp) id for id; the test
// vectors in ../shared/assets/vocab prove it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/metadata.h"

namespace realizar {

// GGUF tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabKind { kSpm, kBpe, kWordPiece };

struct TokenizerImpl;  // defined in src/tokenizer/

class Tokenizer {
 public:
  // Builds the tokenizer from GGUF-normalised metadata. Errors name the missing or malformed
  // tokenizer.ggml.* key.
  static absl::StatusOr<Tokenizer> FromMetadata(const aprender::Metadata& metadata);

  // add_special: prepend BOS / append EOS as the vocabulary asks (add_bos_token/add_eos_token).
  // parse_special: control tokens written in the text ("<|im_start|>") become their ids;
  // user-defined (added) tokens are always matched, as the reference tokenizers do.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // Concatenated pieces. Control tokens (BOS, EOS, ...) render as nothing unless
  // `render_special`; byte tokens become their raw byte (the result may then hold invalid UTF-8
  // when the ids are cut mid code point: use StreamDecoder for streaming output).
  std::string Decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  // The vocabulary entry as stored ("▁Hello", "Ġworld", "<0x0A>"); empty for an invalid id.
  std::string_view TokenPiece(int32_t id) const;
  // The bytes this token contributes to decoded text (for a lone token, no leading-space rule).
  std::string TokenBytes(int32_t id, bool render_special = false) const;
  // Exact vocabulary lookup; -1 when absent.
  int32_t PieceToId(std::string_view piece) const;

  VocabKind kind() const;
  int32_t bos_id() const;  // -1 when the vocabulary has none
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  bool add_eos() const;
  TokenType token_type(int32_t id) const;
  // End of generation: EOS, EOT (<|eot_id|>, <|im_end|>, <|end|>, ...) and tokenizer.ggml.eot/eom.
  bool IsEog(int32_t id) const;
  bool IsControl(int32_t id) const;
  int32_t vocab_size() const;
  // The pre-tokenizer chosen from tokenizer.ggml.pre ("gpt2", "llama3", "qwen2", ...).
  std::string_view pre_type() const;

  // Streaming detokenizer: feeds ids one at a time and returns only complete UTF-8 code
  // points; incomplete trailing bytes are held until the next Push or Flush. Invalid bytes
  // that can never complete a code point are emitted as U+FFFD.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false);
    std::string Push(int32_t id);
    std::string Flush();  // emits held bytes (as U+FFFD when they do not form a code point)

   private:
    std::shared_ptr<const TokenizerImpl> impl_;
    bool render_special_;
    bool first_ = true;
    std::string pending_;
  };

 private:
  explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const TokenizerImpl> impl_;
};

// Streaming decoder alias at namespace scope for callers that prefer it.
using StreamDecoder = Tokenizer::StreamDecoder;

}  // namespace realizar
