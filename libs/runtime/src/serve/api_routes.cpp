#include "serve/api_routes.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

#include "realizar/chat_template.h"
#include "realizar/openai_api.h"
#include "trueno/str_cat.h"

namespace realizar::serve {
namespace {

namespace json = boost::json;
using trueno::Concat;
using Clock = std::chrono::steady_clock;

HttpResponse JsonResponse(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpResponse ErrorResponse(int status, std::string message, std::string type = "",
                           std::string param = "", std::string code = "") {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  if (!type.empty()) e.type = std::move(type);
  e.param = std::move(param);
  e.code = std::move(code);
  HttpResponse r;
  r.status = status;
  r.body = ApiErrorJson(e);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string: those
// bytes are held back while streaming, since the next token may complete the stop string.
size_t HeldBack(const std::string& text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const std::string& s : stops) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > held; --k) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        held = k;
        break;
      }
    }
  }
  return held;
}

// Bytes of a UTF-8 string cut back to a code point boundary (never splits a sequence).
size_t Utf8Floor(const std::string& s, size_t n) {
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

const char* FinishName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    default:
      return "length";
  }
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  volatile unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// `s` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD
// (a lone byte token cannot be put into a JSON string as is).
std::string ValidUtf8(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 2 && c < 0xC2) ok = false;  // overlong
    if (ok && n >= 3) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) ||  // overlong, surrogate
          (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) || c > 0xF4) {
        ok = false;
      }
    }
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

json::array BytesArray(const std::string& s) {
  json::array a;
  for (unsigned char c : s) a.push_back(static_cast<int64_t>(c));
  return a;
}

}  // namespace

struct Api::Job {
  struct Choice {
    uint64_t id = 0;
    std::unique_ptr<Tokenizer::StreamDecoder> decoder;
    std::string text;
    size_t sent = 0;
    bool done = false;
    bool timed_out = false;
    bool first_chunk_sent = false;  // chat: the first delta of each choice carries the role
    FinishReason reason = FinishReason::kStop;
    int completion_tokens = 0;
    std::vector<TokenEvent> logprobs;
  };
  Api* api = nullptr;
  CompletionRequest req;
  std::shared_ptr<Responder> out;
  std::string id;
  int64_t created = 0;
  Clock::time_point start;
  int prompt_tokens = 0;
  std::mutex mu;
  std::vector<Choice> choices;
  int remaining = 0;
  bool aborted = false;
  absl::Status error;

  bool chat() const { return req.endpoint == ApiEndpoint::kChatCompletions; }

  json::object ChunkBase() const {
    json::object o;
    o["id"] = id;
    o["object"] = chat() ? "chat.completion.chunk" : "text_completion";
    o["created"] = created;
    o["model"] = api->options_.model_id;
    return o;
  }

  json::value LogprobsJson(const Choice& c, size_t text_base) const {
    if (req.logprobs < 0) return nullptr;
    const Tokenizer& tok = api->tokenizer_;
    if (chat()) {
      json::array content;
      for (const TokenEvent& ev : c.logprobs) {
        json::object e;
        const std::string s = tok.TokenBytes(ev.token);
        e["token"] = ValidUtf8(s);
        e["logprob"] = ev.logprob;
        e["bytes"] = BytesArray(s);
        json::array top;
        for (auto& [t, lp] : ev.top_logprobs) {
          const std::string ts = tok.TokenBytes(t);
          top.push_back(
              json::object{{"token", ValidUtf8(ts)}, {"logprob", lp}, {"bytes", BytesArray(ts)}});
        }
        e["top_logprobs"] = std::move(top);
        content.push_back(std::move(e));
      }
      return json::object{{"content", std::move(content)}};
    }
    json::array tokens, lps, tops, offsets;
    size_t offset = text_base;
    for (const TokenEvent& ev : c.logprobs) {
      const std::string s = tok.TokenBytes(ev.token);
      tokens.push_back(json::value(ValidUtf8(s)));
      lps.push_back(ev.logprob);
      json::object top;
      for (auto& [t, lp] : ev.top_logprobs) top[ValidUtf8(tok.TokenBytes(t))] = lp;
      tops.push_back(std::move(top));
      offsets.push_back(static_cast<int64_t>(offset));
      offset += s.size();
    }
    return json::object{{"tokens", std::move(tokens)},
                        {"token_logprobs", std::move(lps)},
                        {"top_logprobs", std::move(tops)},
                        {"text_offset", std::move(offsets)}};
  }

