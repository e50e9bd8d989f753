// apr check (10-stage self-test), apr run --trace, and build provenance (git sha in .apr files).
// Models are synthesized with `apr synth`; corrupted variants are written with the library so
// the stage expected to fail is known independently of `apr check`.
#include <sys/wait.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

RunResult Apr(const apr_test::ScratchDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout.txt");
  const std::string err = dir.file("stderr.txt");
  const std::string cmd =
      std::string("'") + APR_CLI_PATH + "' " + args + " </dev/null >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

boost::json::value ParseJson(const std::string& s) {
  boost::json::error_code ec;
  auto v = boost::json::parse(s, ec);
  INFO("json: " << s);
  REQUIRE_FALSE(ec);
  return v;
}

std::string SynthGguf(const apr_test::ScratchDir& dir, const std::string& name,
                      const std::string& type = "f32") {
  const std::string path = dir.file(name);
  auto r = Apr(dir, "synth --preset tiny-qwen2 --type " + type + " --seed 5 -o '" + path + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  return path;
}

// Runs `apr check --json` and returns stage status by stage name, plus the exit code.
struct CheckReport {
  int code = -1;
  std::vector<std::string> names;
  std::vector<std::string> status;
  std::string Status(const std::string& name) const {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return status[i];
    }
    return "missing";
  }
};

CheckReport Check(const apr_test::ScratchDir& dir, const std::string& path) {
  auto r = Apr(dir, "check --json '" + path + "'");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CheckReport rep;
  rep.code = r.code;
  const auto j = ParseJson(r.out).as_object();
  for (const auto& s : j.at("stages").as_array()) {
    rep.names.emplace_back(s.at("name").as_string().c_str());
    rep.status.emplace_back(s.at("status").as_string().c_str());
    INFO(s.at("name").as_string().c_str() << ": " << s.at("detail").as_string().c_str());
    CHECK(s.at("detail").as_string().size() > 0);
  }
  REQUIRE(rep.names.size() == 10);
  return rep;
}

const std::vector<std::string> kStageNames = {
    "open",      "header+metadata", "tensor index", "checksums/data", "config",
    "tokenizer", "chat template",   "model graph",  "forward pass",   "generation"};

// Loads `src`, lets `edit` change it, writes it as GGUF to `dst`.
template <typename Edit>
void RewriteGguf(const std::string& src, const std::string& dst, Edit edit) {
  auto m = aprender::LoadModelFile(src);
  REQUIRE(m.ok());
  edit(*m);
  REQUIRE(aprender::WriteGguf(*m, dst).ok());
}

}  // namespace

TEST_CASE("apr check passes all 10 stages on a synthesized model (gguf and apr)") {
  apr_test::ScratchDir dir;
  for (const std::string type : {"f32", "q8_0"}) {
    const std::string gguf = SynthGguf(dir, "m-" + type + ".gguf", type);
    const std::string apr = dir.file("m-" + type + ".apr");
    auto conv = Apr(dir, "convert '" + gguf + "' '" + apr + "'");
    INFO(conv.err);
    REQUIRE(conv.code == 0);
    for (const std::string& path : {gguf, apr}) {
      INFO(path);
      const CheckReport rep = Check(dir, path);
      CHECK(rep.names == kStageNames);
      for (size_t i = 0; i < rep.names.size(); ++i) {
        INFO(rep.names[i]);
        CHECK(rep.status[i] == "PASS");
      }
      CHECK(rep.code == 0);
    }
  }
  // The text form: one line per stage, then the total.
  auto r = Apr(dir, "check '" + dir.file("m-f32.gguf") + "'");
  CHECK(r.code == 0);
  CHECK(r.out.find("10/10 stages passed") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 11);
}

