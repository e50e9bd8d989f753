// WordPiece ("bert" vocabularies, as GGUF stores them: word-initial pieces carry a "▁"
// prefix, continuation pieces are bare). Text is cleaned and split like HF's BERT
// normalizer + BertPreTokenizer: lower-cased, accents stripped, split on whitespace, every
// punctuation character and every CJK ideograph its own word. Each word is then cut
// greedily into the longest vocabulary pieces; a word that cannot be cut becomes [UNK].
//
// Lower-casing and accent stripping use small tables (ASCII, Latin-1, Latin Extended-A,
// Greek, Cyrillic, Vietnamese) rather than full Unicode normalisation.
#include <vector>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace realizar {
namespace {

bool IsWhitespace(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C ||
         c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool IsControlChar(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xFFFD || c == 0 ||
         (c >= 0x200B && c <= 0x200F) || c == 0xFEFF;
}

bool IsPunct(uint32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  return (c >= 0xA1 && c <= 0xBF && c != 0xAA && c != 0xB2 && c != 0xB3 && c != 0xB5 &&
          c != 0xB9 && c != 0xBA && c != 0xBC && c != 0xBD && c != 0xBE &&
          (c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB ||
           c == 0xBF)) ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) ||
         (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) ||
         (c >= 0x3014 && c <= 0x301F) || (c >= 0xFF01 && c <= 0xFF0F && c != 0xFF04 &&
                                          c != 0xFF0B) ||
         (c >= 0xFF1A && c <= 0xFF20 && c != 0xFF1C && c != 0xFF1D && c != 0xFF1E) ||
         c == 0xFF3B || c == 0xFF3C || c == 0xFF3D || c == 0xFF3F || c == 0xFF5B ||
         c == 0xFF5D || (c >= 0xFF5F && c <= 0xFF65);
}

bool IsCjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsCombiningMark(uint32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
         (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
         (c >= 0xFE20 && c <= 0xFE2F);
}

// Lower-case and strip accents of one code point (0 = drop it).
uint32_t Fold(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (IsCombiningMark(c)) return 0;
  // Latin-1 letters with accents -> base letter.
  static constexpr char kLatin1[] =
      "aaaaaaaceeeeiiiidnooooo/ouuuuyts"   // U+00C0..U+00DF (D7 x, DE thorn, DF sharp s)
      "aaaaaaaceeeeiiiidnooooo/ouuuuyty";  // U+00E0..U+00FF
  if (c >= 0xC0 && c <= 0xFF) {
    if (c == 0xD7 || c == 0xF7 || c == 0xC6 || c == 0xE6 || c == 0xD0 || c == 0xF0 ||
        c == 0xDE || c == 0xFE || c == 0xDF || c == 0xD8 || c == 0xF8) {
      if (c >= 0xC0 && c <= 0xDE && c != 0xD7 && c != 0xDF) return c + 0x20;
      return c;
    }
    return static_cast<uint8_t>(kLatin1[c - 0xC0]);
  }
  // Latin Extended-A: accented letters, upper/lower pairs.
  static constexpr char kExtA[] =
      "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii"
      "??jjkkkllllllllllnnnnnnnnnoooooo??rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
  static_assert(sizeof(kExtA) == 0x81);
  if (c >= 0x100 && c <= 0x17F) {
    const size_t i = c - 0x100;
    if (i < sizeof(kExtA) - 1 && kExtA[i] != '?') return static_cast<uint8_t>(kExtA[i]);
    return c;
  }
  // Vietnamese precomposed letters (U+1EA0..U+1EF9) by base letter.
  if (c >= 0x1EA0 && c <= 0x1EF9) {
    static constexpr char kViet[] =
        "aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiii"
        "oooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy";
    static_assert(sizeof(kViet) == 91);
    const size_t i = c - 0x1EA0;
    if (i < sizeof(kViet) - 1) return static_cast<uint8_t>(kViet[i]);
  }
  if (c == 0x01A0 || c == 0x01A1) return 'o';
  if (c == 0x01AF || c == 0x01B0) return 'u';
  if (c == 0x0419 || c == 0x0439) return 0x0438;  // й: и + combining breve, breve stripped
  if (c >= 0x0391 && c <= 0x03A9 && c != 0x03A2) return c + 0x20;  // Greek capitals
  if (c >= 0x0410 && c <= 0x042F) return c + 0x20;                 // Cyrillic capitals
  if (c >= 0x0400 && c <= 0x040F) return c + 0x50;
  return c;
}

}  // namespace

void TokenizerImpl::EncodeWordPiece(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    uint32_t c = 0;
    i += internal::DecodeUtf8(text, i, c);
    if (c == internal::kInvalidCodePoint || IsControlChar(c)) continue;
    if (IsWhitespace(c)) {
      flush();
      continue;
    }
    if (IsPunct(c) || IsCjk(c)) {
      flush();
      internal::AppendUtf8(c, cur);
      flush();
      continue;
    }
    const uint32_t f = Fold(c);
    if (f != 0) internal::AppendUtf8(f, cur);
  }
  flush();
  for (const std::string& word : words) {
    const std::string w = "\xE2\x96\x81" + word;
    const size_t start = out.size();
    bool ok = true;
    for (size_t i = 0; i < w.size() && ok;) {
      size_t j = w.size();
      for (; j > i; --j) {
        const int32_t id = Find(std::string_view(w).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          break;
        }
      }
      if (j == i) ok = false;
      i = j;
    }
    if (!ok) {
      out.resize(start);
      if (unk >= 0) out.push_back(unk);
    }
  }
}

}  // namespace realizar
