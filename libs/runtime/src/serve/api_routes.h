// Routes: maps HTTP requests onto the OpenAI request parser, the tokenizer / chat template and
// the scheduler, and scheduler events back onto JSON or SSE replies.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "realizar/model.h"
#include "realizar/scheduler.h"
#include "realizar/tokenizer.h"
#include "serve/http_plumbing.h"
#include "serve/metrics.h"

namespace realizar::serve {

struct ApiOptions {
  std::string model_id;
  std::string api_key;
  double timeout_seconds = 600;
};

class Api {
 public:
  Api(Scheduler& scheduler, const Model& model, const Tokenizer& tokenizer, ApiOptions options,
      std::shared_ptr<ConnectionCounters> connections);
  void Handle(HttpRequest request, std::shared_ptr<Responder> responder);
  void SetDraining() { draining_.store(true); }
  Metrics& metrics() { return metrics_; }

  struct Job;

 private:
  void Generate(const HttpRequest& request, int endpoint, std::shared_ptr<Responder> responder);
  bool Authorized(const HttpRequest& request) const;
  std::string ModelInfoJson() const;

  Scheduler& scheduler_;
  const Model& model_;
  const Tokenizer& tokenizer_;
  ApiOptions options_;
  std::shared_ptr<ConnectionCounters> connections_;
  Metrics metrics_;
  std::vector<int32_t> eog_tokens_;
  std::string chat_template_;
  std::string bos_text_, eos_text_;
  int64_t created_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
};

// The built-in chat page served at GET / (chat_page.cpp).
const std::string& ChatPageHtml();

}  // namespace realizar::serve
