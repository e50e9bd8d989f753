#include "aprender/metadata.h"

#include <algorithm>

#include "trueno/str_cat.h"

namespace aprender {

std::string_view MetaTypeName(MetaType t) {
  switch (t) {
    case MetaType::kUint8: return "u8";
    case MetaType::kInt8: return "i8";
    case MetaType::kUint16: return "u16";
    case MetaType::kInt16: return "i16";
    case MetaType::kUint32: return "u32";
    case MetaType::kInt32: return "i32";
    case MetaType::kFloat32: return "f32";
    case MetaType::kBool: return "bool";
    case MetaType::kString: return "string";
    case MetaType::kArray: return "array";
    case MetaType::kUint64: return "u64";
    case MetaType::kInt64: return "i64";
    case MetaType::kFloat64: return "f64";
  }
  return "unknown";
}

MetaValue MetaValue::StringArray(std::vector<std::string> v) {
  MetaArray a;
  a.elem_type = MetaType::kString;
  a.items.reserve(v.size());
  for (auto& s : v) a.items.push_back(String(std::move(s)));
  return Array(std::move(a));
}

MetaValue MetaValue::F32Array(const std::vector<float>& v) {
  MetaArray a;
  a.elem_type = MetaType::kFloat32;
  a.items.reserve(v.size());
  for (float x : v) a.items.push_back(F32(x));
  return Array(std::move(a));
}

MetaValue MetaValue::I32Array(const std::vector<int32_t>& v) {
  MetaArray a;
  a.elem_type = MetaType::kInt32;
  a.items.reserve(v.size());
  for (int32_t x : v) a.items.push_back(I32(x));
  return Array(std::move(a));
}

bool MetaValue::is_integer() const {
  return std::holds_alternative<uint64_t>(value_) || std::holds_alternative<int64_t>(value_);
}

bool MetaValue::is_number() const { return is_integer() || std::holds_alternative<double>(value_); }

std::optional<uint64_t> MetaValue::AsUint() const {
  if (auto* u = std::get_if<uint64_t>(&value_)) return *u;
  if (auto* i = std::get_if<int64_t>(&value_)) {
    if (*i >= 0) return static_cast<uint64_t>(*i);
  }
  return std::nullopt;
}

std::optional<int64_t> MetaValue::AsInt() const {
  if (auto* i = std::get_if<int64_t>(&value_)) return *i;
  if (auto* u = std::get_if<uint64_t>(&value_)) {
    if (*u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> MetaValue::AsDouble() const {
  if (auto* d = std::get_if<double>(&value_)) return *d;
  if (auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
  if (auto* u = std::get_if<uint64_t>(&value_)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> MetaValue::AsBool() const {
  if (auto* b = std::get_if<bool>(&value_)) return *b;
  return std::nullopt;
}

const std::string* MetaValue::AsString() const { return std::get_if<std::string>(&value_); }

const MetaArray* MetaValue::AsArray() const {
  if (auto* a = std::get_if<std::shared_ptr<MetaArray>>(&value_)) return a->get();
  return nullptr;
}

std::string MetaValue::ToString(size_t max_items) const {
  switch (type_) {
    case MetaType::kBool: return *AsBool() ? "true" : "false";
    case MetaType::kString: return trueno::Concat("\"", *AsString(), "\"");
    case MetaType::kFloat32:
    case MetaType::kFloat64: return trueno::Concat(*AsDouble());
    case MetaType::kArray: {
      const MetaArray* a = AsArray();
      std::string out = trueno::Concat("[", MetaTypeName(a->elem_type), " x ", a->items.size(), "]");
      if (a->items.empty()) return out;
      out += " [";
      for (size_t i = 0; i < std::min(max_items, a->items.size()); ++i) {
        if (i) out += ", ";
        out += a->items[i].ToString(max_items);
      }
      if (a->items.size() > max_items) out += ", ...";
      return out + "]";
    }
    default:
      if (auto u = std::get_if<uint64_t>(&value_)) return trueno::Concat(*u);
      if (auto i = std::get_if<int64_t>(&value_)) return trueno::Concat(*i);
      return "?";
  }
}

bool operator==(const MetaValue& a, const MetaValue& b) {
  if (a.type_ != b.type_) return false;
  if (a.type_ == MetaType::kArray) {
    const MetaArray* x = a.AsArray();
    const MetaArray* y = b.AsArray();
    return x->elem_type == y->elem_type && x->items == y->items;
  }
  return a.value_ == b.value_;
}

void Metadata::Set(std::string key, MetaValue value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

const MetaValue* Metadata::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool Metadata::Erase(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == key; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

absl::StatusOr<std::string> Metadata::GetString(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (!v) return absl::NotFoundError(trueno::Concat("metadata key '", key, "' is missing"));
  if (!v->AsString()) {
    return absl::InvalidArgumentError(trueno::Concat("metadata key '", key, "' has type ",
                                                   MetaTypeName(v->type()), ", expected string"));
  }
  return *v->AsString();
}

absl::StatusOr<uint64_t> Metadata::GetUint(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (!v) return absl::NotFoundError(trueno::Concat("metadata key '", key, "' is missing"));
  auto u = v->AsUint();
  if (!u) {
    return absl::InvalidArgumentError(trueno::Concat("metadata key '", key, "' has type ",
                                                   MetaTypeName(v->type()),
                                                   ", expected a non-negative integer"));
  }
  return *u;
}

absl::StatusOr<double> Metadata::GetDouble(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (!v) return absl::NotFoundError(trueno::Concat("metadata key '", key, "' is missing"));
  auto d = v->AsDouble();
  if (!d) {
    return absl::InvalidArgumentError(trueno::Concat("metadata key '", key, "' has type ",
                                                   MetaTypeName(v->type()), ", expected a number"));
  }
  return *d;
}

std::optional<std::string> Metadata::GetStringOr(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (!v || !v->AsString()) return std::nullopt;
  return *v->AsString();
}

}  // namespace aprender
