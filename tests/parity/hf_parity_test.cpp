// Parity with HF transformers (float32). The fixture holds, for tiny qwen2 and llama models
// synthesized with seed 7 (`apr synth --preset tiny-<arch> --type f32 --seed 7 -o DIR`), the
// logits transformers computed for a fixed prompt and 32 greedy steps
// (tests/fixtures/parity/gen_hf_logits.py, transformers 5.17.0, torch 2.11.0). Here the same
// model is re-synthesized from the seed and run by our engine: read directly, and through an
// HF directory, GGUF and .apr written and read back.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "aprender/apr_format.h"
#include "aprender/gguf.h"
#include "aprender/hf_dir.h"
#include "aprender/synth.h"
#include "realizar/model.h"
#include "test_assets.h"

namespace {

struct Step {
  std::vector<double> logits;
  int32_t token;
};

struct Reference {
  std::vector<int32_t> prompt;
  std::vector<Step> steps;
};

boost::json::value LoadFixture() {
  std::ifstream in(APR_PARITY_FIXTURE);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str());
}

Reference ReferenceFor(const boost::json::value& fx, const std::string& name) {
  Reference ref;
  for (const auto& v : fx.at("prompt").as_array()) ref.prompt.push_back(static_cast<int32_t>(v.as_int64()));
  for (const auto& s : fx.at("models").at(name).at("steps").as_array()) {
    Step step;
    for (const auto& l : s.at("logits").as_array()) step.logits.push_back(l.to_number<double>());
    step.token = static_cast<int32_t>(s.at("token").as_int64());
    ref.steps.push_back(std::move(step));
  }
  return ref;
}

aprender::ModelFile Synthesize(const std::string& arch) {
  auto spec = aprender::SynthPreset("tiny-" + arch);
  REQUIRE(spec.ok());
  spec->seed = 7;
  auto file = aprender::SynthesizeModel(*spec, trueno::DType::kF32);
  REQUIRE(file.ok());
  return std::move(file).value();
}

// Runs the prompt then the reference's greedy tokens (teacher forcing), checking every step's
// logits against transformers and that our argmax picks the same token. Returns all logits.
std::vector<float> CheckAgainstReference(aprender::ModelFile file, const Reference& ref) {
  auto model = realizar::Model::FromFile(std::move(file));
  REQUIRE(model.ok());
  const int n_vocab = (*model)->n_vocab();
  REQUIRE(static_cast<size_t>(n_vocab) == ref.steps[0].logits.size());
  std::vector<float> logits(n_vocab), all;
  int pos = 0;
  for (size_t i = 0; i < ref.steps.size(); ++i) {
    if (i == 0) {
      REQUIRE((*model)->Forward(ref.prompt, 0, 0, logits.data()).ok());
      pos = static_cast<int>(ref.prompt.size());
    } else {
      const int32_t tok = ref.steps[i - 1].token;
      REQUIRE((*model)->Forward(std::span<const int32_t>(&tok, 1), 0, pos, logits.data()).ok());
      ++pos;
    }
    double max_ref = 0, max_diff = 0;
    for (int v = 0; v < n_vocab; ++v) {
      max_ref = std::max(max_ref, std::abs(ref.steps[i].logits[v]));
      max_diff = std::max(max_diff, std::abs(logits[v] - ref.steps[i].logits[v]));
    }
    INFO("step " << i << " max|dlogit| " << max_diff << " max|logit| " << max_ref);
    CHECK(max_diff <= 1e-3 * max_ref);
    const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
    CHECK(argmax == ref.steps[i].token);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

}  // namespace

TEST_CASE("Engine logits match HF transformers for synthesized qwen2 and llama (32 greedy steps)") {
  const auto fx = LoadFixture();
  for (const std::string arch : {"qwen2", "llama"}) {
    SECTION(arch) {
      const Reference ref = ReferenceFor(fx, arch);
      REQUIRE(ref.steps.size() == 33);
      const auto direct = CheckAgainstReference(Synthesize(arch), ref);

      // The HF directory is what transformers read: our writer and reader (incl. the llama Q/K
      // permutation) must hand the engine the same model.
      apr_test::ScratchDir dir;
      const auto model = Synthesize(arch);
      REQUIRE(aprender::WriteHfDir(model, dir.file("hf")).ok());
      auto hf = aprender::ReadHfDir(dir.file("hf"));
      REQUIRE(hf.ok());
      CHECK(CheckAgainstReference(std::move(hf).value(), ref) == direct);

      // GGUF and .apr (zstd) round trips give bit-identical logits.
      REQUIRE(aprender::WriteGguf(model, dir.file("m.gguf")).ok());
      auto gguf = aprender::ReadGguf(dir.file("m.gguf"));
      REQUIRE(gguf.ok());
      CHECK(CheckAgainstReference(std::move(gguf).value(), ref) == direct);
      aprender::AprWriteOptions opts;
      opts.compression = aprender::Compression::kZstd;
      REQUIRE(aprender::WriteApr(model, dir.file("m.apr"), opts).ok());
      auto apr = aprender::ReadApr(dir.file("m.apr"));
      REQUIRE(apr.ok());
      CHECK(CheckAgainstReference(std::move(apr).value(), ref) == direct);
    }
  }
}
