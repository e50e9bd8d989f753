// GGUF v2/v3 reader. The layout (all little-endian):
//   "GGUF" u32 version  u64 n_tensors  u64 n_kv
//   n_kv × { string key, u32 value_type, value }
//   n_tensors × { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the data section; tensor offsets are
//   relative to the data section and multiples of the alignment.
// A string is u64 length + bytes (no terminator, not necessarily UTF-8). An array value is
// u32 element type + u64 count + elements without type tags; arrays may nest.
//
// The input is hostile: every count is checked against the bytes left before anything is
// allocated from it, and every error names the file, the byte offset and the field.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "aprender/gguf.h"
#include "aprender/mapped_file.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader memcpy()s little-endian fields");

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint64_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";

// Limits that no real model comes near; they bound work and memory for hostile files.
constexpr uint32_t kMaxArrayDepth = 8;          // arrays of arrays of ...
constexpr uint64_t kMaxKeyValues = 1u << 14;    // Metadata::Set is linear per key
constexpr uint64_t kMaxMetaItems = 1ull << 24;  // all array elements together (~48 B each)
constexpr uint32_t kMaxDims = 4;                // GGML_MAX_DIMS

// Smallest encoding of one value of `type` (a string is at least its u64 length, an array at
// least its u32 type + u64 count). Zero for an unknown type.
uint64_t MinValueBytes(uint32_t type) {
  switch (static_cast<MetaType>(type)) {
    case MetaType::kUint8:
    case MetaType::kInt8:
    case MetaType::kBool:
      return 1;
    case MetaType::kUint16:
    case MetaType::kInt16:
      return 2;
    case MetaType::kUint32:
    case MetaType::kInt32:
    case MetaType::kFloat32:
      return 4;
    case MetaType::kUint64:
    case MetaType::kInt64:
    case MetaType::kFloat64:
    case MetaType::kString:
      return 8;
    case MetaType::kArray:
      return 12;
  }
  return 0;
}

class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  // "<file>: byte offset N: <what>"
  absl::Status Error(absl::StatusCode code, size_t at, std::string_view what) const {
    return absl::Status(code, trueno::Concat(name_, ": byte offset ", at, ": ", what));
  }
  absl::Status Truncated(std::string_view field, uint64_t need) const {
    return Error(absl::StatusCode::kDataLoss, pos_,
                 trueno::Concat(field, " needs ", need, " bytes but only ", remaining(),
                                " remain (file truncated or corrupt)"));
  }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view field) {
    if (remaining() < sizeof(T)) return Truncated(field, sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));  // little-endian host (checked in header)
    pos_ += sizeof(T);
    return v;
  }

  absl::StatusOr<std::string> ReadString(std::string_view field) {
    const size_t at = pos_;
    APR_ASSIGN_OR_RETURN(const uint64_t len, Read<uint64_t>(field));
    if (len > remaining()) {
      return Error(absl::StatusCode::kDataLoss, at,
                   trueno::Concat(field, ": string length ", len, " exceeds the ", remaining(),
                                  " bytes left in the file (truncated or corrupt)"));
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  size_t pos_ = 0;
};

class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, const std::string& name)
      : bytes_(bytes), name_(name), in_(bytes, name) {}

  absl::StatusOr<ModelFile> Parse();

 private:
  absl::Status ParseHeader();
  absl::Status ParseKeyValue(uint64_t index);
  absl::StatusOr<MetaValue> ParseValue(uint32_t type, std::string_view field, uint32_t depth);
  absl::StatusOr<MetaValue> ParseArray(std::string_view field, uint32_t depth);
  absl::Status ApplyAlignment();
  absl::Status ParseTensorInfo(uint64_t index);
  absl::Status PlaceTensors();

  std::span<const uint8_t> bytes_;
  const std::string& name_;
  Reader in_;
  ModelFile model_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t meta_items_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  std::vector<uint64_t> offsets_;  // per tensor, relative to the data section
  std::vector<uint64_t> sizes_;    // per tensor, bytes
  std::vector<size_t> info_pos_;   // per tensor, byte offset of its info record
};

