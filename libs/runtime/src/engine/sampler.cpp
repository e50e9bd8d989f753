#include "realizar/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "trueno/kernels.h"

namespace realizar {

int32_t Argmax(std::span<const float> logits) {
  return trueno::ArgMax(logits.data(), static_cast<int>(logits.size()));
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

namespace {

using Cand = std::pair<int32_t, double>;

// Most likely first; equal values in index order (the order a stable sort by value gives).
bool Before(const Cand& a, const Cand& b) {
  return a.second != b.second ? a.second > b.second : a.first < b.first;
}

// Weights are exp((logit - max) / T) <= 1. A token whose weight is below e^-bound cannot
// matter: even all n of them together hold less than n * e^-bound of the mass, and bound =
// ln(n) + 21 makes that < 1e-9 of the best token's weight, below the float rounding of the
// logits themselves. min-p cuts tighter: weight < min_p (slightly relaxed here; the exact test
// is applied at the end).
double CutBound(size_t n, const SamplerParams& p) {
  double bound = std::log(static_cast<double>(std::max<size_t>(n, 2))) + 21.0;
  if (p.min_p > 0.0f && p.min_p <= 1.0f) bound = std::min(bound, -std::log(p.min_p) + 1e-3);
  return bound;
}

}  // namespace

// The filtering pipeline with as little work as the filters allow: one pass finds the max,
// one pass keeps the tokens above the cut (no exp), top-k selects with nth_element on the
// logits, exp runs only for the survivors, top-p orders only the head of the distribution
// (growing it until the mass is reached). The weights in `cand` are left unnormalized; the
// function returns their sum. When `ordered`, cand ends most likely first; otherwise its order
// is deterministic but unspecified.
double Sampler::Filter(std::span<const float> logits, const SamplerParams& p, bool ordered,
                       std::vector<std::pair<int32_t, double>>& cand) {
  cand.clear();
  if (logits.empty()) return 0.0;
  const double temp = p.temperature > 0.0f ? p.temperature : 1.0;
  float mx_f = logits[0];
  for (float v : logits) mx_f = v > mx_f ? v : mx_f;
  const double mx = mx_f;
  const float threshold = static_cast<float>(mx - temp * CutBound(logits.size(), p));
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= threshold) cand.emplace_back(static_cast<int32_t>(i), logits[i]);
  }
  if (cand.empty()) {  // NaN max or every logit -inf: the first maximal token
    cand.emplace_back(Argmax(logits), 1.0);
    return 1.0;
  }
  bool is_ordered = false;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < cand.size()) {
    // Logit order is weight order (exp is monotonic), ties by index in both.
    std::nth_element(cand.begin(), cand.begin() + p.top_k, cand.end(), Before);
    cand.resize(static_cast<size_t>(p.top_k));
  }
  double sum = 0.0;
  for (auto& c : cand) sum += (c.second = std::exp((c.second - mx) / temp));
  if (p.top_p < 1.0f) {
    // Order the head in growing pieces until its cumulative mass reaches top_p.
    const double target = static_cast<double>(p.top_p) * sum;
    size_t done = 0, keep = cand.size(), piece = 64;
    double cum = 0.0;
    while (done < cand.size()) {
      const size_t end = std::min(cand.size(), done + piece);
      if (end < cand.size()) {
        std::nth_element(cand.begin() + done, cand.begin() + end, cand.end(), Before);
      }
      std::sort(cand.begin() + done, cand.begin() + end, Before);
      size_t i = done;
      for (; i < end; ++i) {
        cum += cand[i].second;
        if (cum >= target) break;
      }
      if (i < end) {
        keep = i + 1;
        break;
      }
      done = end;
      piece *= 8;
    }
    cand.resize(std::max<size_t>(1, keep));
    is_ordered = true;
    sum = 0.0;
    for (const auto& c : cand) sum += c.second;
  }
  if (p.min_p > 0.0f) {
    // The best token always survives top-k and top-p, and has weight exp(0) = 1.
    double best = 0.0;
    for (const auto& c : cand) best = std::max(best, c.second);
    const double cut = static_cast<double>(p.min_p) * best;
    cand.erase(
        std::remove_if(cand.begin(), cand.end(), [&](const Cand& c) { return c.second < cut; }),
        cand.end());
    sum = 0.0;
    for (const auto& c : cand) sum += c.second;
  }
  if (ordered && !is_ordered) std::sort(cand.begin(), cand.end(), Before);
  return sum;
}

std::vector<std::pair<int32_t, double>> Sampler::Candidates(std::span<const float> logits,
                                                            const SamplerParams& p) {
  std::vector<std::pair<int32_t, double>> cand;
  const double sum = Filter(logits, p, /*ordered=*/true, cand);
  for (auto& c : cand) c.second /= sum;
  return cand;
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  std::span<const float> l = logits;
  const bool penalize = params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                        params_.frequency_penalty != 0.0f;
  if (penalize && !history.empty()) {
    penalized_.assign(logits.begin(), logits.end());
    ApplyPenalties(penalized_, history, params_);
    l = penalized_;
  }
  if (params_.temperature <= 0.0f) return Argmax(l);
  const double sum = Filter(l, params_, /*ordered=*/false, cand_);
  const double u = Uniform() * sum;
  double cum = 0.0;
  for (const auto& c : cand_) {
    cum += c.second;
    if (u < cum) return c.first;
  }
  return cand_.back().first;  // u within rounding of the sum
}

}  // namespace realizar