  json::object Usage() const {
    int completion = 0;
    for (const Choice& c : choices) completion += c.completion_tokens;
    return json::object{{"prompt_tokens", prompt_tokens},
                        {"completion_tokens", completion},
                        {"total_tokens", prompt_tokens + completion}};
  }

  void SendChunk(size_t index, const std::string& delta, const char* finish,
                 json::value logprobs = nullptr) {
    json::object o = ChunkBase();
    json::object choice;
    choice["index"] = static_cast<int64_t>(index);
    if (chat()) {
      json::object d;
      if (!choices[index].first_chunk_sent) d["role"] = "assistant";
      if (finish == nullptr || !delta.empty()) d["content"] = delta;
      choice["delta"] = std::move(d);
    } else {
      choice["text"] = delta;
    }
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = finish ? json::value(finish) : json::value(nullptr);
    o["choices"] = json::array{std::move(choice)};
    if (req.include_usage) o["usage"] = nullptr;
    choices[index].first_chunk_sent = true;
    out->Send(Concat("data: ", json::serialize(o), "\n\n"));
  }

  // Engine thread. Appends the token's text, applies stop strings and streams what is safe.
  bool OnToken(size_t i, const TokenEvent& ev) {
    std::lock_guard<std::mutex> lock(mu);
    Choice& c = choices[i];
    c.completion_tokens = ev.index + 1;
    if (req.logprobs >= 0) c.logprobs.push_back(ev);
    const size_t before = c.text.size();
    c.text += c.decoder->Push(ev.token);
    bool stop = false;
    if (!req.stop.empty()) {
      size_t max_stop = 0;
      for (const auto& s : req.stop) max_stop = std::max(max_stop, s.size());
      const size_t from = before >= max_stop ? before - max_stop + 1 : 0;
      size_t cut = std::string::npos;
      for (const auto& s : req.stop) cut = std::min(cut, c.text.find(s, from));
      if (cut != std::string::npos) {
        c.text.resize(cut);
        stop = true;
      }
    }
    if (!stop && std::chrono::duration<double>(Clock::now() - start).count() >
                     api->options_.timeout_seconds) {
      c.timed_out = true;
      stop = true;
    }
    if (req.stream && !stop) {
      const size_t safe = Utf8Floor(c.text, c.text.size() - HeldBack(c.text, req.stop));
      if (safe > c.sent) {
        json::value lp = nullptr;
        if (req.logprobs >= 0) {
          Choice tmp;
          tmp.logprobs.push_back(ev);
          lp = LogprobsJson(tmp, c.sent);
        }
        SendChunk(i, c.text.substr(c.sent, safe - c.sent), nullptr, std::move(lp));
        c.sent = safe;
      }
    }
    return !stop;
  }