absl::Status GgufParser::ParseHeader() {
  if (bytes_.size() < 4 || std::memcmp(bytes_.data(), kMagic, 4) != 0) {
    return absl::InvalidArgumentError(
        trueno::Concat(name_, ": not a GGUF file (expected magic \"GGUF\" at byte 0)"));
  }
  (void)in_.Read<uint32_t>("magic");
  APR_ASSIGN_OR_RETURN(const uint32_t version, in_.Read<uint32_t>("header version"));
  if (version == 1) {
    return absl::UnimplementedError(trueno::Concat(
        name_,
        ": GGUF version 1 is not supported (expected version 2 or 3; re-convert the model "
        "with a current llama.cpp)"));
  }
  if ((version & 0xFFFFu) == 0 && version != 0) {
    return absl::UnimplementedError(
        trueno::Concat(name_, ": big-endian GGUF is not supported (version field reads ", version,
                       " on this little-endian host)"));
  }
  if (version != 2 && version != 3) {
    return in_.Error(
        absl::StatusCode::kUnimplemented, 4,
        trueno::Concat("GGUF version ", version, " is not supported (expected 2 or 3)"));
  }
  model_.version = version;
  APR_ASSIGN_OR_RETURN(n_tensors_, in_.Read<uint64_t>("header tensor_count"));
  APR_ASSIGN_OR_RETURN(n_kv_, in_.Read<uint64_t>("header metadata_kv_count"));
  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info at least
  // 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  const uint64_t left = in_.remaining();
  if (n_kv_ > left / 13 || n_kv_ > kMaxKeyValues) {
    return in_.Error(absl::StatusCode::kDataLoss, 16,
                     trueno::Concat("metadata_kv_count ", n_kv_, " is implausible (", left,
                                    " bytes follow the header; at most ",
                                    std::min<uint64_t>(left / 13, kMaxKeyValues), " fit)"));
  }
  if (n_tensors_ > (left - n_kv_ * 13) / 24) {
    return in_.Error(absl::StatusCode::kDataLoss, 8,
                     trueno::Concat("tensor_count ", n_tensors_, " is implausible (", left,
                                    " bytes follow the header; each tensor info needs >= 24)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MetaValue> GgufParser::ParseArray(std::string_view field, uint32_t depth) {
  const size_t at = in_.pos();
  if (depth >= kMaxArrayDepth) {
    return in_.Error(
        absl::StatusCode::kDataLoss, at,
        trueno::Concat(field, ": arrays nested deeper than ", kMaxArrayDepth, " levels"));
  }
  APR_ASSIGN_OR_RETURN(const uint32_t elem_type, in_.Read<uint32_t>(field));
  const uint64_t min_bytes = MinValueBytes(elem_type);
  if (min_bytes == 0) {
    return in_.Error(
        absl::StatusCode::kDataLoss, at,
        trueno::Concat(field, ": unknown array element type ", elem_type, " (expected 0..12)"));
  }
  APR_ASSIGN_OR_RETURN(const uint64_t count, in_.Read<uint64_t>(field));
  if (count > in_.remaining() / min_bytes) {
    return in_.Error(absl::StatusCode::kDataLoss, at + 4,
                     trueno::Concat(field, ": array of ", count, " ",
                                    MetaTypeName(static_cast<MetaType>(elem_type)),
                                    " cannot fit in the ", in_.remaining(), " bytes left"));
  }
  meta_items_ += count;
  if (meta_items_ > kMaxMetaItems) {
    return in_.Error(absl::StatusCode::kResourceExhausted, at + 4,
                     trueno::Concat(field, ": metadata arrays hold more than ", kMaxMetaItems,
                                    " elements in total"));
  }
  MetaArray array;
  array.elem_type = static_cast<MetaType>(elem_type);
  array.items.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    APR_ASSIGN_OR_RETURN(MetaValue item, ParseValue(elem_type, field, depth + 1));
    array.items.push_back(std::move(item));
  }
  return MetaValue::Array(std::move(array));
}

absl::StatusOr<MetaValue> GgufParser::ParseValue(uint32_t type, std::string_view field,
                                                 uint32_t depth) {
  switch (static_cast<MetaType>(type)) {
    case MetaType::kUint8: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<uint8_t>(field));
      return MetaValue::U8(v);
    }
    case MetaType::kInt8: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<int8_t>(field));
      return MetaValue::I8(v);
    }
    case MetaType::kUint16: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<uint16_t>(field));
      return MetaValue::U16(v);
    }
    case MetaType::kInt16: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<int16_t>(field));
      return MetaValue::I16(v);
    }
    case MetaType::kUint32: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<uint32_t>(field));
      return MetaValue::U32(v);
    }
    case MetaType::kInt32: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<int32_t>(field));
      return MetaValue::I32(v);
    }
    case MetaType::kUint64: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<uint64_t>(field));
      return MetaValue::U64(v);
    }
    case MetaType::kInt64: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<int64_t>(field));
      return MetaValue::I64(v);
    }
    case MetaType::kFloat32: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<float>(field));
      return MetaValue::F32(v);
    }
    case MetaType::kFloat64: {
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<double>(field));
      return MetaValue::F64(v);
    }
    case MetaType::kBool: {
      const size_t at = in_.pos();
      APR_ASSIGN_OR_RETURN(auto v, in_.Read<uint8_t>(field));
      if (v > 1) {
        return in_.Error(
            absl::StatusCode::kDataLoss, at,
            trueno::Concat(field, ": bool byte is ", static_cast<int>(v), " (expected 0 or 1)"));
      }
      return MetaValue::Bool(v != 0);
    }
    case MetaType::kString: {
      APR_ASSIGN_OR_RETURN(auto s, in_.ReadString(field));
      return MetaValue::String(std::move(s));
    }
    case MetaType::kArray:
      return ParseArray(field, depth);
  }
  return in_.Error(absl::StatusCode::kDataLoss, in_.pos(),
                   trueno::Concat(field, ": unknown value type ", type, " (expected 0..12)"));
}

