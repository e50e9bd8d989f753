#include "hf_json.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <sstream>

#include <boost/json/basic_parser_impl.hpp>

#include "trueno/str_cat.h"

namespace aprender::hf_internal {
namespace json = boost::json;

namespace {

constexpr int kMaxJsonDepth = 64;

json::parse_options Options() {
  json::parse_options opt;
  opt.max_depth = kMaxJsonDepth;
  return opt;
}

// SAX handler that records the keys of the outermost object and stops at the first repeat.
class TopLevelKeyHandler {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return ++depth_, true; }
  bool on_array_end(std::size_t, json::error_code&) { return --depth_, true; }
  bool on_object_begin(json::error_code&) { return ++depth_, true; }
  bool on_object_end(std::size_t, json::error_code&) { return --depth_, true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    if (depth_ != 1) return true;
    key_.append(s.data(), s.size());
    if (!keys_.insert(key_).second) {
      duplicate_ = key_;
      ec = json::error::extra_data;  // any error stops the parse; `duplicate_` says why
      return false;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  std::optional<std::string> duplicate_;

 private:
  int depth_ = 0;
  std::string key_;
  std::set<std::string> keys_;
};

}  // namespace

absl::StatusOr<json::value> ParseJson(std::string_view text, const std::string& what) {
  try {
    json::error_code ec;
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, Options());
    if (ec) {
      return absl::DataLossError(
          trueno::Concat(what, ": invalid JSON: ", ec.message(), "; the file is corrupt"));
    }
    return v;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(trueno::Concat(what, ": out of memory parsing JSON"));
  } catch (...) {
    return absl::DataLossError(trueno::Concat(what, ": invalid JSON"));
  }
}

absl::StatusOr<std::optional<std::string>> FindDuplicateTopLevelKey(std::string_view text) {
  try {
    json::basic_parser<TopLevelKeyHandler> parser(Options());
    json::error_code ec;
    parser.write_some(false, text.data(), text.size(), ec);
    return parser.handler().duplicate_;
  } catch (...) {
    return absl::ResourceExhaustedError("out of memory scanning JSON keys");
  }
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path, uint64_t max_bytes) {
  std::error_code fs_ec;
  if (!std::filesystem::is_regular_file(path, fs_ec)) {
    return absl::NotFoundError(trueno::Concat(path, ": no such file"));
  }
  const uintmax_t size = std::filesystem::file_size(path, fs_ec);
  if (fs_ec) return absl::NotFoundError(trueno::Concat(path, ": cannot stat: ", fs_ec.message()));
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(
        trueno::Concat(path, ": ", size, " bytes is more than the ", max_bytes, " allowed"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(trueno::Concat(path, ": cannot open"));
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    return absl::DataLossError(trueno::Concat(path, ": short read"));
  }
  return text;
}

absl::StatusOr<json::value> ReadJsonFile(const std::string& path, uint64_t max_bytes) {
  auto text = ReadTextFile(path, max_bytes);
  if (!text.ok()) return text.status();
  return ParseJson(*text, path);
}

absl::StatusOr<std::string> SerializeJson(const json::value& value) {
  try {
    return json::serialize(value);
  } catch (...) {
    return absl::ResourceExhaustedError("out of memory serialising JSON");
  }
}

absl::Status WriteJsonFile(const json::value& value, const std::string& path) {
  std::string text;
  try {
    // One top-level member per line keeps diffs of config files readable.
    if (const json::object* obj = value.if_object(); obj != nullptr && !obj->empty()) {
      text = "{\n";
      bool first = true;
      for (const auto& kv : *obj) {
        if (!first) text += ",\n";
        first = false;
        text += "  " + json::serialize(json::value(kv.key())) + ": " + json::serialize(kv.value());
      }
      text += "\n}\n";
    } else {
      text = json::serialize(value) + "\n";
    }
  } catch (...) {
    return absl::ResourceExhaustedError(trueno::Concat(path, ": out of memory serialising JSON"));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(trueno::Concat(path, ": cannot create"));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::DataLossError(trueno::Concat(path, ": write failed"));
  return absl::OkStatus();
}

std::optional<int64_t> AsInt(const json::value& v) {
  if (const int64_t* i = v.if_int64()) return *i;
  if (const uint64_t* u = v.if_uint64()) {
    if (*u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(*u);
    return std::nullopt;
  }
  if (const double* d = v.if_double()) {
    if (std::isfinite(*d) && std::floor(*d) == *d && std::fabs(*d) < 9.0e15) {
      return static_cast<int64_t>(*d);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> GetInt(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  return AsInt(*v);
}

std::optional<double> GetNumber(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (const double* d = v->if_double()) return *d;
  if (const int64_t* i = v->if_int64()) return static_cast<double>(*i);
  if (const uint64_t* u = v->if_uint64()) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> GetBool(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (const bool* b = v->if_bool()) return *b;
  return std::nullopt;
}

std::optional<std::string> GetString(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (const json::string* s = v->if_string()) return std::string(s->data(), s->size());
  return std::nullopt;
}

const json::object* GetObject(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  return v == nullptr ? nullptr : v->if_object();
}

const json::array* GetArray(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  return v == nullptr ? nullptr : v->if_array();
}

}  // namespace aprender::hf_internal