  // Engine thread, once per choice.
  void OnDone(size_t i, const GenerationResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    Choice& c = choices[i];
    c.done = true;
    c.reason = c.timed_out ? FinishReason::kLength : r.reason;
    c.completion_tokens = static_cast<int>(r.tokens.size());
    if (r.reason == FinishReason::kError && error.ok()) error = r.status;
    if (r.reason != FinishReason::kStop || c.timed_out) c.text += c.decoder->Flush();
    Metrics& m = api->metrics_;
    m.tokens_generated.fetch_add(r.tokens.size());
    if (!r.tokens.empty()) m.time_to_first_token.Observe(r.ttft_seconds);
    if (aborted) {
      if (--remaining == 0) m.requests_in_flight.fetch_sub(1);
      return;
    }
    if (req.stream && r.reason != FinishReason::kError) {
      if (c.text.size() > c.sent) SendChunk(i, c.text.substr(c.sent), nullptr);
      c.sent = c.text.size();
      SendChunk(i, "", FinishName(c.reason));
    }
    if (--remaining > 0) return;
    m.inference_count.fetch_add(1);
    m.prompt_tokens.fetch_add(static_cast<uint64_t>(prompt_tokens));
    m.inference_duration.Observe(std::chrono::duration<double>(Clock::now() - start).count());
    m.requests_in_flight.fetch_sub(1);
    if (req.stream) {
      if (!error.ok()) {
        ApiError e;
        e.http_status = 500;
        e.type = "server_error";
        e.message = std::string(error.message());
        out->Send(Concat("data: ", ApiErrorJson(e), "\n\n"));
      }
      if (req.include_usage) {
        json::object o = ChunkBase();
        o["choices"] = json::array{};
        o["usage"] = Usage();
        out->Send(Concat("data: ", json::serialize(o), "\n\n"));
      }
      out->Send("data: [DONE]\n\n");
      out->End();
      return;
    }
    if (!error.ok()) {
      out->Respond(ErrorResponse(500, std::string(error.message()), "server_error"));
      return;
    }
    if (req.endpoint == ApiEndpoint::kGenerate) {
      json::object o{{"content", choices[0].text},
                     {"model", api->options_.model_id},
                     {"tokens_predicted", choices[0].completion_tokens},
                     {"tokens_evaluated", prompt_tokens},
                     {"stop_reason", FinishName(choices[0].reason)}};
      out->Respond(JsonResponse(200, o));
      return;
    }
    json::object o;
    o["id"] = id;
    o["object"] = chat() ? "chat.completion" : "text_completion";
    o["created"] = created;
    o["model"] = api->options_.model_id;
    json::array arr;
    for (size_t k = 0; k < choices.size(); ++k) {
      json::object ch;
      ch["index"] = static_cast<int64_t>(k);
      if (chat()) {
        ch["message"] = json::object{{"role", "assistant"}, {"content", choices[k].text}};
      } else {
        ch["text"] = choices[k].text;
      }
      ch["logprobs"] = LogprobsJson(choices[k], 0);
      ch["finish_reason"] = FinishName(choices[k].reason);
      arr.push_back(std::move(ch));
    }
    o["choices"] = std::move(arr);
    o["usage"] = Usage();
    out->Respond(JsonResponse(200, o));
  }
};

Api::Api(Scheduler& scheduler, const Model& model, const Tokenizer& tokenizer, ApiOptions options,
         std::shared_ptr<ConnectionCounters> connections)
    : scheduler_(scheduler),
      model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      connections_(std::move(connections)) {
  for (int32_t id = 0; id < tokenizer_.vocab_size(); ++id) {
    if (tokenizer_.IsEog(id)) eog_tokens_.push_back(id);
  }
  const auto& meta = model_.file().metadata;
  if (auto t = meta.GetStringOr("tokenizer.chat_template")) chat_template_ = *t;
  if (chat_template_.empty()) chat_template_ = std::string(BuiltinTemplate(DetectBuiltin(meta)));
  if (tokenizer_.bos_id() >= 0) bos_text_ = tokenizer_.TokenBytes(tokenizer_.bos_id(), true);
  if (tokenizer_.eos_id() >= 0) eos_text_ = tokenizer_.TokenBytes(tokenizer_.eos_id(), true);
  next_id_.store((static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}());
  created_ = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
}

bool Api::Authorized(const HttpRequest& request) const {
  if (options_.api_key.empty()) return true;
  return ConstantTimeEquals(request.authorization, "Bearer " + options_.api_key);
}

std::string Api::ModelInfoJson() const {
  const auto& c = model_.config();
  json::object o{{"id", options_.model_id},
                 {"architecture", c.arch_name},
                 {"n_layers", c.n_layers},
                 {"n_embd", c.n_embd},
                 {"n_head", c.n_head},
                 {"n_head_kv", c.n_head_kv},
                 {"n_ff", c.n_ff},
                 {"n_vocab", c.n_vocab},
                 {"n_ctx", model_.max_context()},
                 {"kv_blocks", model_.kv_cache().blocks_total()},
                 {"kv_block_size", model_.kv_cache().block_size()},
                 {"path", model_.file().path}};
  return json::serialize(o);
}

