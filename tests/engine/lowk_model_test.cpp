// Models whose matrices are Q2_K / Q3_K: Model::Forward against the float64 reference forward
// pass, and the whole path `apr synth` -> `apr quantize --type q2_k|q3_k_m` -> `apr run`.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "aprender/model_file.h"
#include "realizar/model.h"
#include "realizar/sampler.h"
#include "reference_forward.h"
#include "synth_model.h"
#include "test_assets.h"

namespace {

using trueno::DType;

double RelL2(const float* got, const std::vector<double>& want) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `apr <args>`; returns the exit code, stdout in *out and stderr in *err.
int Apr(const apr_test::ScratchDir& dir, const std::string& args, std::string* out,
        std::string* err) {
  const std::string o = dir.file("stdout.txt"), e = dir.file("stderr.txt");
  const std::string cmd =
      std::string("'") + APR_CLI_PATH + "' " + args + " </dev/null >'" + o + "' 2>'" + e + "'";
  const int status = std::system(cmd.c_str());
  *out = Slurp(o);
  *err = Slurp(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

TEST_CASE("Model::Forward with Q2_K and Q3_K weights matches the float64 reference",
          "[model][lowk]") {
  // The reference uses the same dequantized weights with exact activations: the difference is the
  // 8-bit activation rounding, stated as a relative L2 error of the logits <= 3e-2 (as for the
  // other quantized types in model_test.cpp).
  const std::vector<int32_t> prompt = {5, 17, 3, 88, 42, 42, 9, 60, 1};
  for (auto arch : {aprender::Architecture::kLlama, aprender::Architecture::kQwen2}) {
    for (DType type : {DType::kQ2_K, DType::kQ3_K}) {
      apr_test::SynthSpec spec;
      spec.arch = arch;
      spec.wtype = type;
      spec.n_embd = 256;
      spec.n_ff = 512;
      spec.seed = 300 + static_cast<uint32_t>(type);
      auto synth = apr_test::MakeSynthModel(spec);
      INFO(trueno::DTypeName(type) << " seed " << spec.seed);
      auto ref = apr_test::LoadRefModel(synth.file, synth.config);
      REQUIRE(ref.ok());
      auto model = realizar::Model::Create(synth.file, synth.config);
      REQUIRE(model.ok());
      const int V = (*model)->n_vocab();
      std::vector<float> logits(prompt.size() * V);
      REQUIRE((*model)->Forward(prompt, 0, 0, logits.data(), /*all_logits=*/true).ok());
      const auto want = apr_test::ReferenceForward(*ref, prompt);
      for (size_t t = 0; t < prompt.size(); ++t) {
        const double e = RelL2(logits.data() + t * V, want[t]);
        INFO("position " << t << " rel_l2 " << e);
        CHECK(e <= 3e-2);
      }
    }
  }
}

TEST_CASE("apr quantize --type q2_k and q3_k_m give models that apr run generates from",
          "[model][lowk][cli]") {
  apr_test::ScratchDir dir;
  std::string out, err;
  const std::string f32 = dir.file("base.gguf");
  // Rows of 256 so the K types apply (narrower rows fall back to 32-element block types).
  REQUIRE(Apr(dir,
              "synth --arch llama --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --vocab 300 "
              "--type f32 --seed 5 -o '" +
                  f32 + "'",
              &out, &err) == 0);
  struct Case {
    const char* preset;
    DType ffn_gate;  // the type an ordinary matrix gets
  };
  for (const Case& c : {Case{"q2_k", DType::kQ2_K}, Case{"q3_k_m", DType::kQ3_K}}) {
    INFO("preset " << c.preset);
    const std::string q = dir.file(std::string(c.preset) + ".gguf");
    INFO(err);
    REQUIRE(Apr(dir, "quantize '" + f32 + "' '" + q + "' --type " + c.preset, &out, &err) == 0);
    auto file = aprender::LoadModelFile(q);
    REQUIRE(file.ok());
    const auto* gate = file->FindTensor("blk.0.ffn_gate.weight");
    REQUIRE(gate != nullptr);
    CHECK(gate->type == c.ffn_gate);

    // Greedy tokens from `apr run --json` equal greedy decoding with the library on the same file.
    const int rc = Apr(dir,
                       "run '" + q +
                           "' 'Hello world' --raw --temperature 0 --max-tokens 5 "
                           "--json",
                       &out, &err);
    INFO("stderr: " << err << " stdout: " << out);
    REQUIRE(rc == 0);
    const auto ids_at = out.find("\"ids\"");
    REQUIRE(ids_at != std::string::npos);
    const auto prompt_at = out.find("\"prompt_ids\"");
    REQUIRE(prompt_at != std::string::npos);
    auto parse_ids = [&](size_t at) {
      std::vector<int32_t> ids;
      size_t p = out.find('[', at) + 1;
      const size_t end = out.find(']', p);
      while (p < end) {
        size_t next = out.find_first_of(",]", p);
        const std::string num = out.substr(p, next - p);
        if (num.find_first_not_of(" ") != std::string::npos) ids.push_back(std::stoi(num));
        p = next + 1;
      }
      return ids;
    };
    const std::vector<int32_t> prompt_ids = parse_ids(prompt_at);
    const std::vector<int32_t> cli_ids = parse_ids(ids_at);
    REQUIRE(!prompt_ids.empty());
    REQUIRE(!cli_ids.empty());

    auto model = realizar::Model::FromFile(std::move(*file));
    REQUIRE(model.ok());
    std::vector<float> logits((*model)->n_vocab());
    REQUIRE((*model)->Forward(prompt_ids, 0, 0, logits.data()).ok());
    int pos = static_cast<int>(prompt_ids.size());
    for (int32_t id : cli_ids) {
      REQUIRE(realizar::Argmax(logits) == id);
      const int32_t one[1] = {id};
      REQUIRE((*model)->Forward(one, 0, pos++, logits.data()).ok());
    }
  }
}
