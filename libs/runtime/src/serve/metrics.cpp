#include "serve/metrics.h"

#include <algorithm>

#include "trueno/str_cat.h"

namespace realizar::serve {

using trueno::Concat;

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                       bounds_.begin());
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  *out += Concat("# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += Concat(name, "_bucket{le=\"", bounds_[i], "\"} ", cumulative, "\n");
  }
  cumulative += counts_.back();
  *out += Concat(name, "_bucket{le=\"+Inf\"} ", cumulative, "\n");
  *out += Concat(name, "_sum ", sum_, "\n", name, "_count ", count_, "\n");
}

double Histogram::Sum() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sum_;
}

Metrics::Metrics()
    : inference_duration({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      time_to_first_token({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}) {}

std::string Metrics::Render(const SchedulerStats& s) const {
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += Concat("# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v, "\n");
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    out += Concat("# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", v, "\n");
  };
  // `apr_inference_count` is the _count sample of a summary (Prometheus reserves the _count
  // suffix for summaries and histograms; promtool rejects it on a counter).
  out += Concat("# HELP apr_inference Completed inference requests (count) and their total ",
                "duration in seconds (sum).\n# TYPE apr_inference summary\napr_inference_sum ",
                inference_duration.Sum(), "\napr_inference_count ", inference_count.load(), "\n");
  counter("apr_tokens_generated_total", "Generated tokens.", tokens_generated.load());
  counter("apr_prompt_tokens_total", "Prompt tokens processed.", prompt_tokens.load());
  inference_duration.Render("apr_inference_duration_seconds",
                            "Request duration from submission to the last token.", &out);
  time_to_first_token.Render("apr_time_to_first_token_seconds",
                             "Time from submission to the first generated token.", &out);
  gauge("apr_queue_depth", "Requests waiting for admission.", s.queued);
  gauge("apr_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.",
        s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
  gauge("apr_requests_in_flight", "HTTP generation requests being served.",
        requests_in_flight.load());
  return out;
}

}  // namespace realizar::serve