void Api::Handle(HttpRequest req, std::shared_ptr<Responder> out) {
  std::string path = req.target.substr(0, req.target.find('?'));
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (req.method == "OPTIONS") {
    HttpResponse r;
    r.status = 204;
    r.content_type = "text/plain";
    out->Respond(std::move(r));
    return;
  }
  const bool open_route = path == "/" || path == "/health";
  if (!open_route && !Authorized(req)) {
    out->Respond(ErrorResponse(401,
                               "Incorrect API key provided; send 'Authorization: Bearer <key>'",
                               "invalid_request_error", "", "invalid_api_key"));
    return;
  }
  auto method_not_allowed = [&] {
    out->Respond(ErrorResponse(405, Concat("method ", req.method, " is not allowed on ", path)));
  };
  if (path == "/") {
    if (!get) return method_not_allowed();
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = ChatPageHtml();
    out->Respond(std::move(r));
  } else if (path == "/health") {
    if (!get) return method_not_allowed();
    const bool draining = draining_.load();
    out->Respond(JsonResponse(draining ? 503 : 200,
                              json::object{{"status", draining ? "shutting_down" : "ok"}}));
  } else if (path == "/v1/models") {
    if (!get) return method_not_allowed();
    json::object m{
        {"id", options_.model_id}, {"object", "model"}, {"created", created_}, {"owned_by", "apr"}};
    out->Respond(JsonResponse(200, json::object{{"object", "list"}, {"data", json::array{m}}}));
  } else if (path == "/model") {
    if (!get) return method_not_allowed();
    HttpResponse r;
    r.body = ModelInfoJson();
    out->Respond(std::move(r));
  } else if (path == "/metrics") {
    if (!get) return method_not_allowed();
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.Render(scheduler_.Stats());
    out->Respond(std::move(r));
  } else if (path == "/v1/completions" || path == "/v1/chat/completions" || path == "/generate") {
    if (!post) return method_not_allowed();
    const int endpoint = path == "/v1/completions" ? static_cast<int>(ApiEndpoint::kCompletions)
                         : path == "/v1/chat/completions"
                             ? static_cast<int>(ApiEndpoint::kChatCompletions)
                             : static_cast<int>(ApiEndpoint::kGenerate);
    Generate(req, endpoint, std::move(out));
  } else {
    out->Respond(ErrorResponse(404, Concat("no route for ", req.method, " ", path),
                               "invalid_request_error", "", "not_found"));
  }
}

