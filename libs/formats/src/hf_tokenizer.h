// Shared facts of the tokenizer.json <-> tokenizer.ggml.* mapping (private).
#pragma once

#include <cstdint>
#include <string_view>

#include "aprender/metadata.h"

namespace aprender::hf_internal {

// GGUF token types (llama_token_type).
inline constexpr int32_t kTokenNormal = 1;
inline constexpr int32_t kTokenUnknown = 2;
inline constexpr int32_t kTokenControl = 3;
inline constexpr int32_t kTokenUserDefined = 4;
inline constexpr int32_t kTokenByte = 6;

// Pre-tokenizer Split regexes as tokenizer.json spells them, and llama.cpp's names for them.
inline constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kPreQwen2 = "qwen2";
inline constexpr std::string_view kPreLlama3 = "llama-bpe";
inline constexpr std::string_view kPreGpt2 = "gpt-2";

// Pads tokenizer.ggml.tokens/token_type (and scores) to `n_vocab` entries with "[PAD<id>]"
// user-defined tokens, as llama.cpp's converter does when config.json's vocab_size is larger
// than the tokenizer (the embedding matrix has rows for ids no token uses).
void PadVocab(uint64_t n_vocab, Metadata& metadata);

}  // namespace aprender::hf_internal