absl::Status GgufParser::ParseKeyValue(uint64_t index) {
  const size_t at = in_.pos();
  APR_ASSIGN_OR_RETURN(std::string key,
                       in_.ReadString(trueno::Concat("metadata key #", index, " name")));
  const std::string field = trueno::Concat("metadata key '", key, "'");
  if (model_.metadata.Find(key) != nullptr) {
    return in_.Error(absl::StatusCode::kDataLoss, at,
                     trueno::Concat(field, " appears twice (keys must be unique)"));
  }
  const size_t type_at = in_.pos();
  APR_ASSIGN_OR_RETURN(const uint32_t type, in_.Read<uint32_t>(field));
  if (MinValueBytes(type) == 0) {
    return in_.Error(absl::StatusCode::kDataLoss, type_at,
                     trueno::Concat(field, ": unknown value type ", type, " (expected 0..12)"));
  }
  APR_ASSIGN_OR_RETURN(MetaValue value, ParseValue(type, field, 0));
  model_.metadata.Set(std::move(key), std::move(value));
  return absl::OkStatus();
}

absl::Status GgufParser::ApplyAlignment() {
  const MetaValue* v = model_.metadata.Find(kAlignmentKey);
  if (v == nullptr) return absl::OkStatus();
  const std::optional<uint64_t> a = v->AsUint();
  if (!v->is_integer() || !a || *a == 0 || (*a & (*a - 1)) != 0 || *a > (1u << 30)) {
    return absl::DataLossError(
        trueno::Concat(name_, ": metadata key 'general.alignment' is ", v->ToString(),
                       "; expected a power of two between 1 and 2^30 (GGUF default is 32)"));
  }
  alignment_ = *a;
  return absl::OkStatus();
}

absl::Status GgufParser::ParseTensorInfo(uint64_t index) {
  const size_t at = in_.pos();
  info_pos_.push_back(at);
  APR_ASSIGN_OR_RETURN(std::string tname,
                       in_.ReadString(trueno::Concat("tensor info #", index, " name")));
  const std::string field = trueno::Concat("tensor '", tname, "'");
  const size_t dims_at = in_.pos();
  APR_ASSIGN_OR_RETURN(const uint32_t n_dims, in_.Read<uint32_t>(field + " n_dims"));
  if (n_dims > kMaxDims) {
    return in_.Error(
        absl::StatusCode::kDataLoss, dims_at,
        trueno::Concat(field, " has n_dims ", n_dims, " (expected at most ", kMaxDims, ")"));
  }
  Tensor t;
  t.name = std::move(tname);
  t.dims.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    APR_ASSIGN_OR_RETURN(t.dims[d], in_.Read<uint64_t>(field + " dims"));
    if (t.dims[d] > static_cast<uint64_t>(INT64_MAX)) {
      return in_.Error(absl::StatusCode::kDataLoss, in_.pos() - 8,
                       trueno::Concat(field, " dim ", d, " is ", t.dims[d], " (expected < 2^63)"));
    }
  }
  const size_t type_at = in_.pos();
  APR_ASSIGN_OR_RETURN(const uint32_t raw_type, in_.Read<uint32_t>(field + " type"));
  const std::optional<trueno::DTypeTraits> traits = trueno::GetDTypeTraits(raw_type);
  if (!traits) {
    return in_.Error(
        absl::StatusCode::kUnimplemented, type_at,
        trueno::Concat(field, " has tensor type id ", raw_type, ", which apr does not support"));
  }
  t.type = traits->type;
  const size_t offset_at = in_.pos();
  APR_ASSIGN_OR_RETURN(const uint64_t offset, in_.Read<uint64_t>(field + " offset"));

  auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
  if (!elems.ok()) {
    return in_.Error(absl::StatusCode::kDataLoss, dims_at,
                     trueno::Concat(field, ": ", std::string(elems.status().message())));
  }
  if (n_dims > 0 && t.dims[0] % traits->block_elems != 0) {
    return in_.Error(
        absl::StatusCode::kDataLoss, dims_at,
        trueno::Concat(field, ": row length dims[0] = ", t.dims[0], " is not a multiple of the ",
                       traits->name, " block size ", traits->block_elems));
  }
  auto size = trueno::ByteSize(t.type, *elems);
  if (!size.ok()) {
    return in_.Error(absl::StatusCode::kDataLoss, dims_at,
                     trueno::Concat(field, ": ", std::string(size.status().message())));
  }
  if (offset % alignment_ != 0) {
    return in_.Error(absl::StatusCode::kDataLoss, offset_at,
                     trueno::Concat(field, " data offset ", offset,
                                    " is not a multiple of the alignment ", alignment_));
  }
  offsets_.push_back(offset);
  sizes_.push_back(*size);
  model_.tensors.push_back(std::move(t));
  return absl::OkStatus();
}

