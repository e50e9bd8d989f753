// The built-in byte-level BPE tokenizer of synthesized models: 256 byte tokens in GPT-2's
// byte-to-unicode spelling, merges learned deterministically from a short English text embedded
// below, three ChatML control tokens, then [PAD{n}] tokens up to the embedding row count.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "aprender/synth.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

// Original text written for this purpose (no external corpus); it only needs common English
// letter pairs so that the learned merges look like a real vocabulary.
constexpr const char* kTrainingText =
    "The quick brown fox jumps over the lazy dog while the other animals watch from the edge of "
    "the forest. In the morning the farmer walks to the market with a basket of apples, bread and "
    "cheese, and he talks with everyone he meets along the road. There is nothing more pleasant "
    "than a warm day in the summer, when the children play in the river and the old men sit in "
    "the shade of the trees, telling stories about the things that happened when they were young. "
    "A language model reads these words one token at a time and learns which token is likely to "
    "come next. It is trained on a large amount of text, and then it can write new sentences that "
    "sound natural, answer questions, translate between languages and explain how things work. "
    "The model does not understand the world the way people do, but the patterns it has learned "
    "are often useful. When you ask the model a question, it turns the question into numbers, "
    "passes them through many layers of computation and then turns the result back into text. "
    "Each layer has attention, which looks at the other tokens in the context, and a feed forward "
    "network, which transforms every position on its own. The weights of these layers are stored "
    "in a file, and the file can be quantized so that it is smaller and faster to read. This is "
    "the reason why the same model can run on a laptop, on a server in a data center, or on a "
    "phone in your pocket. Thank you for reading, and have a wonderful time with the rest of the "
    "day. Where are you going this evening? I am going home to cook dinner for my family.";

constexpr int kMaxMerges = 512;

// GPT-2's reversible byte -> unicode code point mapping, UTF-8 encoded.
std::vector<std::string> ByteSymbols() {
  std::vector<int> cp(256, -1);
  auto keep = [&](int lo, int hi) {
    for (int b = lo; b <= hi; ++b) cp[b] = b;
  };
  keep('!', '~');
  keep(0xA1, 0xAC);
  keep(0xAE, 0xFF);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    if (cp[b] < 0) cp[b] = next++;
  }
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    const int c = cp[b];
    std::string s;
    if (c < 0x80) {
      s.push_back(static_cast<char>(c));
    } else {  // all code points here are < 0x800: two bytes
      s.push_back(static_cast<char>(0xC0 | (c >> 6)));
      s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
    out[b] = std::move(s);
  }
  return out;
}

enum CharClass { kLetter, kDigit, kSpace, kOther };
CharClass Classify(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return kLetter;
  if (c >= '0' && c <= '9') return kDigit;
  if (c == ' ' || c == '\n' || c == '\t') return kSpace;
  return kOther;
}

// GPT-2-like pre-tokenization: an optional leading space plus a run of one character class.
std::map<std::string, int> Words(const std::string& text) {
  std::map<std::string, int> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    if (text[i] == ' ' && i + 1 < text.size() && Classify(text[i + 1]) != kSpace) ++i;
    const CharClass cls = Classify(static_cast<unsigned char>(text[i]));
    while (i < text.size() && Classify(static_cast<unsigned char>(text[i])) == cls) ++i;
    ++words[text.substr(start, i - start)];
  }
  return words;
}

struct Learned {
  std::vector<std::string> merges;      // "left right"
  std::vector<std::string> new_tokens;  // unique merged tokens, in learning order
};

