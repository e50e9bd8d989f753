// Request parsing for /v1/completions, /v1/chat/completions and /generate. Every field is
// type- and range-checked; the first problem found is reported with the field as `param`.
#include "realizar/openai_api.h"

#include <boost/json.hpp>
#include <cmath>
#include <limits>

#include "trueno/str_cat.h"

namespace realizar {
namespace {

namespace json = boost::json;
using trueno::Concat;

constexpr size_t kMaxStops = 4;
constexpr size_t kMaxMessages = 4096;

ApiError Bad(std::string param, std::string message) {
  ApiError e;
  e.http_status = 400;
  e.param = std::move(param);
  e.message = std::move(message);
  return e;
}

// Reads an optional number field into `out` within [lo, hi]; false with `err` set on a problem.
bool GetNumber(const json::object& o, const char* key, double lo, double hi, float* out,
               ApiError* err) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  double d;
  if (v->is_double()) {
    d = v->get_double();
  } else if (v->is_int64()) {
    d = static_cast<double>(v->get_int64());
  } else if (v->is_uint64()) {
    d = static_cast<double>(v->get_uint64());
  } else {
    *err = Bad(key, Concat("'", key, "' must be a number"));
    return false;
  }
  if (!std::isfinite(d) || d < lo || d > hi) {
    *err = Bad(key, Concat("'", key, "' is ", d, "; it must be in [", lo, ", ", hi, "]"));
    return false;
  }
  *out = static_cast<float>(d);
  return true;
}

bool GetInt(const json::object& o, const char* key, int64_t lo, int64_t hi, int* out,
            ApiError* err) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  int64_t i;
  if (v->is_int64()) {
    i = v->get_int64();
  } else if (v->is_uint64()) {
    i = v->get_uint64() > static_cast<uint64_t>(hi) ? hi + 1
                                                    : static_cast<int64_t>(v->get_uint64());
  } else if (v->is_double() && std::floor(v->get_double()) == v->get_double() &&
             std::fabs(v->get_double()) < 1e15) {
    i = static_cast<int64_t>(v->get_double());
  } else {
    *err = Bad(key, Concat("'", key, "' must be an integer"));
    return false;
  }
  if (i < lo || i > hi) {
    *err = Bad(key, Concat("'", key, "' is ", i, "; it must be in [", lo, ", ", hi, "]"));
    return false;
  }
  *out = static_cast<int>(i);
  return true;
}

bool GetBool(const json::object& o, const char* key, bool* out, ApiError* err) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_bool()) {
    *err = Bad(key, Concat("'", key, "' must be a boolean"));
    return false;
  }
  *out = v->get_bool();
  return true;
}

// Chat content: a string, or a list of {"type":"text","text":...} parts (concatenated).
bool GetContent(const json::value& v, std::string* out, ApiError* err) {
  if (v.is_string()) {
    *out = std::string(v.get_string());
    return true;
  }
  if (v.is_null()) return true;
  if (v.is_array()) {
    for (const json::value& part : v.get_array()) {
      const json::object* p = part.if_object();
      const json::value* text = p ? p->if_contains("text") : nullptr;
      if (text == nullptr || !text->is_string()) {
        *err =
            Bad("messages", "message content parts must be {\"type\": \"text\", \"text\": string}");
        return false;
      }
      out->append(text->get_string().data(), text->get_string().size());
    }
    return true;
  }
  *err = Bad("messages", "message content must be a string or a list of text parts");
  return false;
}

}  // namespace

std::string ApiErrorJson(const ApiError& e) {
  json::object inner;
  inner["message"] = e.message;
  inner["type"] = e.type;
  inner["param"] = e.param.empty() ? json::value(nullptr) : json::value(e.param);
  inner["code"] = e.code.empty() ? json::value(nullptr) : json::value(e.code);
  json::object outer;
  outer["error"] = std::move(inner);
  return json::serialize(outer);
}