TEST_CASE("apr check fails at stage 1 on a file of no known format, skipping the rest") {
  apr_test::ScratchDir dir;
  const std::string path = dir.file("noise.bin");
  Spit(path, std::string(4096, '\x5a'));
  const CheckReport rep = Check(dir, path);
  CHECK(rep.code == 1);
  CHECK(rep.Status("open") == "FAIL");
  for (size_t i = 1; i < kStageNames.size(); ++i) CHECK(rep.status[i] == "SKIP");
  // Text mode: exit 1 and a one-line error naming the stage.
  auto r = Apr(dir, "check '" + path + "'");
  CHECK(r.code == 1);
  CHECK(r.err.find("stage 1 (open)") != std::string::npos);
}

TEST_CASE("apr check fails at stage 2 on a truncated gguf") {
  apr_test::ScratchDir dir;
  const std::string src = SynthGguf(dir, "m.gguf");
  const std::string bytes = Slurp(src);
  const std::string path = dir.file("truncated.gguf");
  Spit(path, bytes.substr(0, bytes.size() / 2));
  const CheckReport rep = Check(dir, path);
  CHECK(rep.code == 1);
  CHECK(rep.Status("open") == "PASS");
  CHECK(rep.Status("header+metadata") == "FAIL");
  CHECK(rep.Status("generation") == "SKIP");
}

TEST_CASE("apr check fails at stage 4 on a NaN weight and on a tampered .apr") {
  apr_test::ScratchDir dir;
  const std::string src = SynthGguf(dir, "m.gguf");
  SECTION("NaN in an f32 tensor") {
    const std::string path = dir.file("nan.gguf");
    auto owned = std::make_shared<std::vector<uint8_t>>();
    RewriteGguf(src, path, [&](aprender::ModelFile& m) {
      aprender::Tensor* t = nullptr;
      for (auto& x : m.tensors) {
        if (x.name == "blk.0.attn_q.weight") t = &x;
      }
      REQUIRE(t != nullptr);
      REQUIRE(t->type == trueno::DType::kF32);
      owned->assign(t->data.begin(), t->data.end());
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(owned->data() + 4 * 7, &nan, 4);
      t->data = std::span<const uint8_t>(owned->data(), owned->size());
    });
    const CheckReport rep = Check(dir, path);
    CHECK(rep.code == 1);
    CHECK(rep.Status("tensor index") == "PASS");
    CHECK(rep.Status("checksums/data") == "FAIL");
  }
  SECTION("a flipped byte in an .apr tensor") {
    const std::string apr = dir.file("m.apr");
    REQUIRE(Apr(dir, "convert '" + src + "' '" + apr + "'").code == 0);
    std::string bytes = Slurp(apr);
    // The largest tensor (token embedding, 64-byte aligned data) lies in the second half of the
    // file; flip one byte of its middle, far from the header, index and trailer.
    const size_t at = bytes.size() / 2;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
    const std::string path = dir.file("tampered.apr");
    Spit(path, bytes);
    const CheckReport rep = Check(dir, path);
    CHECK(rep.code == 1);
    // The reader may already refuse the file (stage 2); either way a checksum stage fails
    // before anything is run.
    const bool caught =
        rep.Status("header+metadata") == "FAIL" || rep.Status("checksums/data") == "FAIL";
    CHECK(caught);
    CHECK(rep.Status("forward pass") == "SKIP");
  }
}

TEST_CASE("apr check fails at stage 5 on an unknown architecture, still testing the tokenizer") {
  apr_test::ScratchDir dir;
  const std::string src = SynthGguf(dir, "m.gguf");
  const std::string path = dir.file("arch.gguf");
  RewriteGguf(src, path, [](aprender::ModelFile& m) {
    m.metadata.Set("general.architecture", aprender::MetaValue::String("mamba"));
  });
  const CheckReport rep = Check(dir, path);
  CHECK(rep.code == 1);
  CHECK(rep.Status("tensor index") == "PASS");
  CHECK(rep.Status("config") == "FAIL");
  CHECK(rep.Status("tokenizer") == "PASS");
  CHECK(rep.Status("model graph") == "SKIP");
  CHECK(rep.Status("forward pass") == "SKIP");
  CHECK(rep.Status("generation") == "SKIP");
}

