// Server metrics in the Prometheus text exposition format.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "realizar/scheduler.h"

namespace realizar::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends `name_bucket{le=...}`, `name_sum` and `name_count` lines.
  void Render(const std::string& name, const std::string& help, std::string* out) const;
  double Sum() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bound (non-cumulative), last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct Metrics {
  Metrics();
  std::atomic<uint64_t> inference_count{0};
  std::atomic<uint64_t> tokens_generated{0};
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<int> requests_in_flight{0};
  Histogram inference_duration;
  Histogram time_to_first_token;

  std::string Render(const SchedulerStats& stats) const;
};

}  // namespace realizar::serve
