// End-to-end tests of the `apr` executable: each test runs the built binary in a scratch
// directory and checks exit codes, outputs, and the files it writes (read back with the library).
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "aprender/gguf.h"
#include "aprender/model_file.h"
#include "test_assets.h"

namespace {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `apr <args>` with stdout/stderr captured in files of the scratch dir.
RunResult Apr(const apr_test::ScratchDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout.txt");
  const std::string err = dir.file("stderr.txt");
  const std::string cmd =
      std::string("'") + APR_CLI_PATH + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

// A failure must be exit code 1 with exactly one line "apr: error: ..." on stderr.
void CheckOneLineError(const RunResult& r) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.rfind("apr: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

boost::json::value ParseJson(const std::string& s) {
  boost::json::error_code ec;
  auto v = boost::json::parse(s, ec);
  INFO("json: " << s);
  REQUIRE_FALSE(ec);
  return v;
}

std::vector<float> F32Values(const aprender::Tensor& t) {
  std::vector<float> v(t.elements());
  std::memcpy(v.data(), t.data.data(), v.size() * 4);
  return v;
}

}  // namespace

TEST_CASE("synth then info --json reports the synthesized hyperparameters") {
  apr_test::ScratchDir dir;
  auto r = Apr(dir, "synth --preset tiny-qwen2 --type f32 --seed 3 -o " + dir.file("m.gguf"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = Apr(dir, "info --json " + dir.file("m.gguf"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = ParseJson(r.out).as_object();
  CHECK(j.at("format").as_string() == "gguf");
  CHECK(j.at("architecture").as_string() == "qwen2");
  REQUIRE(j.contains("config"));
  const auto& c = j.at("config").as_object();
  CHECK(c.at("n_layers").to_number<int64_t>() == 2);
  CHECK(c.at("n_embd").to_number<int64_t>() == 64);
  CHECK(c.at("n_head").to_number<int64_t>() == 4);
  CHECK(c.at("n_head_kv").to_number<int64_t>() == 2);
  CHECK(c.at("n_ff").to_number<int64_t>() == 128);
  CHECK(c.at("n_vocab").to_number<int64_t>() == 300);
  CHECK(c.at("tied_embeddings").as_bool());
  CHECK(c.at("qkv_bias").as_bool());
  // Hand count for tiny-qwen2 (tied): embedding 300*64; per layer 2 norms (64 each),
  // q 64*64, k and v 64*32, biases 64+32+32, o 64*64, gate/up/down 3*64*128; output norm 64.
  const int64_t per_layer =
      2 * 64 + 64 * 64 + 2 * 64 * 32 + (64 + 32 + 32) + 64 * 64 + 3 * 64 * 128;
  CHECK(j.at("parameter_count").to_number<int64_t>() == 300 * 64 + 2 * per_layer + 64);
  CHECK(j.at("tensor_count").to_number<int64_t>() == 1 + 2 * 12 + 1);
  CHECK(j.at("tokenizer").as_object().at("tokens").to_number<int64_t>() == 300);

  // The human-readable form and inspect also work on it.
  CHECK(Apr(dir, "info " + dir.file("m.gguf")).code == 0);
  r = Apr(dir, "inspect --json --filter attn_k " + dir.file("m.gguf"));
  REQUIRE(r.code == 0);
  const auto t = ParseJson(r.out).as_object().at("tensors").as_array();
  REQUIRE(t.size() == 4);  // attn_k.weight and attn_k.bias in 2 layers
  CHECK(t[0].as_object().at("name").as_string() == "blk.0.attn_k.weight");
  CHECK(t[0].as_object().at("shape").as_array()[1].to_number<int64_t>() == 32);
}

TEST_CASE("synth is deterministic: same seed same bytes, other seed other bytes") {
  apr_test::ScratchDir dir;
  for (const char* name : {"a.gguf", "b.gguf"}) {
    REQUIRE(Apr(dir, "synth --preset tiny-llama --type f16 --seed 42 -o " + dir.file(name)).code ==
            0);
  }
  REQUIRE(
      Apr(dir, "synth --preset tiny-llama --type f16 --seed 43 -o " + dir.file("c.gguf")).code ==
      0);
  const std::string a = Slurp(dir.file("a.gguf"));
  CHECK(a.size() > 10000);
  CHECK(a == Slurp(dir.file("b.gguf")));
  CHECK(a != Slurp(dir.file("c.gguf")));
}

TEST_CASE("GGUF -> .apr (zstd) -> GGUF keeps every tensor byte") {
  apr_test::ScratchDir dir;
  REQUIRE(Apr(dir, "synth --preset tiny-qwen2 --type f16 --seed 5 -o " + dir.file("m.gguf")).code ==
          0);
  auto r =
      Apr(dir, "convert " + dir.file("m.gguf") + " " + dir.file("m.apr") + " --compression zstd");
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = Apr(dir, "convert " + dir.file("m.apr") + " " + dir.file("back.gguf"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto a = aprender::ReadGguf(dir.file("m.gguf"));
  auto b = aprender::ReadGguf(dir.file("back.gguf"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->tensors.size() == b->tensors.size());
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    const auto& x = a->tensors[i];
    const auto* y = b->FindTensor(x.name);
    INFO(x.name);
    REQUIRE(y != nullptr);
    CHECK(x.type == y->type);
    CHECK(x.dims == y->dims);
    REQUIRE(x.data.size() == y->data.size());
    CHECK(std::memcmp(x.data.data(), y->data.data(), x.data.size()) == 0);
  }
  CHECK(*b->metadata.GetString("general.architecture") == "qwen2");
}

TEST_CASE("quantize q8_0 then diff reports errors within the Q8_0 bound") {
  apr_test::ScratchDir dir;
  REQUIRE(
      Apr(dir, "synth --preset tiny-llama --type f32 --seed 11 -o " + dir.file("f32.gguf")).code ==
      0);
  auto r =
      Apr(dir, "quantize " + dir.file("f32.gguf") + " " + dir.file("q8.gguf") + " --type q8_0");
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = Apr(dir, "diff --json " + dir.file("f32.gguf") + " " + dir.file("q8.gguf"));
  INFO(r.err);
  REQUIRE((r.code == 0 || r.code == 1));
  const auto j = ParseJson(r.out).as_object();
  auto orig = aprender::ReadGguf(dir.file("f32.gguf"));
  REQUIRE(orig.ok());
  size_t quantized = 0;
  for (const auto& row : j.at("tensors").as_array()) {
    const auto& o = row.as_object();
    const std::string name(o.at("name").as_string());
    INFO(name);
    const auto* t = orig->FindTensor(name);
    REQUIRE(t != nullptr);
    const auto v = F32Values(*t);
    // Independent bound: Q8_0 stores d = max|x|/127 per block of 32 and rounds x/d to an
    // integer, so every element is within d/2 (plus fp16 rounding of d); d bounds it safely.
    double bound = 0;
    for (size_t b = 0; b + 32 <= v.size(); b += 32) {
      double amax = 0;
      for (size_t k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(double(v[b + k])));
      bound = std::max(bound, amax / 127.0);
    }
    const double diff = o.at("max_abs_diff").as_double();
    CHECK(diff <= bound);
    if (o.at("type_b").as_string() == "q8_0") {
      ++quantized;
      CHECK(diff > 0.0);
    }
  }
  CHECK(quantized == 1 + 2 * 7 + 1);  // embedding, 7 matrices per layer, output
}

TEST_CASE("verify accepts a fresh .apr and detects a flipped byte") {
  apr_test::ScratchDir dir;
  REQUIRE(Apr(dir, "synth --preset tiny-llama --type f32 --seed 2 -o " + dir.file("m.apr")).code ==
          0);
  auto r = Apr(dir, "verify " + dir.file("m.apr"));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  std::string bytes = Slurp(dir.file("m.apr"));
  REQUIRE(bytes.size() > 1000);
  bytes[bytes.size() / 2] ^= 0x10;  // middle of the tensor data
  std::ofstream(dir.file("bad.apr"), std::ios::binary) << bytes;
  r = Apr(dir, "verify " + dir.file("bad.apr"));
  INFO(r.out << r.err);
  CHECK(r.code != 0);
  CHECK(r.out.find("FAIL") != std::string::npos);
  // GGUF: structural validation.
  REQUIRE(Apr(dir, "convert " + dir.file("m.apr") + " " + dir.file("m.gguf")).code == 0);
  CHECK(Apr(dir, "verify " + dir.file("m.gguf")).code == 0);
}

TEST_CASE("keygen, sign and verify: the right key passes, a wrong key fails") {
  apr_test::ScratchDir dir;
  REQUIRE(Apr(dir, "synth --preset tiny-llama --type f16 -o " + dir.file("m.apr")).code == 0);
  auto r = Apr(dir, "keygen --out " + dir.file("k"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  struct stat st {};
  REQUIRE(::stat(dir.file("k.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(Slurp(dir.file("k.pub")).find("PUBLIC KEY") != std::string::npos);
  REQUIRE(Apr(dir, "keygen --out " + dir.file("other")).code == 0);
  r = Apr(dir, "sign " + dir.file("m.apr") + " --key " + dir.file("k.key"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = Apr(dir, "verify " + dir.file("m.apr") + " --public-key " + dir.file("k.pub"));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  r = Apr(dir, "verify " + dir.file("m.apr") + " --public-key " + dir.file("other.pub"));
  INFO(r.out << r.err);
  CHECK(r.code != 0);
}

TEST_CASE("Bad inputs give exit code 1 and a one-line error, never a crash") {
  apr_test::ScratchDir dir;
  std::ofstream(dir.file("garbage.gguf"), std::ios::binary)
      << std::string("GGUF\x03\x00\x00\x00garbage", 15);
  std::ofstream(dir.file("noise.bin"), std::ios::binary) << std::string(4096, '\x7f');
  REQUIRE(Apr(dir, "synth --preset tiny-llama --type f32 -o " + dir.file("m.gguf")).code == 0);
  CheckOneLineError(Apr(dir, "info " + dir.file("missing.gguf")));
  CheckOneLineError(Apr(dir, "info " + dir.file("garbage.gguf")));
  CheckOneLineError(Apr(dir, "inspect " + dir.file("noise.bin")));
  CheckOneLineError(Apr(dir, "verify " + dir.file("garbage.gguf")));
  CheckOneLineError(Apr(dir, "convert " + dir.file("missing.gguf") + " " + dir.file("x.apr")));
  CheckOneLineError(
      Apr(dir, "quantize " + dir.file("m.gguf") + " " + dir.file("x.gguf") + " --type q3_bogus"));
  CheckOneLineError(Apr(dir, "synth --preset no-such-model -o " + dir.file("x.gguf")));
  CheckOneLineError(Apr(dir, "synth --preset tiny-llama --type q9 -o " + dir.file("x.gguf")));
  CheckOneLineError(
      Apr(dir, "synth --arch llama --hidden 64 --layers 1 --heads 3 --ffn 8 --vocab 300 -o " +
                   dir.file("x.gguf")));
  CheckOneLineError(Apr(dir, "frobnicate"));
  CheckOneLineError(Apr(dir, "info"));
  CheckOneLineError(Apr(dir, "sign " + dir.file("m.gguf") + " --key " + dir.file("missing.key")));
  // Help is not an error.
  CHECK(Apr(dir, "synth --help").code == 0);
}
