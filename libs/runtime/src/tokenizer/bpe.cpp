// Byte-level BPE ("gpt2" vocabularies): pre-tokenize with the model's regex, map every byte
// of a piece to its GPT-2 unicode stand-in, then repeatedly apply the lowest-ranked merge
// among adjacent symbols (ties: leftmost) over a linked list of symbols and a min-heap.
#include <queue>
#include <vector>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace realizar {
namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t offset;
  uint32_t size;  // 0 once merged away
  int32_t id;     // vocabulary id of the symbol's text, -1 when it is not a piece
};

struct Pair {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t merged_id;
};

struct PairOrder {
  bool operator()(const Pair& a, const Pair& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void BuildByteToUnicode(std::array<std::string, 256>& table) {
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + extra++);
    table[b].clear();
    internal::AppendUtf8(cp, table[b]);
  }
}

void TokenizerImpl::EncodeBpe(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<std::pair<size_t, size_t>> words;
  pre->Split(text, words);
  std::string mapped;
  std::vector<Symbol> symbols;
  std::priority_queue<Pair, std::vector<Pair>, PairOrder> queue;
  for (auto [woff, wlen] : words) {
    mapped.clear();
    for (size_t i = 0; i < wlen; ++i) mapped += byte_to_unicode[static_cast<uint8_t>(text[woff + i])];
    if (pre->ignore_merges()) {
      const int32_t whole = Find(mapped);
      if (whole >= 0) {
        out.push_back(whole);
        continue;
      }
    }
    symbols.clear();
    for (size_t off = 0; off < mapped.size();) {
      const size_t n = std::min(internal::Utf8SeqLen(static_cast<uint8_t>(mapped[off])),
                                mapped.size() - off);
      const auto idx = static_cast<int32_t>(symbols.size());
      symbols.push_back({idx - 1, off + n == mapped.size() ? -1 : idx + 1,
                         static_cast<uint32_t>(off), static_cast<uint32_t>(n),
                         Find(std::string_view(mapped).substr(off, n))});
      off += n;
    }
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const int32_t a = symbols[left].id, b = symbols[right].id;
      if (a < 0 || b < 0) return;
      auto it = merges.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                            static_cast<uint32_t>(b));
      if (it == merges.end()) return;
      queue.push({it->second.rank, left, right, a, b, it->second.merged_id});
    };
    for (size_t i = 1; i < symbols.size(); ++i) {
      try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    }
    while (!queue.empty()) {
      const Pair p = queue.top();
      queue.pop();
      Symbol& l = symbols[p.left];
      Symbol& r = symbols[p.right];
      // Stale when either side changed since the pair was queued.
      if (l.size == 0 || r.size == 0 || l.id != p.left_id || r.id != p.right_id || l.next != p.right) {
        continue;
      }
      l.size += r.size;
      l.id = p.merged_id;
      r.size = 0;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = p.left;
      try_add(l.prev, p.left);
      try_add(p.left, l.next);
    }
    for (int32_t i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const Symbol& s = symbols[i];
      if (s.id >= 0) {
        out.push_back(s.id);
        continue;
      }
      // Not a piece: emit single-byte pieces where the vocabulary has them (as the reference).
      for (uint32_t k = 0; k < s.size; ++k) {
        const int32_t id = Find(std::string_view(mapped).substr(s.offset + k, 1));
        if (id >= 0) out.push_back(id);
      }
    }
  }
}

}  // namespace realizar