Learned LearnMerges(int max_merges, const std::vector<std::string>& byte_symbols) {
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, count] : Words(kTrainingText)) {
    std::vector<std::string> syms;
    for (unsigned char c : w) syms.push_back(byte_symbols[c]);
    words.emplace_back(std::move(syms), count);
  }
  Learned out;
  std::set<std::string> known(byte_symbols.begin(), byte_symbols.end());
  while (static_cast<int>(out.merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [syms, count] : words) {
      for (size_t i = 0; i + 1 < syms.size(); ++i) pairs[{syms[i], syms[i + 1]}] += count;
    }
    // Most frequent pair; ties go to the lexicographically smallest (map order).
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;
    for (const auto& [p, count] : pairs) {
      if (count > best_count) {
        best = &p;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const std::string left = best->first;
    const std::string right = best->second;
    const std::string merged = left + right;
    for (auto& [syms, count] : words) {
      std::vector<std::string> next;
      next.reserve(syms.size());
      for (size_t i = 0; i < syms.size(); ++i) {
        if (i + 1 < syms.size() && syms[i] == left && syms[i + 1] == right) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(syms[i]);
        }
      }
      syms = std::move(next);
    }
    out.merges.push_back(left + " " + right);
    if (known.insert(merged).second) out.new_tokens.push_back(merged);
  }
  return out;
}

constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUserDefined = 4;

}  // namespace

absl::Status AddDefaultTokenizer(uint32_t vocab, Metadata& metadata) {
  constexpr uint32_t kControl = 3;
  if (vocab < 256 + kControl) {
    return absl::InvalidArgumentError(trueno::Concat(
        "built-in tokenizer needs a vocab of at least ", 256 + kControl, " tokens, got ", vocab));
  }
  const std::vector<std::string> bytes = ByteSymbols();
  const int budget = static_cast<int>(std::min<uint32_t>(vocab - 256 - kControl, kMaxMerges));
  Learned learned = LearnMerges(budget, bytes);
  // A merge whose result was already a token adds no token, so the merge count can exceed the
  // number of new tokens; keep only merges whose result fits in the budget.
  while (learned.new_tokens.size() > static_cast<size_t>(budget)) learned.new_tokens.pop_back();

  std::vector<std::string> tokens = bytes;
  std::vector<int32_t> types(256, kTokenNormal);
  for (auto& t : learned.new_tokens) {
    tokens.push_back(t);
    types.push_back(kTokenNormal);
  }
  std::set<std::string> present(tokens.begin(), tokens.end());
  std::vector<std::string> merges;
  for (const auto& m : learned.merges) {
    const size_t sp = m.find(' ');
    const std::string left = m.substr(0, sp);
    const std::string right = m.substr(sp + 1);
    if (present.count(left) && present.count(right) && present.count(left + right))
      merges.push_back(m);
  }
  const uint32_t endoftext = static_cast<uint32_t>(tokens.size());
  for (const char* c : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.push_back(c);
    types.push_back(kTokenControl);
  }
  for (uint32_t n = 0; tokens.size() < vocab; ++n) {
    tokens.push_back(trueno::Concat("[PAD", n, "]"));
    types.push_back(kTokenUserDefined);
  }
  metadata.Set("tokenizer.ggml.model", MetaValue::String("gpt2"));
  metadata.Set("tokenizer.ggml.pre", MetaValue::String("default"));
  metadata.Set("tokenizer.ggml.tokens", MetaValue::StringArray(std::move(tokens)));
  metadata.Set("tokenizer.ggml.token_type", MetaValue::I32Array(types));
  metadata.Set("tokenizer.ggml.merges", MetaValue::StringArray(std::move(merges)));
  metadata.Set("tokenizer.ggml.bos_token_id", MetaValue::U32(endoftext));
  metadata.Set("tokenizer.ggml.eos_token_id", MetaValue::U32(endoftext + 2));
  metadata.Set("tokenizer.ggml.padding_token_id", MetaValue::U32(endoftext));
  metadata.Set("tokenizer.ggml.add_bos_token", MetaValue::Bool(false));
  metadata.Set("tokenizer.chat_template",
               MetaValue::String(
                   "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"));
  return absl::OkStatus();
}

}  // namespace aprender
