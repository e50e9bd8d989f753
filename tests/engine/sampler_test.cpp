// Sampler statistics and filters against values computed here in double.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
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

namespace {

// A Qwen2-sized logit vector: seeded N(0, 1) noise plus 10 strong tokens holding roughly half
// the mass, so a top-p cut falls inside the noise.
std::vector<float> VocabLogits(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> l(151936);
  for (float& v : l) v = noise(rng);
  for (int i = 0; i < 10; ++i) l[static_cast<size_t>(i) * 15193 + 7] = 8.5f + 0.2f * i;
  return l;
}

// Reference top-p support in double: full softmax, full stable sort, smallest prefix with
// mass >= top_p, renormalized. Returns token -> probability.
std::vector<std::pair<int32_t, double>> TopPReference(const std::vector<float>& l, double temp,
                                                      double top_p) {
  const auto prob = SoftmaxD(l, temp);
  std::vector<std::pair<int32_t, double>> c;
  for (size_t i = 0; i < prob.size(); ++i) c.emplace_back(static_cast<int32_t>(i), prob[i]);
  std::stable_sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.second > b.second; });
  double cum = 0.0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i].second;
    if (cum >= top_p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(keep);
  double z = 0.0;
  for (auto& x : c) z += x.second;
  for (auto& x : c) x.second /= z;
  return c;
}

}  // namespace

TEST_CASE("Top-p + temperature on a 151936-token vocabulary matches a full-sort reference",
          "[sampler]") {
  const uint64_t seed = 2024;
  INFO("seed " << seed);
  const auto logits = VocabLogits(seed);
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.seed = seed;
  const auto ref = TopPReference(logits, 0.8, 0.9);
  REQUIRE(ref.size() > 100);  // the cut falls inside the noise

  // The support and probabilities, in order.
  const auto cand = realizar::Sampler::Candidates(logits, p);
  // float top_p vs the reference's double 0.9: the boundary may move by a token or two.
  REQUIRE(std::abs(static_cast<double>(cand.size()) - static_cast<double>(ref.size())) <= 2.0);
  for (size_t i = 0; i < std::min<size_t>(cand.size(), 50); ++i) {
    CHECK(cand[i].first == ref[i].first);
    CHECK(cand[i].second == Approx(ref[i].second).epsilon(1e-6));
  }

  // Chi-square over 11 bins: the 10 strong tokens and "any other token of the support".
  std::vector<double> expect(11, 0.0);
  std::vector<int32_t> strong;
  for (int i = 0; i < 10; ++i) strong.push_back(i * 15193 + 7);
  std::set<int32_t> support;
  for (auto& [id, pr] : ref) {
    support.insert(id);
    auto it = std::find(strong.begin(), strong.end(), id);
    expect[it == strong.end() ? 10 : static_cast<size_t>(it - strong.begin())] += pr;
  }
  REQUIRE(expect[10] > 0.05);  // 7.7% here, spread over the noise tokens
  realizar::Sampler s(p);
  const int n = 1500;
  std::vector<int> counts(11, 0);
  int outside = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t t = s.Sample(logits, {});
    if (!support.count(t)) {
      bool in_cand = false;  // a boundary token the float top_p kept
      for (auto& c : cand) in_cand |= c.first == t;
      if (!in_cand) ++outside;
    }
    auto it = std::find(strong.begin(), strong.end(), t);
    ++counts[it == strong.end() ? 10 : static_cast<size_t>(it - strong.begin())];
  }
  CHECK(outside == 0);
  double chi2 = 0.0;
  for (size_t i = 0; i < expect.size(); ++i) {
    const double e = n * expect[i];
    REQUIRE(e >= 5.0);
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  // 99.9th percentile of chi-square with 10 degrees of freedom is 29.59.
  CHECK(chi2 < 29.59);
}

TEST_CASE("Top-k and min-p on a vocabulary-sized vector keep the reference support", "[sampler]") {
  const auto logits = VocabLogits(99);
  const auto prob = SoftmaxD(logits, 1.0);
  std::vector<int32_t> order(prob.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return prob[a] > prob[b]; });
  realizar::SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 25;
  auto c = realizar::Sampler::Candidates(logits, p);
  REQUIRE(c.size() == 25);
  double z = 0.0;
  for (int i = 0; i < 25; ++i) z += prob[order[i]];
  for (int i = 0; i < 25; ++i) {
    CHECK(c[i].first == order[i]);
    CHECK(c[i].second == Approx(prob[order[i]] / z).epsilon(1e-9));
  }
  p.top_k = 0;
  p.min_p = 0.001f;  // reaches into the noise: p >= 0.001 * p_max
  c = realizar::Sampler::Candidates(logits, p);
  std::set<int32_t> got, want;
  for (auto& [id, pr] : c) got.insert(id);
  const double p_max = prob[order[0]];
  for (size_t i = 0; i < prob.size(); ++i) {
    // Skip tokens within float rounding of the threshold.
    if (std::abs(prob[i] / p_max - 0.001) < 1e-6) continue;
    if (prob[i] >= 0.001 * p_max) want.insert(static_cast<int32_t>(i));
  }
  for (int32_t t : want) CHECK(got.count(t) == 1);
  CHECK(got.size() >= want.size());
  CHECK(got.size() <= want.size() + 2);
}