TEST_CASE("apr check fails at stage 6 without a vocabulary, skipping template and forward") {
  apr_test::ScratchDir dir;
  const std::string src = SynthGguf(dir, "m.gguf");
  const std::string path = dir.file("notok.gguf");
  RewriteGguf(src, path,
              [](aprender::ModelFile& m) { REQUIRE(m.metadata.Erase("tokenizer.ggml.tokens")); });
  const CheckReport rep = Check(dir, path);
  CHECK(rep.code == 1);
  CHECK(rep.Status("config") == "PASS");
  CHECK(rep.Status("tokenizer") == "FAIL");
  CHECK(rep.Status("chat template") == "SKIP");
  CHECK(rep.Status("model graph") == "PASS");
  CHECK(rep.Status("forward pass") == "SKIP");
}

TEST_CASE("apr run --trace writes valid JSON with the load/tokenize/prefill/decode stages") {
  apr_test::ScratchDir dir;
  const std::string model = SynthGguf(dir, "m.gguf");
  const std::string trace = dir.file("trace.json");
  auto r = Apr(dir, "run '" + model + "' 'hello world' --raw -n 5 --temp 0 --seed 1 --trace '" +
                        trace + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto doc = ParseJson(Slurp(trace)).as_object();
  CHECK(doc.at("command").as_string() == "run");
  const auto& stages = doc.at("stages").as_array();
  std::vector<std::string> names;
  double sum_ms = 0;
  for (const auto& s : stages) {
    names.emplace_back(s.at("name").as_string().c_str());
    const double ms = s.at("ms").to_number<double>();
    CHECK(ms >= 0);
    sum_ms += ms;
  }
  CHECK(names == std::vector<std::string>{"load", "tokenize", "prefill", "decode", "detokenize"});
  CHECK(doc.at("total_ms").to_number<double>() >= sum_ms * 0.999);
  // Decode: one timing per single-token step; 5 tokens at most, the first comes from prefill.
  const auto& decode = stages[3].as_object();
  const auto steps = decode.at("steps").to_number<int64_t>();
  CHECK(decode.at("step_ms").as_array().size() == static_cast<size_t>(steps));
  CHECK(decode.at("tokens").to_number<int64_t>() <= 5);
  CHECK(stages[1].at("tokens").to_number<int64_t>() > 0);
  // An unwritable trace path is a one-line error.
  r = Apr(dir,
          "run '" + model + "' hi --raw -n 1 --trace '" + dir.file("no/such/dir/t.json") + "'");
  CHECK(r.code == 1);
  CHECK(r.err.find("--trace") != std::string::npos);
}

TEST_CASE("a converted .apr records the source tree's git commit as provenance") {
  FILE* p = popen("git -C '" APR_SOURCE_DIR "' rev-parse --verify HEAD 2>/dev/null", "r");
  REQUIRE(p != nullptr);
  char buf[128] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, p);
  const int rc = pclose(p);
  std::string head(buf, n);
  while (!head.empty() && (head.back() == '\n' || head.back() == '\r')) head.pop_back();
  if (rc != 0 || head.size() < 40) {
    WARN("the source tree is not a git checkout: provenance test skipped");
    return;
  }
  apr_test::ScratchDir dir;
  const std::string gguf = SynthGguf(dir, "m.gguf");
  const std::string apr = dir.file("m.apr");
  REQUIRE(Apr(dir, "convert '" + gguf + "' '" + apr + "'").code == 0);
  // The metadata JSON is stored uncompressed in the file: look for the exact field.
  const std::string bytes = Slurp(apr);
  INFO("HEAD " << head);
  CHECK(bytes.find("\"git_sha\":\"" + head + "\"") != std::string::npos);
  // apr verify reports the same commit.
  auto r = Apr(dir, "verify '" + apr + "'");
  CHECK(r.out.find("git: " + head) != std::string::npos);
}
