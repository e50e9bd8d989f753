#include "tokenizer/unicode_nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/utf8.h"

namespace realizar::internal {
namespace {

struct CccRange {
  uint32_t first, last;
  uint8_t ccc;
};
struct DecompEntry {
  uint32_t cp;
  uint32_t offset;
  uint8_t length;
};
struct Composition {
  uint32_t first, second, composite;
};
struct UnsafeRange {
  uint32_t first, last;
};

#include "tokenizer/unicode_nfc_tables.inc"

// Hangul syllables (Unicode 3.12): S = SBase + (L * VCount + V) * TCount + T.
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// Every code point below this is NFC-stable and has combining class 0 (checked by a test).
constexpr uint32_t kFirstUnsafe = 0x300;

template <class Range>
const Range* FindRange(const Range* begin, const Range* end, uint32_t cp) {
  const Range* it =
      std::upper_bound(begin, end, cp, [](uint32_t v, const Range& r) { return v < r.first; });
  if (it == begin) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

uint8_t Ccc(uint32_t cp) {
  if (cp < kFirstUnsafe) return 0;
  const CccRange* r = FindRange(std::begin(kCccRanges), std::end(kCccRanges), cp);
  return r ? r->ccc : 0;
}

bool Unsafe(uint32_t cp) {
  if (cp < kFirstUnsafe) return false;
  return FindRange(std::begin(kNfcUnsafeRanges), std::end(kNfcUnsafeRanges), cp) != nullptr;
}

void Decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  // The first code point with a canonical decomposition is U+00C0.
  if (cp >= 0xC0) {
    const DecompEntry* it =
        std::lower_bound(std::begin(kDecompIndex), std::end(kDecompIndex), cp,
                         [](const DecompEntry& e, uint32_t v) { return e.cp < v; });
    if (it != std::end(kDecompIndex) && it->cp == cp) {
      out.insert(out.end(), kDecompData + it->offset, kDecompData + it->offset + it->length);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of (a, b), or 0.
uint32_t Compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const Composition* it = std::lower_bound(
      std::begin(kCompositions), std::end(kCompositions), std::pair<uint32_t, uint32_t>(a, b),
      [](const Composition& c, const std::pair<uint32_t, uint32_t>& v) {
        return c.first != v.first ? c.first < v.first : c.second < v.second;
      });
  if (it != std::end(kCompositions) && it->first == a && it->second == b) return it->composite;
  return 0;
}

// NFC of a run of valid code points, appended to `out` as UTF-8.
void NormalizeRun(const std::vector<uint32_t>& cps, std::string& out) {
  // 1. Full canonical decomposition.
  std::vector<uint32_t> d;
  d.reserve(cps.size() + 8);
  for (uint32_t cp : cps) Decompose(cp, d);
  // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
  std::vector<uint8_t> cc(d.size());
  for (size_t i = 0; i < d.size(); ++i) cc[i] = Ccc(d[i]);
  for (size_t i = 0; i < d.size();) {
    if (cc[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && cc[j] != 0) ++j;
    for (size_t k = i + 1; k < j; ++k) {  // insertion sort keeps equal classes in order
      for (size_t m = k; m > i && cc[m - 1] > cc[m]; --m) {
        std::swap(cc[m - 1], cc[m]);
        std::swap(d[m - 1], d[m]);
      }
    }
    i = j;
  }
  // 3. Canonical composition: each character combines with the last starter unless blocked
  // by an intervening character of class 0 or of a class >= its own.
  std::vector<uint32_t> res;
  res.reserve(d.size());
  ptrdiff_t starter = -1;
  int last_cc = -1;  // class of the last character kept after the starter; -1 = adjacent
  for (size_t i = 0; i < d.size(); ++i) {
    const uint32_t c = d[i];
    const int ccc = cc[i];
    // last_cc is never 0: a class-0 character that does not compose becomes the starter.
    if (starter >= 0 && (last_cc == -1 || last_cc < ccc)) {
      if (const uint32_t comp = Compose(res[starter], c); comp != 0) {
        res[starter] = comp;
        continue;
      }
    }
    if (ccc == 0) {
      starter = static_cast<ptrdiff_t>(res.size());
      last_cc = -1;
    } else {
      last_cc = ccc;
    }
    res.push_back(c);
  }
  for (uint32_t cp : res) AppendUtf8(cp, out);
}

}  // namespace

bool IsNfcQuickYes(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    uint32_t cp;
    pos += DecodeUtf8(text, pos, cp);
    if (cp != kInvalidCodePoint && Unsafe(cp)) return false;
  }
  return true;
}

std::string NfcNormalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> run;
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(text, pos, cp);
    if (cp == kInvalidCodePoint) {
      NormalizeRun(run, out);
      run.clear();
      out.push_back(text[pos]);
    } else {
      run.push_back(cp);
    }
    pos += n;
  }
  NormalizeRun(run, out);
  return out;
}

const char* NfcUnicodeVersion() { return kNfcUnicodeVersion; }

}  // namespace realizar::internal