void Api::Generate(const HttpRequest& http, int endpoint, std::shared_ptr<Responder> out) {
  if (draining_.load()) {
    out->Respond(ErrorResponse(503, "the server is shutting down", "server_error"));
    return;
  }
  ParsedRequest parsed = ParseCompletionRequest(http.body, static_cast<ApiEndpoint>(endpoint));
  if (!parsed.request) {
    HttpResponse r;
    r.status = parsed.error.http_status;
    r.body = ApiErrorJson(parsed.error);
    out->Respond(std::move(r));
    return;
  }
  CompletionRequest& req = *parsed.request;
  if (!req.model.empty() && req.model != options_.model_id) {
    out->Respond(
        ErrorResponse(404,
                      Concat("The model '", req.model, "' does not exist; this server serves '",
                             options_.model_id, "'"),
                      "invalid_request_error", "model", "model_not_found"));
    return;
  }
  std::vector<int32_t> prompt;
  if (req.endpoint == ApiEndpoint::kChatCompletions) {
    auto text = RenderChat(chat_template_, req.messages, true, bos_text_, eos_text_);
    if (!text.ok()) {
      out->Respond(
          ErrorResponse(400, Concat("cannot render the chat template: ", text.status().message()),
                        "invalid_request_error", "messages"));
      return;
    }
    prompt = tokenizer_.Encode(*text, true, true);
    const int32_t bos = tokenizer_.bos_id();
    if (prompt.size() >= 2 && bos >= 0 && prompt[0] == bos && prompt[1] == bos)
      prompt.erase(prompt.begin());
  } else if (!req.prompt_tokens.empty()) {
    prompt = req.prompt_tokens;
    for (int32_t t : prompt) {
      if (t >= tokenizer_.vocab_size() || t >= model_.n_vocab()) {
        out->Respond(ErrorResponse(400, Concat("prompt token id ", t, " is outside the vocabulary"),
                                   "invalid_request_error", "prompt"));
        return;
      }
    }
  } else {
    prompt = tokenizer_.Encode(req.prompt, true, true);
  }
  if (prompt.empty()) {
    out->Respond(ErrorResponse(400, "the prompt is empty", "invalid_request_error", "prompt"));
    return;
  }
  const int ctx = scheduler_.max_context();
  const int n_prompt = static_cast<int>(prompt.size());
  if (n_prompt >= ctx) {
    out->Respond(
        ErrorResponse(400,
                      Concat("This model's maximum context length is ", ctx,
                             " tokens; the prompt has ", n_prompt, " tokens"),
                      "invalid_request_error",
                      req.endpoint == ApiEndpoint::kChatCompletions ? "messages" : "prompt",
                      "context_length_exceeded"));
    return;
  }
  int max_tokens = req.max_tokens;
  if (max_tokens < 0) max_tokens = req.endpoint == ApiEndpoint::kCompletions ? 16 : ctx - n_prompt;
  max_tokens = std::min(max_tokens, ctx - n_prompt);

  auto job = std::make_shared<Job>();
  job->api = this;
  job->out = out;
  job->start = Clock::now();
  job->created = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(next_id_.fetch_add(1) * 0x9E3779B97F4A7C15ull));
  job->id = Concat(req.endpoint == ApiEndpoint::kChatCompletions ? "chatcmpl-" : "cmpl-", hex);
  job->prompt_tokens = n_prompt;
  job->choices.resize(static_cast<size_t>(req.n));
  for (auto& c : job->choices) c.decoder = std::make_unique<Tokenizer::StreamDecoder>(tokenizer_);
  job->remaining = req.n;
  job->req = req;
  const uint64_t base_seed =
      req.seed ? *req.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();

  metrics_.requests_in_flight.fetch_add(1);
  std::vector<uint64_t> ids;
  {
    // Hold the job lock while submitting, so no callback sees a half-built job.
    std::lock_guard<std::mutex> lock(job->mu);
    for (int i = 0; i < req.n; ++i) {
      GenerationRequest g;
      g.prompt = prompt;
      g.max_tokens = max_tokens;
      g.stop_tokens = eog_tokens_;
      g.top_logprobs = req.logprobs;
      g.sampler.temperature = req.temperature;
      g.sampler.top_p = req.top_p;
      g.sampler.top_k = req.top_k;
      g.sampler.min_p = req.min_p;
      g.sampler.presence_penalty = req.presence_penalty;
      g.sampler.frequency_penalty = req.frequency_penalty;
      g.sampler.repetition_penalty = req.repetition_penalty;
      g.sampler.seed = base_seed + static_cast<uint64_t>(i);
      const size_t idx = static_cast<size_t>(i);
      g.on_token = [job, idx](const TokenEvent& ev) { return job->OnToken(idx, ev); };
      g.on_done = [job, idx](const GenerationResult& r) { job->OnDone(idx, r); };
      auto id = scheduler_.Submit(std::move(g));
      if (!id.ok()) {
        job->aborted = true;
        job->remaining -= req.n - i;  // choices never submitted
        for (uint64_t prev : ids) scheduler_.Cancel(prev);
        if (job->remaining == 0) metrics_.requests_in_flight.fetch_sub(1);
        const bool busy = id.status().code() != absl::StatusCode::kInvalidArgument;
        HttpResponse r = busy ? ErrorResponse(503, std::string(id.status().message()),
                                              "server_error", "", "server_busy")
                              : ErrorResponse(400, std::string(id.status().message()),
                                              "invalid_request_error", "max_tokens");
        out->Respond(std::move(r));
        return;
      }
      ids.push_back(*id);
      job->choices[idx].id = *id;
    }
    // Posted before any token event can be (they wait for this lock).
    if (req.stream) out->StartStream();
  }
  Scheduler* sched = &scheduler_;
  out->OnDisconnect([sched, ids] {
    for (uint64_t id : ids) sched->Cancel(id);
  });
}

}  // namespace realizar::serve
