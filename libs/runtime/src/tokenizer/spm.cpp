// SentencePiece BPE as llama.cpp and SentencePiece run it for "llama" vocabularies: start
// from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the
// highest-scoring vocabulary piece (ties: leftmost), then emit pieces, falling back to
// <0xXX> byte tokens for characters the vocabulary lacks.
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
  uint32_t size;  // 0 once merged into its left neighbour
};

struct Bigram {
  int32_t left;
  int32_t right;
  float score;
  uint32_t size;
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    // Max-heap on score; equal scores pop the leftmost pair first.
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void TokenizerImpl::EncodeSpm(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    size_t n = std::min(internal::Utf8SeqLen(static_cast<uint8_t>(text[off])), text.size() - off);
    const auto idx = static_cast<int32_t>(symbols.size());
    symbols.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, static_cast<uint32_t>(off),
                       static_cast<uint32_t>(n)});
    off += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const int32_t id = Find(text.substr(l.offset, l.size + r.size));
    if (id < 0) return;
    queue.push({left, right, scores[id], l.size + r.size});
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.size == 0 || r.size == 0 || l.size + r.size != b.size) continue;  // stale pair
    l.size += r.size;
    r.size = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece = text.substr(s.offset, s.size);
    const int32_t id = Find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Merged symbols are always vocabulary pieces, so this is a single unknown character.
    for (char c : piece) {
      const int32_t bt = byte_tokens[static_cast<uint8_t>(c)];
      if (bt >= 0) {
        out.push_back(bt);
      } else if (unk >= 0) {
        out.push_back(unk);
      }
    }
  }
}

}  // namespace realizar
