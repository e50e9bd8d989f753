// apr perplexity on frankentiny's held-out text (the last 10% of the characters of
// frankenstein.txt) reproduces the reference figures of models/frankentiny/README.md within 1%:
// transformers, every position of non-overlapping 256-token windows: 17.41; llama.cpp
// llama-perplexity -c 256 (second half of each window): 16.39.
#include <cmath>

#include "apr_runner.h"

using apr_run_test::Apr;
using apr_run_test::ParseJson;

namespace {

double Perplexity(const std::string& score) {
  apr_test::ScratchDir dir;
  const auto assets = apr_test::SharedAssets();
  const std::string cmd = "perplexity '" +
                          (assets / "models/frankentiny/frankentiny-f32.gguf").string() + "' '" +
                          (assets / "datasets/frankenstein.txt").string() +
                          "' --ctx 256 --from-fraction 0.9 --json --score " + score;
  const auto r = Apr(dir, cmd);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = ParseJson(r.out).as_object();
  CHECK(j.at("ctx").as_int64() == 256);
  CHECK(j.at("windows").as_int64() > 10);
  return j.at("perplexity").as_double();
}

}  // namespace

TEST_CASE("perplexity over every position matches transformers' 17.41 within 1%") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  APR_REQUIRE_ASSET("datasets/frankenstein.txt");
  const double ppl = Perplexity("all");
  INFO("perplexity " << ppl);
  CHECK(std::abs(ppl - 17.41) <= 0.01 * 17.41);
}

TEST_CASE("perplexity over second halves matches llama-perplexity's 16.39 within 1%") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  APR_REQUIRE_ASSET("datasets/frankenstein.txt");
  const double ppl = Perplexity("second-half");
  INFO("perplexity " << ppl);
  CHECK(std::abs(ppl - 16.39) <= 0.01 * 16.39);
}

TEST_CASE("perplexity rejects a bad --score and a text shorter than one window") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  apr_test::ScratchDir dir;
  const std::string model =
      (apr_test::SharedAssets() / "models/frankentiny/frankentiny-f32.gguf").string();
  apr_run_test::WriteFile(dir.file("short.txt"), "Too short.");
  auto r = Apr(dir, "perplexity '" + model + "' '" + dir.file("short.txt") + "'");
  CHECK(r.code == 1);
  CHECK(r.err.find("less than one window") != std::string::npos);
  r = Apr(dir, "perplexity '" + model + "' '" + dir.file("short.txt") + "' --score most");
  CHECK(r.code == 1);
}
