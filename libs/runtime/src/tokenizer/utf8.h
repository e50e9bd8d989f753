// Small UTF-8 helpers shared by the tokenizers and the streaming decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace realizar::internal {

// Length of the sequence a lead byte announces (1 for ASCII and for invalid lead bytes, so
// that scanning always advances).
inline size_t Utf8SeqLen(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

inline void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes one code point at `s[pos]`. Returns the number of bytes consumed (>= 1) and sets
// `cp`; an invalid or truncated sequence consumes one byte and yields `kInvalid`.
inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFFu;
inline size_t DecodeUtf8(std::string_view s, size_t pos, uint32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  const size_t n = Utf8SeqLen(b0);
  if (n == 1) {
    cp = b0 < 0x80 ? b0 : kInvalidCodePoint;
    return 1;
  }
  if (pos + n > s.size()) {
    cp = kInvalidCodePoint;
    return 1;
  }
  uint32_t v = b0 & (0xFF >> (n + 1));
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      cp = kInvalidCodePoint;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    cp = kInvalidCodePoint;
    return 1;
  }
  cp = v;
  return n;
}

}  // namespace realizar::internal
