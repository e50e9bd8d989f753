// Model metadata as an ordered key/value list with GGUF's value types. Every format (GGUF,
// SafeTensors+HF config, .apr) is normalised to this, using GGUF key names
// ("general.architecture", "qwen2.block_count", "tokenizer.ggml.tokens", ...).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace aprender {

// Numeric values are GGUF's gguf_metadata_value_type ids.
enum class MetaType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view MetaTypeName(MetaType t);

class MetaValue;
struct MetaArray {
  MetaType elem_type = MetaType::kUint8;
  std::vector<MetaValue> items;
};

class MetaValue {
 public:
  MetaValue() = default;
  static MetaValue U8(uint8_t v) { return MetaValue(MetaType::kUint8, static_cast<uint64_t>(v)); }
  static MetaValue I8(int8_t v) { return MetaValue(MetaType::kInt8, static_cast<int64_t>(v)); }
  static MetaValue U16(uint16_t v) { return MetaValue(MetaType::kUint16, static_cast<uint64_t>(v)); }
  static MetaValue I16(int16_t v) { return MetaValue(MetaType::kInt16, static_cast<int64_t>(v)); }
  static MetaValue U32(uint32_t v) { return MetaValue(MetaType::kUint32, static_cast<uint64_t>(v)); }
  static MetaValue I32(int32_t v) { return MetaValue(MetaType::kInt32, static_cast<int64_t>(v)); }
  static MetaValue U64(uint64_t v) { return MetaValue(MetaType::kUint64, v); }
  static MetaValue I64(int64_t v) { return MetaValue(MetaType::kInt64, v); }
  static MetaValue F32(float v) { return MetaValue(MetaType::kFloat32, static_cast<double>(v)); }
  static MetaValue F64(double v) { return MetaValue(MetaType::kFloat64, v); }
  static MetaValue Bool(bool v) { return MetaValue(MetaType::kBool, v); }
  static MetaValue String(std::string v) { return MetaValue(MetaType::kString, std::move(v)); }
  static MetaValue Array(MetaArray v) {
    return MetaValue(MetaType::kArray, std::make_shared<MetaArray>(std::move(v)));
  }
  static MetaValue StringArray(std::vector<std::string> v);
  static MetaValue F32Array(const std::vector<float>& v);
  static MetaValue I32Array(const std::vector<int32_t>& v);

  MetaType type() const { return type_; }
  bool is_integer() const;
  bool is_number() const;  // integer or float

  // Typed access; nullopt when the stored type does not convert without loss.
  std::optional<uint64_t> AsUint() const;
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;
  const MetaArray* AsArray() const;

  // Human-readable rendering for `apr info` (arrays abbreviated after `max_items`).
  std::string ToString(size_t max_items = 8) const;

  friend bool operator==(const MetaValue& a, const MetaValue& b);

 private:
  using Storage = std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string,
                               std::shared_ptr<MetaArray>>;
  MetaValue(MetaType t, Storage s) : type_(t), value_(std::move(s)) {}
  MetaType type_ = MetaType::kUint8;
  Storage value_;
};

// Insertion-ordered map; keys are unique (Set replaces).
class Metadata {
 public:
  void Set(std::string key, MetaValue value);
  const MetaValue* Find(std::string_view key) const;
  bool Erase(std::string_view key);
  const std::vector<std::pair<std::string, MetaValue>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

  // Convenience getters returning a clear error that names the key when missing or mistyped.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  absl::StatusOr<double> GetDouble(std::string_view key) const;
  std::optional<std::string> GetStringOr(std::string_view key) const;

  friend bool operator==(const Metadata& a, const Metadata& b) { return a.entries_ == b.entries_; }

 private:
  std::vector<std::pair<std::string, MetaValue>> entries_;
};

}  // namespace aprender