absl::Status GgufParser::PlaceTensors() {
  // The data section starts at the first aligned offset after the tensor infos. Files without
  // tensor data may end before that padding; treat the section as empty then.
  const uint64_t end_of_infos = in_.pos();
  const uint64_t data_start = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t file_size = bytes_.size();
  const uint64_t data_size = data_start < file_size ? file_size - data_start : 0;

  for (size_t i = 0; i < model_.tensors.size(); ++i) {
    if (offsets_[i] > data_size || sizes_[i] > data_size - offsets_[i]) {
      return in_.Error(absl::StatusCode::kDataLoss, info_pos_[i],
                       trueno::Concat("tensor '", model_.tensors[i].name, "' data [", offsets_[i],
                                      ", +", sizes_[i], ") lies outside the data section of ",
                                      data_size, " bytes starting at byte ", data_start,
                                      " (file truncated or offset corrupt)"));
    }
    const size_t begin = static_cast<size_t>(std::min(data_start + offsets_[i], file_size));
    model_.tensors[i].data = bytes_.subspan(begin, static_cast<size_t>(sizes_[i]));
  }

  // No two tensors may share bytes (zero-length tensors occupy none).
  std::vector<size_t> order;
  for (size_t i = 0; i < model_.tensors.size(); ++i) {
    if (sizes_[i] > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return offsets_[a] < offsets_[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    const size_t prev = order[k - 1];
    const size_t cur = order[k];
    if (offsets_[prev] + sizes_[prev] > offsets_[cur]) {
      return in_.Error(
          absl::StatusCode::kDataLoss, info_pos_[cur],
          trueno::Concat("tensor '", model_.tensors[cur].name, "' data at offset ", offsets_[cur],
                         " overlaps tensor '", model_.tensors[prev].name, "' [", offsets_[prev],
                         ", +", sizes_[prev], ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelFile> GgufParser::Parse() {
  model_.format = FileFormat::kGguf;
  model_.path = name_;
  APR_RETURN_IF_ERROR(ParseHeader());
  for (uint64_t i = 0; i < n_kv_; ++i) APR_RETURN_IF_ERROR(ParseKeyValue(i));
  APR_RETURN_IF_ERROR(ApplyAlignment());

  // Re-check against what is left now that the metadata has been consumed.
  if (n_tensors_ > in_.remaining() / 24) {
    return in_.Error(
        absl::StatusCode::kDataLoss, 8,
        trueno::Concat("tensor_count ", n_tensors_, " is implausible (", in_.remaining(),
                       " bytes follow the metadata; each tensor info "
                       "needs >= 24)"));
  }
  model_.tensors.reserve(static_cast<size_t>(n_tensors_));
  std::unordered_set<std::string_view> names;
  for (uint64_t i = 0; i < n_tensors_; ++i) {
    APR_RETURN_IF_ERROR(ParseTensorInfo(i));
  }
  // Names are checked after parsing so the views stay valid (no more push_back).
  for (size_t i = 0; i < model_.tensors.size(); ++i) {
    if (!names.insert(model_.tensors[i].name).second) {
      return in_.Error(absl::StatusCode::kDataLoss, info_pos_[i],
                       trueno::Concat("tensor '", model_.tensors[i].name,
                                      "' appears twice (tensor names must be unique)"));
    }
  }
  APR_RETURN_IF_ERROR(PlaceTensors());
  return std::move(model_);
}

}  // namespace

absl::StatusOr<ModelFile> ParseGguf(std::span<const uint8_t> bytes, const std::string& name) {
  GgufParser parser(bytes, name);
  return parser.Parse();
}

absl::StatusOr<ModelFile> ReadGguf(const std::string& path) {
  APR_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  APR_ASSIGN_OR_RETURN(ModelFile model, ParseGguf(file->bytes(), path));
  model.mapped.push_back(file->bytes());
  model.storage.push_back(std::move(file));
  return model;
}

}  // namespace aprender
