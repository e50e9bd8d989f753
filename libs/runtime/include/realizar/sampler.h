// Token sampling: penalties, then greedy (temperature 0) or temperature sampling restricted by
// top-k, top-p and min-p. Deterministic for a given seed (std::mt19937_64, own uniform mapping).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace realizar {

struct SamplerParams {
  float temperature = 1.0f;         // 0 (or below) = greedy argmax
  int top_k = 0;                    // keep the k most likely tokens; 0 = off
  float top_p = 1.0f;               // keep the smallest set with probability mass >= top_p; 1 = off
  float min_p = 0.0f;               // keep tokens with p >= min_p * p_max; 0 = off
  float repetition_penalty = 1.0f;  // seen token: logit / rp if logit > 0, else logit * rp
  float presence_penalty = 0.0f;    // seen token: logit -= presence_penalty
  float frequency_penalty = 0.0f;   // logit -= frequency_penalty * count
  int penalty_last_n = 64;          // penalties look at this many recent tokens; -1 = all
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Applies the repetition / presence / frequency penalties for `history` to `logits` in place.
  static void ApplyPenalties(std::span<float> logits, std::span<const int32_t> history,
                             const SamplerParams& params);

  // The tokens temperature sampling may choose from logits (penalties already applied) and
  // their probabilities, most likely first, after the filters in this order: softmax(logits /
  // temperature) -> top-k -> top-p -> min-p, renormalized after each.
  static std::vector<std::pair<int32_t, double>> Candidates(std::span<const float> logits,
                                                            const SamplerParams& params);

  // Applies penalties to a copy of `logits` and picks a token: argmax when temperature <= 0,
  // otherwise a draw from the distribution Candidates describes. Tokens whose probability is
  // below ~1e-9 of the best token's (n * e^-(ln n + 21)) are never drawn; the draw walks the
  // candidates in an unspecified but seed-deterministic order.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplerParams& params() const { return params_; }

 private:
  double Uniform();  // [0, 1) from 53 random bits
  static double Filter(std::span<const float> logits, const SamplerParams& params, bool ordered,
                       std::vector<std::pair<int32_t, double>>& cand);

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> penalized_;                  // scratch: logits with penalties
  std::vector<std::pair<int32_t, double>> cand_;  // scratch: candidates
};

// Index of the largest logit (the lowest index among ties; NaN logits are ignored).
int32_t Argmax(std::span<const float> logits);

}  // namespace realizar
