#include "realizar/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace realizar {

int32_t Argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::ApplyPenalties(std::span<float> logits, std::span<const int32_t> history,
                             const SamplerParams& p) {
  if (p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f) {
    return;
  }
  size_t begin = 0;
  if (p.penalty_last_n >= 0 && history.size() > static_cast<size_t>(p.penalty_last_n)) {
    begin = history.size() - static_cast<size_t>(p.penalty_last_n);
  }
  std::unordered_map<int32_t, int> counts;
  for (size_t i = begin; i < history.size(); ++i) {
    if (history[i] >= 0 && static_cast<size_t>(history[i]) < logits.size()) ++counts[history[i]];
  }
  for (const auto& [tok, count] : counts) {
    float& l = logits[static_cast<size_t>(tok)];
    if (p.repetition_penalty != 1.0f) {
      l = l > 0.0f ? l / p.repetition_penalty : l * p.repetition_penalty;
    }
    l -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
  }
}

std::vector<std::pair<int32_t, double>> Sampler::Candidates(std::span<const float> logits,
                                                            const SamplerParams& p) {
  std::vector<std::pair<int32_t, double>> cand;
  if (logits.empty()) return cand;
  const double temp = p.temperature > 0.0f ? p.temperature : 1.0;
  const float mx = *std::max_element(logits.begin(), logits.end());
  cand.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    cand.emplace_back(static_cast<int32_t>(i),
                      std::exp((static_cast<double>(logits[i]) - mx) / temp));
  }
  auto normalize = [&] {
    double sum = 0.0;
    for (const auto& c : cand) sum += c.second;
    for (auto& c : cand) c.second /= sum;
  };
  normalize();
  std::stable_sort(cand.begin(), cand.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < cand.size()) {
    cand.resize(static_cast<size_t>(p.top_k));
    normalize();
  }
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    size_t keep = cand.size();
    for (size_t i = 0; i < cand.size(); ++i) {
      cum += cand[i].second;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    cand.resize(std::max<size_t>(1, keep));
    normalize();
  }
  if (p.min_p > 0.0f) {
    const double threshold = p.min_p * cand.front().second;
    size_t keep = 1;
    while (keep < cand.size() && cand[keep].second >= threshold) ++keep;
    cand.resize(keep);
    normalize();
  }
  return cand;
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  std::vector<float> l(logits.begin(), logits.end());
  ApplyPenalties(l, history, params_);
  if (params_.temperature <= 0.0f) return Argmax(l);
  const auto cand = Candidates(l, params_);
  const double u = Uniform();
  double cum = 0.0;
  for (const auto& c : cand) {
    cum += c.second;
    if (u < cum) return c.first;
  }
  return cand.back().first;  // u within rounding of 1
}

}  // namespace realizar
