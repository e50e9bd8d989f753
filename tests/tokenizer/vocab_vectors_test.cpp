// The llama.cpp tokenizer test vectors (ggml-vocab-*.gguf + .inp/.out, generated from the
// reference HF tokenizers): every input must tokenize to exactly the recorded ids, with
// add_special=false and parse_special=false as llama.cpp's test-tokenizer-0 runs them, and
// decoding must give the input back where the tokenizer is lossless.
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "realizar/tokenizer.h"
#include "test_assets.h"
#include "vocab_loader.h"

namespace {

struct Vectors {
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> ids;
};

Vectors LoadVectors(const std::string& base) {
  Vectors v;
  const std::string inp = apr_test::ReadTextFile(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0;;) {
    const size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;  // text after the last marker is not an input
    v.inputs.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  std::istringstream out(apr_test::ReadTextFile(base + ".out"));
  std::string line;
  while (v.ids.size() < v.inputs.size() && std::getline(out, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id = 0;
    while (ls >> id) ids.push_back(id);
    v.ids.push_back(std::move(ids));
  }
  return v;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

void CheckVocab(const std::string& name, bool lossless) {
  const std::string rel = "vocab/ggml-vocab-" + name + ".gguf";
  APR_REQUIRE_ASSET(rel);
  APR_REQUIRE_ASSET(rel + ".inp");
  APR_REQUIRE_ASSET(rel + ".out");
  const std::string path = (apr_test::SharedAssets() / rel).string();
  auto md = apr_test::LoadGgufMetadata(path);
  REQUIRE(md.has_value());
  auto tok = realizar::Tokenizer::FromMetadata(*md);
  REQUIRE(tok.ok());
  const Vectors v = LoadVectors(path);
  REQUIRE(v.inputs.size() >= 40);
  REQUIRE(v.ids.size() == v.inputs.size());
  int mismatches = 0;
  for (size_t i = 0; i < v.inputs.size(); ++i) {
    const std::vector<int32_t> got = tok->Encode(v.inputs[i], false, false);
    if (got != v.ids[i]) {
      ++mismatches;
      UNSCOPED_INFO("input #" << i << " [" << v.inputs[i] << "]\n  expected:" << Show(v.ids[i])
                              << "\n  got:     " << Show(got));
    }
    if (lossless) {
      const std::string back = tok->Decode(got);
      if (back != v.inputs[i]) {
        ++mismatches;
        UNSCOPED_INFO("round trip of input #" << i << " [" << v.inputs[i] << "] gave [" << back
                                              << "]");
      }
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("llama-spm vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("llama-spm", true);
}
TEST_CASE("phi-3 vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("phi-3", true);
}
TEST_CASE("gpt-2 vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("gpt-2", true);
}
TEST_CASE("deepseek-coder vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("deepseek-coder", true);
}
TEST_CASE("falcon vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("falcon", true);
}
TEST_CASE("starcoder vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("starcoder", true);
}
TEST_CASE("bert-bge WordPiece vocab matches the reference token ids", "[tokenizer][vectors]") {
  CheckVocab("bert-bge", false);  // lower-cases and strips accents: not lossless
}
