// Encode throughput (MB/s) of each ggml-vocab-*.gguf tokenizer on ~10 MB of mixed text
// (English prose from the test vectors, C++/Python source, CJK, Cyrillic, emoji, whitespace
// runs), generated deterministically here, or read from the file named by APR_TOKENIZER_TEXT.
// Qwen2 is loaded from its HF tokenizer.json (with and without its NFC normalizer).
//   tokenizer_bench [--benchmark_filter=gpt-2]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "aprender/hf_dir.h"
#include "realizar/tokenizer.h"
#include "vocab_loader.h"

namespace {

std::string MixedText() {
  if (const char* path = std::getenv("APR_TOKENIZER_TEXT")) return apr_test::ReadTextFile(path);
  const std::string vectors =
      apr_test::ReadTextFile(std::string(APR_SHARED_ASSETS) + "/vocab/ggml-vocab-gpt-2.gguf.inp");
  const std::string code =
      "template <typename T>\nstd::vector<T> Scale(const std::vector<T>& v, T k) {\n"
      "  std::vector<T> out(v.size());\n  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] * "
      "k;\n"
      "  return out;\n}\n\ndef fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n"
      "        a, b = b, a + b\n    return a\n\n";
  const std::string prose =
      "The quick brown fox jumps over the lazy dog. It's 2024, and we've shipped 3.14 "
      "releases in 12 months!  Tokenizers split text into pieces; they're fast.\n";
  const std::string intl =
      "我想在apple工作1314151天～ 今日は良い天気です。 нещо на Български. Cửa Việt. "
      "🦙🚀😁 ✅ \t\t\n   \n";
  std::string block = vectors + code + prose + intl;
  std::string text;
  text.reserve(10u << 20);
  while (text.size() < (10u << 20)) text += block;
  return text;
}

const std::string& Text() {
  static const std::string* t = new std::string(MixedText());
  return *t;
}

void BM_Encode(benchmark::State& state, const std::string& vocab) {
  const std::string path = std::string(APR_SHARED_ASSETS) + "/vocab/ggml-vocab-" + vocab + ".gguf";
  auto md = apr_test::LoadGgufMetadata(path);
  if (!md) {
    state.SkipWithError(("missing " + path).c_str());
    return;
  }
  auto tok = realizar::Tokenizer::FromMetadata(*md);
  if (!tok.ok()) {
    state.SkipWithError(std::string(tok.status().message()).c_str());
    return;
  }
  const std::string& text = Text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}

// Qwen2 from its HF tokenizer.json (byte-level BPE, qwen2 regex, NFC normalizer). `nfc` false
// switches the normalizer off to show its cost; `nfd` feeds the text in NFD form, so that every
// accented letter goes through the full decompose/reorder/compose path.
void BM_EncodeQwen2(benchmark::State& state, bool nfc, bool nfd) {
  const std::string path = std::string(APR_SHARED_ASSETS) + "/tokenizers/qwen2/tokenizer.json";
  aprender::Metadata md;
  if (!aprender::ImportHfTokenizer(path, md).ok()) {
    state.SkipWithError(("cannot import " + path).c_str());
    return;
  }
  md.Set("tokenizer.apr.normalizer", aprender::MetaValue::String(nfc ? "NFC" : "none"));
  auto tok = realizar::Tokenizer::FromMetadata(md);
  if (!tok.ok()) {
    state.SkipWithError(std::string(tok.status().message()).c_str());
    return;
  }
  static const std::string* nfd_text = [] {
    // "Cửa Việt" and friends, decomposed by hand: base letter + combining marks.
    const std::string decomposed =
        "Cu\xCC\x9B\xCC\x89"
        "a Vie\xCC\xA3\xCC\x82t, cafe\xCC\x81, na\xC3\xAFve, "
        "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB\xE1\x84\x80\xE1\x85\xB3\xE1\x86\xAF\n";
    // Every ~4 KB (at an ASCII byte, so no code point is split) insert the decomposed line.
    const std::string& src = Text();
    std::string t;
    t.reserve(src.size() + src.size() / 4096 * decomposed.size() + 64);
    size_t from = 0;
    for (size_t at = 4096; at < src.size(); at += 4096) {
      while (at < src.size() && static_cast<unsigned char>(src[at]) >= 0x80) ++at;
      t.append(src, from, at - from);
      t += decomposed;
      from = at;
    }
    t.append(src, from, std::string::npos);
    return new std::string(std::move(t));
  }();
  const std::string& text = nfd ? *nfd_text : Text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}

}  // namespace

BENCHMARK_CAPTURE(BM_EncodeQwen2, qwen2_nfc, true, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeQwen2, qwen2_no_normalizer, false, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeQwen2, qwen2_nfc_with_nfd_text, true, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_spm, std::string("llama-spm"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, gpt_2, std::string("gpt-2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, starcoder, std::string("starcoder"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, deepseek_coder, std::string("deepseek-coder"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bert_bge, std::string("bert-bge"))->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
