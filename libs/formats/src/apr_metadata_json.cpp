#include "apr_metadata_json.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <ctime>

#include "apr_build_info.h"  // generated at build time (cmake/AprGitSha.cmake)
#include "aprender/signing.h"
#include "trueno/str_cat.h"

#ifndef APR_TOOL_VERSION
#define APR_TOOL_VERSION "0.1.0"
#endif

namespace aprender::apr_internal {
namespace json = boost::json;
namespace {

constexpr MetaType kAllTypes[] = {
    MetaType::kUint8,  MetaType::kInt8,    MetaType::kUint16, MetaType::kInt16,  MetaType::kUint32,
    MetaType::kInt32,  MetaType::kFloat32, MetaType::kBool,   MetaType::kString, MetaType::kArray,
    MetaType::kUint64, MetaType::kInt64,   MetaType::kFloat64};

std::optional<MetaType> TypeFromName(std::string_view name) {
  for (MetaType t : kAllTypes) {
    if (MetaTypeName(t) == name) return t;
  }
  return std::nullopt;
}

// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), the same set Boost.JSON's
// parser accepts, so every string written as a JSON string parses back.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    const unsigned c = p[i];
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string Hex(const void* data, size_t n) {
  return HexEncode(std::span<const uint8_t>(static_cast<const uint8_t*>(data), n));
}

bool Unhex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  out.reserve(hex.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// True when Boost.JSON serialises `d` to text that parses back to the identical bit pattern.
bool RoundTripsAsNumber(double d) {
  if (!std::isfinite(d)) return false;
  const std::string text = json::serialize(json::value(d));
  json::error_code ec;
  const json::value back = json::parse(text, ec);
  if (ec || !back.is_double()) return false;
  const double got = back.get_double();
  return std::memcmp(&got, &d, sizeof(d)) == 0;
}

json::value EncodeF32(float f) {
  const double d = f;
  if (RoundTripsAsNumber(d)) return json::value(d);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint8_t be[4] = {uint8_t(bits >> 24), uint8_t(bits >> 16), uint8_t(bits >> 8), uint8_t(bits)};
  return json::object{{"bits", Hex(be, 4)}};
}

json::value EncodeF64(double d) {
  if (RoundTripsAsNumber(d)) return json::value(d);
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  uint8_t be[8];
  for (int i = 0; i < 8; ++i) be[i] = uint8_t(bits >> (56 - 8 * i));
  return json::object{{"bits", Hex(be, 8)}};
}

json::value EncodeValue(const MetaValue& v) {
  switch (v.type()) {
    case MetaType::kUint8:
    case MetaType::kUint16:
    case MetaType::kUint32:
    case MetaType::kUint64:
      return json::value(v.AsUint().value_or(0));
    case MetaType::kInt8:
    case MetaType::kInt16:
    case MetaType::kInt32:
    case MetaType::kInt64:
      return json::value(v.AsInt().value_or(0));
    case MetaType::kFloat32:
      return EncodeF32(static_cast<float>(v.AsDouble().value_or(0)));
    case MetaType::kFloat64:
      return EncodeF64(v.AsDouble().value_or(0));
    case MetaType::kBool:
      return json::value(v.AsBool().value_or(false));
    case MetaType::kString: {
      const std::string* s = v.AsString();
      const std::string_view text = s ? std::string_view(*s) : std::string_view();
      if (IsValidUtf8(text)) return json::value(json::string_view(text.data(), text.size()));
      return json::object{{"hex", Hex(text.data(), text.size())}};
    }
    case MetaType::kArray: {
      const MetaArray* a = v.AsArray();
      json::object o;
      o["elem"] = json::string_view(MetaTypeName(a ? a->elem_type : MetaType::kUint8).data());
      json::array items;
      if (a) {
        items.reserve(a->items.size());
        for (const auto& item : a->items) items.push_back(EncodeValue(item));
      }
      o["items"] = std::move(items);
      return o;
    }
  }
  return nullptr;
}

// ---- decoding -------------------------------------------------------------------------------

class Decoder {
 public:
  Decoder(const std::string& file) : file_(file) {}

  absl::StatusOr<MetaValue> Value(MetaType type, const json::value& j, const std::string& key) {
    switch (type) {
      case MetaType::kUint8:
        return Unsigned(j, key, type, 0xFF);
      case MetaType::kUint16:
        return Unsigned(j, key, type, 0xFFFF);
      case MetaType::kUint32:
        return Unsigned(j, key, type, 0xFFFFFFFFull);
      case MetaType::kUint64:
        return Unsigned(j, key, type, UINT64_MAX);
      case MetaType::kInt8:
        return Signed(j, key, type, INT8_MIN, INT8_MAX);
      case MetaType::kInt16:
        return Signed(j, key, type, INT16_MIN, INT16_MAX);
      case MetaType::kInt32:
        return Signed(j, key, type, INT32_MIN, INT32_MAX);
      case MetaType::kInt64:
        return Signed(j, key, type, INT64_MIN, INT64_MAX);
      case MetaType::kFloat32: {
        if (j.is_number()) {
          json::error_code ec;
          const double d = j.to_number<double>(ec);
          if (ec) return Bad(key, "f32 value is not a number");
          return MetaValue::F32(static_cast<float>(d));
        }
        std::string raw;
        if (!Bits(j, 4, raw))
          return Bad(key, "f32 value must be a number or {\"bits\": 8 hex digits}");
        uint32_t bits = 0;
        for (char c : raw) bits = (bits << 8) | static_cast<uint8_t>(c);
        float f;
        std::memcpy(&f, &bits, 4);
        return MetaValue::F32(f);
      }
      case MetaType::kFloat64: {
        if (j.is_number()) {
          json::error_code ec;
          const double d = j.to_number<double>(ec);
          if (ec) return Bad(key, "f64 value is not a number");
          return MetaValue::F64(d);
        }
        std::string raw;
        if (!Bits(j, 8, raw))
          return Bad(key, "f64 value must be a number or {\"bits\": 16 hex digits}");
        uint64_t bits = 0;
        for (char c : raw) bits = (bits << 8) | static_cast<uint8_t>(c);
        double d;
        std::memcpy(&d, &bits, 8);
        return MetaValue::F64(d);
      }
      case MetaType::kBool:
        if (!j.is_bool()) return Bad(key, "bool value is not true/false");
        return MetaValue::Bool(j.get_bool());
      case MetaType::kString: {
        if (j.is_string()) return MetaValue::String(std::string(j.get_string()));
        const json::object* o = j.if_object();
        const json::value* hex = o && o->size() == 1 ? o->if_contains("hex") : nullptr;
        std::string bytes;
        if (!hex || !hex->is_string() || !Unhex(hex->get_string(), bytes)) {
          return Bad(key, "string value must be a JSON string or {\"hex\": ...}");
        }
        return MetaValue::String(std::move(bytes));
      }
      case MetaType::kArray: {
        const json::object* o = j.if_object();
        const json::value* elem = o ? o->if_contains("elem") : nullptr;
        const json::value* items = o ? o->if_contains("items") : nullptr;
        if (!elem || !elem->is_string() || !items || !items->is_array()) {
          return Bad(key, "array value must be {\"elem\": type, \"items\": [...]}");
        }
        auto elem_type = TypeFromName(std::string_view(elem->get_string()));
        if (!elem_type)
          return Bad(key, trueno::Concat("unknown array element type '",
                                         std::string_view(elem->get_string()), "'"));
        MetaArray a;
        a.elem_type = *elem_type;
        a.items.reserve(items->get_array().size());
        for (const auto& item : items->get_array()) {
          auto v = Value(*elem_type, item, key);
          if (!v.ok()) return v.status();
          a.items.push_back(std::move(*v));
        }
        return MetaValue::Array(std::move(a));
      }
    }
    return Bad(key, "unknown type");
  }

  absl::Status Bad(const std::string& key, const std::string& what) const {
    return absl::DataLossError(
        trueno::Concat(file_, ": corrupt .apr metadata: key '", key, "': ", what));
  }

 private:
  absl::StatusOr<MetaValue> Unsigned(const json::value& j, const std::string& key, MetaType t,
                                     uint64_t max) {
    uint64_t v = 0;
    if (j.is_uint64()) {
      v = j.get_uint64();
    } else if (j.is_int64() && j.get_int64() >= 0) {
      v = static_cast<uint64_t>(j.get_int64());
    } else {
      return Bad(key, trueno::Concat(MetaTypeName(t), " value is not a non-negative integer"));
    }
    if (v > max) return Bad(key, trueno::Concat(MetaTypeName(t), " value ", v, " is out of range"));
    switch (t) {
      case MetaType::kUint8:
        return MetaValue::U8(static_cast<uint8_t>(v));
      case MetaType::kUint16:
        return MetaValue::U16(static_cast<uint16_t>(v));
      case MetaType::kUint32:
        return MetaValue::U32(static_cast<uint32_t>(v));
      default:
        return MetaValue::U64(v);
    }
  }

  absl::StatusOr<MetaValue> Signed(const json::value& j, const std::string& key, MetaType t,
                                   int64_t min, int64_t max) {
    int64_t v = 0;
    if (j.is_int64()) {
      v = j.get_int64();
    } else if (j.is_uint64() && j.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      v = static_cast<int64_t>(j.get_uint64());
    } else {
      return Bad(key, trueno::Concat(MetaTypeName(t), " value is not an integer in range"));
    }
    if (v < min || v > max)
      return Bad(key, trueno::Concat(MetaTypeName(t), " value ", v, " is out of range"));
    switch (t) {
      case MetaType::kInt8:
        return MetaValue::I8(static_cast<int8_t>(v));
      case MetaType::kInt16:
        return MetaValue::I16(static_cast<int16_t>(v));
      case MetaType::kInt32:
        return MetaValue::I32(static_cast<int32_t>(v));
      default:
        return MetaValue::I64(v);
    }
  }

  static bool Bits(const json::value& j, size_t n_bytes, std::string& raw) {
    const json::object* o = j.if_object();
    const json::value* bits = o && o->size() == 1 ? o->if_contains("bits") : nullptr;
    return bits && bits->is_string() && bits->get_string().size() == 2 * n_bytes &&
           Unhex(bits->get_string(), raw);
  }

  const std::string& file_;
};

std::string StringField(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::string EncodeMetadataJson(const Metadata& metadata, const AprProvenance& provenance) {
  json::object root;
  json::object prov;
  prov["source"] = provenance.source;
  prov["source_sha256"] = provenance.source_sha256;
  prov["tool"] = provenance.tool;
  prov["git_sha"] = provenance.git_sha;
  prov["created_at"] = provenance.created_at;
  root["provenance"] = std::move(prov);
  json::array entries;
  entries.reserve(metadata.size());
  for (const auto& [key, value] : metadata.entries()) {
    json::object e;
    if (IsValidUtf8(key)) {
      e["key"] = key;
    } else {
      e["key_hex"] = Hex(key.data(), key.size());
    }
    e["type"] = json::string_view(MetaTypeName(value.type()).data());
    e["value"] = EncodeValue(value);
    entries.push_back(std::move(e));
  }
  root["metadata"] = std::move(entries);
  return json::serialize(root);
}

absl::StatusOr<DecodedMetadata> DecodeMetadataJson(std::string_view text, const std::string& file) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  const json::value root = json::parse(json::string_view(text.data(), text.size()), ec, {}, opts);
  if (ec) {
    return absl::DataLossError(
        trueno::Concat(file, ": corrupt .apr metadata: not valid JSON (", ec.message(), ")"));
  }
  const json::object* obj = root.if_object();
  const json::value* entries = obj ? obj->if_contains("metadata") : nullptr;
  if (!entries || !entries->is_array()) {
    return absl::DataLossError(
        trueno::Concat(file, ": corrupt .apr metadata: no \"metadata\" array in the JSON object"));
  }
  DecodedMetadata out;
  if (const json::value* prov = obj->if_contains("provenance"); prov && prov->is_object()) {
    const auto& p = prov->get_object();
    out.provenance = {StringField(p, "source"), StringField(p, "source_sha256"),
                      StringField(p, "tool"), StringField(p, "git_sha"),
                      StringField(p, "created_at")};
  }
  Decoder dec(file);
  size_t i = 0;
  for (const auto& ev : entries->get_array()) {
    const json::object* e = ev.if_object();
    const json::value* key = e ? e->if_contains("key") : nullptr;
    const json::value* key_hex = e ? e->if_contains("key_hex") : nullptr;
    const json::value* type = e ? e->if_contains("type") : nullptr;
    const json::value* value = e ? e->if_contains("value") : nullptr;
    std::string key_str;
    if (key && key->is_string()) {
      key_str = std::string(key->get_string());
    } else if (!key_hex || !key_hex->is_string() || !Unhex(key_hex->get_string(), key_str)) {
      return absl::DataLossError(
          trueno::Concat(file, ": corrupt .apr metadata: entry ", i, " has no \"key\" string"));
    }
    if (!type || !type->is_string() || !value) {
      return dec.Bad(key_str, "entry needs \"type\" and \"value\"");
    }
    auto t = TypeFromName(std::string_view(type->get_string()));
    if (!t)
      return dec.Bad(key_str,
                     trueno::Concat("unknown type '", std::string_view(type->get_string()), "'"));
    if (out.metadata.Find(key_str) != nullptr) return dec.Bad(key_str, "key appears twice");
    auto v = dec.Value(*t, *value, key_str);
    if (!v.ok()) return v.status();
    out.metadata.Set(std::move(key_str), std::move(*v));
    ++i;
  }
  return out;
}

AprProvenance CurrentProvenance() {
  AprProvenance p;
  p.tool = trueno::Concat("aprender ", APR_TOOL_VERSION);
  p.git_sha = apr_build::GitSha();
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
  p.created_at = buf;
  return p;
}

}  // namespace aprender::apr_internal
