// Sampler statistics and filters against values computed here in double.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "realizar/sampler.h"

namespace {

const std::vector<float> kLogits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f, 0.25f, -2.0f};

std::vector<double> SoftmaxD(const std::vector<float>& l, double temp) {
  std::vector<double> p(l.size());
  double mx = *std::max_element(l.begin(), l.end()), sum = 0.0;
  for (size_t i = 0; i < l.size(); ++i) sum += (p[i] = std::exp((l[i] - mx) / temp));
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace

TEST_CASE("Temperature sampling follows softmax(logits / T) (chi-square, 7 dof)", "[sampler]") {
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  p.seed = 1234;
  INFO("seed " << p.seed);
  realizar::Sampler s(p);
  const int n = 40000;
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[s.Sample(kLogits, {})];
  const auto prob = SoftmaxD(kLogits, 0.8);
  double chi2 = 0.0;
  for (size_t i = 0; i < prob.size(); ++i) {
    const double e = n * prob[i];
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  // 99.9th percentile of chi-square with 7 degrees of freedom is 24.32.
  CHECK(chi2 < 24.32);
}

TEST_CASE("Temperature 0 is argmax and ignores the seed", "[sampler]") {
  realizar::SamplerParams p;
  p.temperature = 0.0f;
  for (uint64_t seed : {1u, 2u, 3u}) {
    p.seed = seed;
    realizar::Sampler s(p);
    CHECK(s.Sample(kLogits, {}) == 5);
  }
  CHECK(realizar::Argmax(std::vector<float>{1, 3, 3, 2}) == 1);
}

TEST_CASE("Top-k, top-p and min-p keep exactly the expected support", "[sampler]") {
  realizar::SamplerParams p;
  p.temperature = 1.0f;
  const auto prob = SoftmaxD(kLogits, 1.0);
  // Order by probability: 5 (2.0), 0 (1.0), 1 (0.5), 6 (0.25), 2, 3, 4, 7.
  p.top_k = 3;
  auto c = realizar::Sampler::Candidates(kLogits, p);
  REQUIRE(c.size() == 3);
  CHECK(c[0].first == 5);
  CHECK(c[1].first == 0);
  CHECK(c[2].first == 1);
  const double z = prob[5] + prob[0] + prob[1];
  CHECK(c[0].second == Approx(prob[5] / z).epsilon(1e-12));

  p.top_k = 0;
  p.top_p = static_cast<float>(prob[5] + prob[0] + 1e-3);  // needs the third token too
  c = realizar::Sampler::Candidates(kLogits, p);
  CHECK(c.size() == 3);
  p.top_p = static_cast<float>(prob[5] + prob[0] - 1e-3);
  c = realizar::Sampler::Candidates(kLogits, p);
  CHECK(c.size() == 2);

  p.top_p = 1.0f;
  p.min_p = static_cast<float>(prob[6] / prob[5] - 1e-4);  // keeps tokens 5, 0, 1, 6
  c = realizar::Sampler::Candidates(kLogits, p);
  std::set<int32_t> ids;
  for (auto& [id, pr] : c) ids.insert(id);
  CHECK(ids == std::set<int32_t>{5, 0, 1, 6});

  // Samples never leave the support.
  p.min_p = 0.0f;
  p.top_k = 2;
  p.seed = 9;
  realizar::Sampler s(p);
  for (int i = 0; i < 2000; ++i) {
    const int32_t t = s.Sample(kLogits, {});
    REQUIRE((t == 5 || t == 0));
  }
}

TEST_CASE("The same seed gives the same sequence, another seed a different one", "[sampler]") {
  realizar::SamplerParams p;
  p.temperature = 1.5f;
  p.seed = 42;
  realizar::Sampler a(p), b(p);
  p.seed = 43;
  realizar::Sampler c(p);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.Sample(kLogits, {}));
    sb.push_back(b.Sample(kLogits, {}));
    sc.push_back(c.Sample(kLogits, {}));
  }
  CHECK(sa == sb);
  CHECK(sa != sc);
}

TEST_CASE("Penalties change exactly the seen tokens by the documented amounts", "[sampler]") {
  realizar::SamplerParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.25f;
  p.presence_penalty = 0.5f;
  p.penalty_last_n = 4;
  std::vector<float> l = kLogits;
  // Token 7 is outside the last-4 window; token 0 appears twice, token 4 once.
  const std::vector<int32_t> history = {7, 0, 4, 0, 2};
  realizar::Sampler::ApplyPenalties(l, history, p);
  CHECK(l[0] == Approx(1.0 / 2.0 - 2 * 0.25 - 0.5));   // positive: divided
  CHECK(l[4] == Approx(-1.0 * 2.0 - 1 * 0.25 - 0.5));  // negative: multiplied
  CHECK(l[2] == Approx(0.0 * 2.0 - 0.25 - 0.5));
  CHECK(l[7] == kLogits[7]);
  for (int i : {1, 3, 5, 6}) CHECK(l[i] == kLogits[i]);
}
