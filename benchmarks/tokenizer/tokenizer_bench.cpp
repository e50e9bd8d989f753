// Encode throughput (MB/s) of each ggml-vocab-*.gguf tokenizer on ~10 MB of mixed text
// (English prose from the test vectors, C++/Python source, CJK, Cyrillic, emoji, whitespace
// runs), generated deterministically here, or read from the file named by APR_TOKENIZER_TEXT.
//   tokenizer_bench [--benchmark_filter=gpt-2]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "realizar/tokenizer.h"
#include "vocab_loader.h"

namespace {

std::string MixedText() {
  if (const char* path = std::getenv("APR_TOKENIZER_TEXT")) return apr_test::ReadTextFile(path);
  const std::string vectors =
      apr_test::ReadTextFile(std::string(APR_SHARED_ASSETS) + "/vocab/ggml-vocab-gpt-2.gguf.inp");
  const std::string code =
      "template <typename T>\nstd::vector<T> Scale(const std::vector<T>& v, T k) {\n"
      "  std::vector<T> out(v.size());\n  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] * k;\n"
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

}  // namespace

BENCHMARK_CAPTURE(BM_Encode, llama_spm, std::string("llama-spm"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, gpt_2, std::string("gpt-2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, starcoder, std::string("starcoder"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, deepseek_coder, std::string("deepseek-coder"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bert_bge, std::string("bert-bge"))->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
