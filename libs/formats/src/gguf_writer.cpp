// GGUF writer, producing the layout llama.cpp's own writer produces: header, key/values in
// metadata order, tensor infos in tensor order, zero padding to the alignment, then each
// tensor's bytes followed by zero padding to the alignment (offsets are the running sum of the
// padded sizes, so llama.cpp's "offset == expected" check holds).
#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "aprender/gguf.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer emits host-order fields");

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";
constexpr uint32_t kMaxDims = 4;
constexpr size_t kMaxNameBytes = 64;    // GGML_MAX_NAME, terminator included
constexpr uint32_t kMaxArrayDepth = 8;  // the reader's limit

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Serialises the header, metadata and tensor infos into memory (they are small); tensor data is
// streamed from the caller's spans.
class HeaderBuffer {
 public:
  template <typename T>
  void Put(T v) {
    const size_t n = buf_.size();
    buf_.resize(n + sizeof(T));
    std::memcpy(buf_.data() + n, &v, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  void Pad(uint64_t alignment) { buf_.resize(AlignUp(buf_.size(), alignment), 0); }
  const std::vector<char>& bytes() const { return buf_; }

 private:
  std::vector<char> buf_;
};

absl::Status PutValue(HeaderBuffer& out, const MetaValue& v, MetaType type, std::string_view key,
                      uint32_t depth) {
  if (v.type() != type) {
    return absl::InvalidArgumentError(trueno::Concat(
        "GGUF write: metadata key '", key, "' holds a ", MetaTypeName(v.type()),
        " inside an array of ", MetaTypeName(type), " (array elements must share one type)"));
  }
  const std::optional<uint64_t> u = v.AsUint();
  const std::optional<int64_t> i = v.AsInt();
  const std::optional<double> d = v.AsDouble();
  const std::optional<bool> b = v.AsBool();
  const bool is_unsigned = type == MetaType::kUint8 || type == MetaType::kUint16 ||
                           type == MetaType::kUint32 || type == MetaType::kUint64;
  const bool is_signed = type == MetaType::kInt8 || type == MetaType::kInt16 ||
                         type == MetaType::kInt32 || type == MetaType::kInt64;
  const bool is_float = type == MetaType::kFloat32 || type == MetaType::kFloat64;
  if ((is_unsigned && !u) || (is_signed && !i) || (is_float && !d) ||
      (type == MetaType::kBool && !b) || (type == MetaType::kString && !v.AsString()) ||
      (type == MetaType::kArray && !v.AsArray())) {
    return absl::InvalidArgumentError(trueno::Concat("GGUF write: metadata key '", key,
                                                     "' has type ", MetaTypeName(type),
                                                     " but holds no value of that type"));
  }
  switch (type) {
    case MetaType::kUint8:
      out.Put<uint8_t>(static_cast<uint8_t>(*u));
      break;
    case MetaType::kInt8:
      out.Put<int8_t>(static_cast<int8_t>(*i));
      break;
    case MetaType::kUint16:
      out.Put<uint16_t>(static_cast<uint16_t>(*u));
      break;
    case MetaType::kInt16:
      out.Put<int16_t>(static_cast<int16_t>(*i));
      break;
    case MetaType::kUint32:
      out.Put<uint32_t>(static_cast<uint32_t>(*u));
      break;
    case MetaType::kInt32:
      out.Put<int32_t>(static_cast<int32_t>(*i));
      break;
    case MetaType::kUint64:
      out.Put<uint64_t>(*u);
      break;
    case MetaType::kInt64:
      out.Put<int64_t>(*i);
      break;
    case MetaType::kFloat32:
      out.Put<float>(static_cast<float>(*d));
      break;
    case MetaType::kFloat64:
      out.Put<double>(*d);
      break;
    case MetaType::kBool:
      out.Put<uint8_t>(*b ? 1 : 0);
      break;
    case MetaType::kString:
      out.PutString(*v.AsString());
      break;
    case MetaType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return absl::InvalidArgumentError(trueno::Concat(
            "GGUF write: metadata key '", key, "' nests arrays deeper than ", kMaxArrayDepth));
      }
      const MetaArray* a = v.AsArray();
      out.Put<uint32_t>(static_cast<uint32_t>(a->elem_type));
      out.Put<uint64_t>(a->items.size());
      for (const MetaValue& item : a->items) {
        APR_RETURN_IF_ERROR(PutValue(out, item, a->elem_type, key, depth + 1));
      }
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTensor(const Tensor& t, std::unordered_set<std::string_view>& names) {
  if (!names.insert(t.name).second) {
    return absl::InvalidArgumentError(
        trueno::Concat("GGUF write: tensor '", t.name, "' appears twice (names must be unique)"));
  }
  if (t.name.size() >= kMaxNameBytes) {
    return absl::InvalidArgumentError(
        trueno::Concat("GGUF write: tensor name '", t.name, "' is ", t.name.size(),
                       " bytes; llama.cpp accepts at most ", kMaxNameBytes - 1));
  }
  if (t.dims.size() > kMaxDims) {
    return absl::InvalidArgumentError(trueno::Concat("GGUF write: tensor '", t.name, "' has ",
                                                     t.dims.size(), " dims (GGUF allows 4)"));
  }
  auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
  if (!elems.ok()) {
    return absl::InvalidArgumentError(trueno::Concat("GGUF write: tensor '", t.name,
                                                     "': ", std::string(elems.status().message())));
  }
  const std::optional<trueno::DTypeTraits> traits =
      trueno::GetDTypeTraits(static_cast<uint32_t>(t.type));
  if (!traits) {
    return absl::InvalidArgumentError(trueno::Concat(
        "GGUF write: tensor '", t.name, "' has unknown type id ", static_cast<uint32_t>(t.type)));
  }
  const uint32_t block = traits->block_elems;
  if (!t.dims.empty() && t.dims[0] % block != 0) {
    return absl::InvalidArgumentError(trueno::Concat(
        "GGUF write: tensor '", t.name, "' row length ", t.dims[0], " is not a multiple of the ",
        trueno::DTypeName(t.type), " block size ", block));
  }
  auto size = trueno::ByteSize(t.type, *elems);
  if (!size.ok()) {
    return absl::InvalidArgumentError(trueno::Concat("GGUF write: tensor '", t.name,
                                                     "': ", std::string(size.status().message())));
  }
  if (*size != t.data.size()) {
    return absl::InvalidArgumentError(trueno::Concat(
        "GGUF write: tensor '", t.name, "' has ", t.data.size(), " data bytes, expected ", *size,
        " for ", *elems, " ", trueno::DTypeName(t.type), " elements"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteGguf(const ModelFile& model, const std::string& path,
                       const GgufWriteOptions& options) {
  if (options.version != 2 && options.version != 3) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": cannot write GGUF version ",
                                                     options.version, " (expected 2 or 3)"));
  }
  const uint32_t alignment = options.alignment;
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": GGUF alignment ", alignment, " is not a power of two"));
  }
  std::unordered_set<std::string_view> names;
  for (const Tensor& t : model.tensors) {
    absl::Status s = CheckTensor(t, names);
    if (!s.ok())
      return absl::Status(s.code(), trueno::Concat(path, ": ", std::string(s.message())));
  }

  // general.alignment always states the alignment actually used, when present or not 32.
  const bool have_alignment_key = model.metadata.Find(kAlignmentKey) != nullptr;
  const bool add_alignment_key = !have_alignment_key && alignment != kDefaultAlignment;
  HeaderBuffer head;
  head.Put(kMagic[0]);
  head.Put(kMagic[1]);
  head.Put(kMagic[2]);
  head.Put(kMagic[3]);
  head.Put<uint32_t>(options.version);
  head.Put<uint64_t>(model.tensors.size());
  head.Put<uint64_t>(model.metadata.size() + (add_alignment_key ? 1 : 0));
  for (const auto& [key, value] : model.metadata.entries()) {
    head.PutString(key);
    if (key == kAlignmentKey) {
      head.Put<uint32_t>(static_cast<uint32_t>(MetaType::kUint32));
      head.Put<uint32_t>(alignment);
      continue;
    }
    head.Put<uint32_t>(static_cast<uint32_t>(value.type()));
    absl::Status s = PutValue(head, value, value.type(), key, 0);
    if (!s.ok())
      return absl::Status(s.code(), trueno::Concat(path, ": ", std::string(s.message())));
  }
  if (add_alignment_key) {
    head.PutString(kAlignmentKey);
    head.Put<uint32_t>(static_cast<uint32_t>(MetaType::kUint32));
    head.Put<uint32_t>(alignment);
  }
  uint64_t offset = 0;
  for (const Tensor& t : model.tensors) {
    head.PutString(t.name);
    head.Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) head.Put<uint64_t>(d);
    head.Put<uint32_t>(static_cast<uint32_t>(t.type));
    head.Put<uint64_t>(offset);
    offset += AlignUp(t.data.size(), alignment);
  }
  head.Pad(alignment);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      return absl::PermissionDeniedError(trueno::Concat(tmp, ": cannot open for writing"));
    }
    out.write(head.bytes().data(), static_cast<std::streamsize>(head.bytes().size()));
    static const char kZeros[256] = {};
    for (const Tensor& t : model.tensors) {
      out.write(reinterpret_cast<const char*>(t.data.data()),
                static_cast<std::streamsize>(t.data.size()));
      uint64_t pad = AlignUp(t.data.size(), alignment) - t.data.size();
      while (pad > 0 && out) {
        const uint64_t n = std::min<uint64_t>(pad, sizeof(kZeros));
        out.write(kZeros, static_cast<std::streamsize>(n));
        pad -= n;
      }
    }
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return absl::ResourceExhaustedError(
          trueno::Concat(tmp, ": write failed (disk full or I/O error)"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    return absl::PermissionDeniedError(
        trueno::Concat(path, ": cannot rename ", tmp, " into place: ", why));
  }
  return absl::OkStatus();
}

}  // namespace aprender