ParsedRequest ParseCompletionRequest(std::string_view body, ApiEndpoint endpoint) {
  ParsedRequest out;
  ApiError* err = &out.error;
  json::parse_options popt;
  popt.max_depth = 64;
  boost::system::error_code ec;
  json::monotonic_resource mr;
  json::value root = json::parse(json::string_view(body.data(), body.size()), ec, &mr, popt);
  if (ec) {
    *err = Bad("", Concat("the request body is not valid JSON: ", ec.message()));
    return out;
  }
  const json::object* o = root.if_object();
  if (o == nullptr) {
    *err = Bad("", "the request body must be a JSON object");
    return out;
  }
  CompletionRequest r;
  r.endpoint = endpoint;
  if (const json::value* m = o->if_contains("model"); m != nullptr && !m->is_null()) {
    if (!m->is_string()) {
      *err = Bad("model", "'model' must be a string");
      return out;
    }
    r.model = std::string(m->get_string());
  }
  if (endpoint == ApiEndpoint::kChatCompletions) {
    const json::value* msgs = o->if_contains("messages");
    if (msgs == nullptr) {
      *err = Bad("messages", "'messages' is required");
      return out;
    }
    if (!msgs->is_array() || msgs->get_array().empty()) {
      *err = Bad("messages", "'messages' must be a non-empty array of {role, content}");
      return out;
    }
    if (msgs->get_array().size() > kMaxMessages) {
      *err = Bad("messages", Concat("at most ", kMaxMessages, " messages are accepted"));
      return out;
    }
    for (const json::value& mv : msgs->get_array()) {
      const json::object* mo = mv.if_object();
      const json::value* role = mo ? mo->if_contains("role") : nullptr;
      if (role == nullptr || !role->is_string()) {
        *err = Bad("messages", "each message needs a string 'role'");
        return out;
      }
      ChatMessage cm;
      cm.role = std::string(role->get_string());
      if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" &&
          cm.role != "developer" && cm.role != "tool") {
        *err = Bad("messages", Concat("unknown message role '", cm.role, "'"));
        return out;
      }
      if (cm.role == "developer") cm.role = "system";
      const json::value* content = mo->if_contains("content");
      if (content != nullptr && !GetContent(*content, &cm.content, err)) return out;
      r.messages.push_back(std::move(cm));
    }
  } else {
    const json::value* p = o->if_contains("prompt");
    if (p == nullptr || p->is_null()) {
      *err = Bad("prompt", "'prompt' is required");
      return out;
    }
    if (p->is_string()) {
      r.prompt = std::string(p->get_string());
    } else if (p->is_array() && p->get_array().size() == 1 && p->get_array()[0].is_string()) {
      r.prompt = std::string(p->get_array()[0].get_string());
    } else if (p->is_array() && !p->get_array().empty()) {
      for (const json::value& t : p->get_array()) {
        if (!t.is_int64() || t.get_int64() < 0 ||
            t.get_int64() > std::numeric_limits<int32_t>::max()) {
          *err = Bad("prompt",
                     "'prompt' must be a string, a list of one string, or a list of token ids");
          return out;
        }
        r.prompt_tokens.push_back(static_cast<int32_t>(t.get_int64()));
      }
    } else {
      *err =
          Bad("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
      return out;
    }
  }
  // max_completion_tokens is the newer chat name for max_tokens.
  const char* max_key =
      o->if_contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (!GetInt(*o, max_key, 0, 1 << 24, &r.max_tokens, err)) return out;
  if (endpoint == ApiEndpoint::kGenerate &&
      !GetInt(*o, "n_predict", 0, 1 << 24, &r.max_tokens, err))
    return out;
  if (!GetNumber(*o, "temperature", 0.0, 2.0, &r.temperature, err)) return out;
  if (!GetNumber(*o, "top_p", 0.0, 1.0, &r.top_p, err)) return out;
  if (!GetInt(*o, "top_k", 0, 1 << 20, &r.top_k, err)) return out;
  if (!GetNumber(*o, "min_p", 0.0, 1.0, &r.min_p, err)) return out;
  if (!GetNumber(*o, "presence_penalty", -2.0, 2.0, &r.presence_penalty, err)) return out;
  if (!GetNumber(*o, "frequency_penalty", -2.0, 2.0, &r.frequency_penalty, err)) return out;
  if (!GetNumber(*o, "repetition_penalty", 0.01, 10.0, &r.repetition_penalty, err)) return out;
  if (!GetInt(*o, "n", 1, 16, &r.n, err)) return out;
  if (!GetBool(*o, "stream", &r.stream, err)) return out;
  if (const json::value* s = o->if_contains("seed"); s != nullptr && !s->is_null()) {
    if (s->is_int64()) {
      r.seed = static_cast<uint64_t>(s->get_int64());
    } else if (s->is_uint64()) {
      r.seed = s->get_uint64();
    } else {
      *err = Bad("seed", "'seed' must be an integer");
      return out;
    }
  }
  if (const json::value* s = o->if_contains("stop"); s != nullptr && !s->is_null()) {
    if (s->is_string()) {
      r.stop.emplace_back(s->get_string());
    } else if (s->is_array() && s->get_array().size() <= kMaxStops) {
      for (const json::value& x : s->get_array()) {
        if (!x.is_string()) {
          *err = Bad("stop", "'stop' must be a string or a list of strings");
          return out;
        }
        r.stop.emplace_back(x.get_string());
      }
    } else {
      *err = Bad("stop",
                 Concat("'stop' must be a string or a list of at most ", kMaxStops, " strings"));
      return out;
    }
    for (const std::string& st : r.stop) {
      if (st.empty() || st.size() > 256) {
        *err = Bad("stop", "stop strings must be 1 to 256 bytes long");
        return out;
      }
    }
  }
  if (const json::value* so = o->if_contains("stream_options"); so != nullptr && !so->is_null()) {
    if (!so->is_object()) {
      *err = Bad("stream_options", "'stream_options' must be an object");
      return out;
    }
    if (!GetBool(so->get_object(), "include_usage", &r.include_usage, err)) return out;
  }
  if (endpoint == ApiEndpoint::kChatCompletions) {
    bool lp = false;
    if (!GetBool(*o, "logprobs", &lp, err)) return out;
    int top = 0;
    if (!GetInt(*o, "top_logprobs", 0, 20, &top, err)) return out;
    if (o->if_contains("top_logprobs") && !(*o).at("top_logprobs").is_null() && !lp) {
      *err = Bad("top_logprobs", "'top_logprobs' requires 'logprobs': true");
      return out;
    }
    r.logprobs = lp ? top : -1;
  } else {
    if (!GetInt(*o, "logprobs", 0, 5, &r.logprobs, err)) return out;
    if (!o->if_contains("logprobs") || o->at("logprobs").is_null()) r.logprobs = -1;
  }
  out.request = std::move(r);
  return out;
}

}  // namespace realizar
