// Reading GGUF files written by llama.cpp (shared assets; skipped when absent). Expected facts
// come from the assets' READMEs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "aprender/gguf.h"
#include "test_assets.h"

namespace {

struct Expect {
  const char* file;
  trueno::DType matrix_type;  // every rank-2 tensor (README: quantized with --pure)
};

}  // namespace

TEST_CASE("GGUF reads every llama.cpp interop file with the README's architecture and types") {
  APR_REQUIRE_ASSET("gguf-interop/tiny-f32.gguf");
  using trueno::DType;
  const Expect cases[] = {
      {"tiny-f32.gguf", DType::kF32},     {"tiny-F16.gguf", DType::kF16},
      {"tiny-BF16.gguf", DType::kBF16},   {"tiny-Q4_0.gguf", DType::kQ4_0},
      {"tiny-Q4_1.gguf", DType::kQ4_1},   {"tiny-Q5_0.gguf", DType::kQ5_0},
      {"tiny-Q5_1.gguf", DType::kQ5_1},   {"tiny-Q8_0.gguf", DType::kQ8_0},
      {"tiny-Q2_K.gguf", DType::kQ2_K},   {"tiny-Q3_K_S.gguf", DType::kQ3_K},
      {"tiny-Q4_K_S.gguf", DType::kQ4_K}, {"tiny-Q5_K_S.gguf", DType::kQ5_K},
      {"tiny-Q6_K.gguf", DType::kQ6_K},
  };
  for (const Expect& e : cases) {
    const auto path = (apr_test::SharedAssets() / "gguf-interop" / e.file).string();
    INFO(path);
    auto m = aprender::ReadGguf(path);
    REQUIRE(m.ok());
    CHECK(m->version == 3);
    CHECK(*m->metadata.Find("general.architecture")->AsString() == "llama");
    CHECK(*m->metadata.Find("llama.block_count")->AsUint() == 2);
    CHECK(*m->metadata.Find("llama.embedding_length")->AsUint() == 256);
    CHECK(m->metadata.Find("tokenizer.ggml.tokens")->AsArray()->items.size() == 263);
    // token_embd, output_norm, output + 9 per layer × 2 layers.
    CHECK(m->tensors.size() == 21);
    const uint64_t file_size = std::filesystem::file_size(path);
    for (const auto& t : m->tensors) {
      INFO(t.name);
      CHECK(t.type == (t.dims.size() == 2 ? e.matrix_type : DType::kF32));
      CHECK(reinterpret_cast<uintptr_t>(t.data.data()) % 32 == 0);  // page-aligned mmap base
      CHECK(t.data.size() <= file_size);
    }
    const auto* q = m->FindTensor("blk.0.attn_q.weight");
    REQUIRE(q != nullptr);
    CHECK(q->dims == std::vector<uint64_t>{256, 256});
    const auto* k = m->FindTensor("blk.1.attn_k.weight");
    REQUIRE(k != nullptr);
    CHECK(k->dims == std::vector<uint64_t>{256, 128});  // 2 KV heads × 64
  }
}

TEST_CASE("GGUF f32 interop tensor bytes match the file at the spec-computed position") {
  APR_REQUIRE_ASSET("gguf-interop/tiny-f32.gguf");
  const auto path = (apr_test::SharedAssets() / "gguf-interop/tiny-f32.gguf").string();
  auto m = aprender::ReadGguf(path);
  REQUIRE(m.ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Tensor infos end at byte 5782 (independently parsed); the data section starts at the next
  // multiple of 32 = 5792. output_norm.weight sits at data offset 269312.
  const auto* norm = m->FindTensor("output_norm.weight");
  REQUIRE(norm != nullptr);
  REQUIRE(norm->data.size() == 256 * 4);
  CHECK(std::equal(norm->data.begin(), norm->data.end(), all.begin() + 5792 + 269312));
}

TEST_CASE("GGUF reads every llama.cpp vocab file") {
  APR_REQUIRE_ASSET("vocab/ggml-vocab-llama-spm.gguf");
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(apr_test::SharedAssets() / "vocab")) {
    if (e.path().extension() != ".gguf") continue;
    INFO(e.path().string());
    auto m = aprender::ReadGguf(e.path().string());
    REQUIRE(m.ok());
    CHECK(m->metadata.Find("general.architecture") != nullptr);
    const auto* tokens = m->metadata.Find("tokenizer.ggml.tokens");
    REQUIRE(tokens != nullptr);
    CHECK(tokens->AsArray()->items.size() > 1000);
    ++n;
  }
  CHECK(n > 5);
}

namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

// llama.cpp's writer is the reference for the layout: reading its files and writing them back
// must reproduce them exactly (metadata order, tensor info order, offsets, padding).
TEST_CASE("GGUF rewriting llama.cpp-written model files reproduces them byte for byte") {
  APR_REQUIRE_ASSET("gguf-interop/tiny-f32.gguf");
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(apr_test::SharedAssets() / "gguf-interop")) {
    if (e.path().extension() == ".gguf") files.push_back(e.path());
  }
  const auto franken = apr_test::SharedAssets() / "models/frankentiny/frankentiny-f32.gguf";
  if (std::filesystem::exists(franken)) files.push_back(franken);
  CHECK(files.size() >= 13);
  apr_test::ScratchDir dir;
  for (const auto& f : files) {
    INFO(f.string());
    auto m = aprender::ReadGguf(f.string());
    REQUIRE(m.ok());
    REQUIRE(aprender::WriteGguf(*m, dir.file("copy.gguf")).ok());
    CHECK(ReadAll(dir.file("copy.gguf")) == ReadAll(f.string()));
  }
}

// The vocab files come from gguf-py, which leaves out the data-section padding when there are
// no tensors; llama.cpp's writer (and ours) pads. Everything before the padding is identical.
TEST_CASE("GGUF rewriting tensorless vocab files differs only by zero padding") {
  APR_REQUIRE_ASSET("vocab/ggml-vocab-llama-spm.gguf");
  apr_test::ScratchDir dir;
  for (const auto& e : std::filesystem::directory_iterator(apr_test::SharedAssets() / "vocab")) {
    if (e.path().extension() != ".gguf") continue;
    INFO(e.path().string());
    auto m = aprender::ReadGguf(e.path().string());
    REQUIRE(m.ok());
    REQUIRE(aprender::WriteGguf(*m, dir.file("copy.gguf")).ok());
    const auto orig = ReadAll(e.path().string());
    const auto copy = ReadAll(dir.file("copy.gguf"));
    REQUIRE(copy.size() >= orig.size());
    CHECK(copy.size() % 32 == 0);
    CHECK(copy.size() - orig.size() < 32);
    CHECK(std::equal(orig.begin(), orig.end(), copy.begin()));
    CHECK(std::all_of(copy.begin() + static_cast<std::ptrdiff_t>(orig.size()), copy.end(),
                      [](uint8_t b) { return b == 0; }));
  }
}
