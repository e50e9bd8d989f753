// SafeTensors reader: an 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and byte span, then the tensor bytes. Every field is checked before use; tensor
// data stays in the mapped file (zero-copy).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "aprender/mapped_file.h"
#include "aprender/safetensors.h"
#include "hf_json.h"
#include "safetensors_dtype.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace json = boost::json;
using hf_internal::AsInt;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit
constexpr size_t kMaxDims = 8;
constexpr uint64_t kMaxIndexBytes = 64ull << 20;

struct Span {
  uint64_t begin, end;
  size_t tensor;
};

absl::StatusOr<Tensor> ParseTensorEntry(const std::string& name, const json::value& entry,
                                        const std::string& where, Span& span) {
  const json::object* obj = entry.if_object();
  if (obj == nullptr) {
    return absl::DataLossError(
        trueno::Concat(where, ": tensor \"", name, "\": entry is not a JSON object"));
  }
  const auto dtype_name = hf_internal::GetString(*obj, "dtype");
  if (!dtype_name) {
    return absl::DataLossError(
        trueno::Concat(where, ": tensor \"", name, "\": missing string field \"dtype\""));
  }
  const auto dtype = safetensors_internal::DTypeFromSafetensors(*dtype_name);
  if (!dtype) {
    return absl::UnimplementedError(trueno::Concat(
        where, ": tensor \"", name, "\" has dtype ", *dtype_name,
        " which apr does not support (supported: F32, F16, BF16, F64, I8, I16, I32, I64)"));
  }
  const json::array* shape = hf_internal::GetArray(*obj, "shape");
  if (shape == nullptr || shape->size() > kMaxDims) {
    return absl::DataLossError(trueno::Concat(where, ": tensor \"", name,
                                              "\": \"shape\" must be an array of at most ",
                                              kMaxDims, " non-negative integers"));
  }
  Tensor t;
  t.name = name;
  t.type = *dtype;
  for (auto it = shape->rbegin(); it != shape->rend(); ++it) {  // row-major -> GGML order
    const auto d = AsInt(*it);
    if (!d || *d < 0) {
      return absl::DataLossError(trueno::Concat(where, ": tensor \"", name,
                                                "\": shape entries must be non-negative integers"));
    }
    t.dims.push_back(static_cast<uint64_t>(*d));
  }
  const json::array* offsets = hf_internal::GetArray(*obj, "data_offsets");
  if (offsets == nullptr || offsets->size() != 2 || !AsInt((*offsets)[0]) ||
      !AsInt((*offsets)[1]) || *AsInt((*offsets)[0]) < 0 || *AsInt((*offsets)[1]) < 0) {
    return absl::DataLossError(trueno::Concat(
        where, ": tensor \"", name, "\": \"data_offsets\" must be [begin, end] byte offsets"));
  }
  span.begin = static_cast<uint64_t>(*AsInt((*offsets)[0]));
  span.end = static_cast<uint64_t>(*AsInt((*offsets)[1]));
  if (span.end < span.begin) {
    return absl::DataLossError(trueno::Concat(where, ": tensor \"", name, "\": data_offsets [",
                                              span.begin, ", ", span.end, "] end before begin"));
  }
  auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
  if (!elems.ok()) {
    return absl::DataLossError(
        trueno::Concat(where, ": tensor \"", name, "\": shape overflows 64 bits"));
  }
  auto bytes = trueno::ByteSize(t.type, *elems);
  if (!bytes.ok() || *bytes != span.end - span.begin) {
    return absl::DataLossError(trueno::Concat(
        where, ": tensor \"", name, "\": ", *dtype_name, " shape with ", *elems, " elements needs ",
        bytes.ok() ? *bytes : 0, " bytes but data_offsets span ", span.end - span.begin));
  }
  return t;
}

}  // namespace

absl::StatusOr<ModelFile> ParseSafetensors(std::span<const uint8_t> bytes,
                                           const std::string& name) {
  if (bytes.size() < 8) {
    return absl::DataLossError(
        trueno::Concat(name, ": ", bytes.size(),
                       " bytes is too short for a SafeTensors file (8-byte header size)"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
    return absl::DataLossError(
        trueno::Concat(name, ": header size ", header_len, " exceeds the file (", bytes.size(),
                       " bytes) or the 100 MB limit; the file is truncated or not SafeTensors"));
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8),
                                static_cast<size_t>(header_len));
  if (header.empty() || header.front() != '{') {
    return absl::DataLossError(
        trueno::Concat(name, ": header does not start with '{'; not a SafeTensors file"));
  }
  APR_ASSIGN_OR_RETURN(json::value root, hf_internal::ParseJson(header, name + " header"));
  const json::object* obj = root.if_object();
  if (obj == nullptr) {
    return absl::DataLossError(trueno::Concat(name, ": header is not a JSON object"));
  }
  APR_ASSIGN_OR_RETURN(auto duplicate, hf_internal::FindDuplicateTopLevelKey(header));
  if (duplicate) {
    return absl::DataLossError(
        trueno::Concat(name, ": tensor name \"", *duplicate, "\" appears twice in the header"));
  }
  const std::span<const uint8_t> data = bytes.subspan(8 + static_cast<size_t>(header_len));

  ModelFile model;
  model.format = FileFormat::kSafetensors;
  model.path = name;
  std::vector<Span> spans;
  spans.reserve(obj->size());
  for (const auto& kv : *obj) {
    const std::string key(kv.key().data(), kv.key().size());
    if (key == "__metadata__") {
      const json::object* meta = kv.value().if_object();
      if (meta == nullptr) {
        return absl::DataLossError(trueno::Concat(name, ": \"__metadata__\" must be an object"));
      }
      for (const auto& m : *meta) {
        const json::string* s = m.value().if_string();
        if (s == nullptr) {
          return absl::DataLossError(trueno::Concat(name, ": __metadata__ value \"",
                                                    std::string(m.key()), "\" is not a string"));
        }
        model.metadata.Set(std::string(m.key()), MetaValue::String(std::string(*s)));
      }
      continue;
    }
    Span span{};
    APR_ASSIGN_OR_RETURN(Tensor t, ParseTensorEntry(key, kv.value(), name, span));
    span.tensor = model.tensors.size();
    spans.push_back(span);
    model.tensors.push_back(std::move(t));
  }

  // The spans must tile the data section exactly: sorted, gap-free, non-overlapping.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Span& s : spans) {
    const std::string& tname = model.tensors[s.tensor].name;
    if (s.end > data.size()) {
      return absl::DataLossError(trueno::Concat(name, ": tensor \"", tname, "\": data_offsets [",
                                                s.begin, ", ", s.end, "] run past the ",
                                                data.size(), "-byte data section (truncated?)"));
    }
    if (s.begin < cursor) {
      return absl::DataLossError(
          trueno::Concat(name, ": tensor \"", tname, "\" overlaps the previous tensor's bytes"));
    }
    if (s.begin > cursor) {
      return absl::DataLossError(trueno::Concat(name, ": tensor \"", tname, "\" starts at ",
                                                s.begin, " leaving a gap after byte ", cursor));
    }
    cursor = s.end;
    model.tensors[s.tensor].data =
        data.subspan(static_cast<size_t>(s.begin), static_cast<size_t>(s.end - s.begin));
  }
  if (cursor != data.size()) {
    return absl::DataLossError(trueno::Concat(name, ": ", data.size() - cursor,
                                              " bytes after the last tensor are not described"));
  }
  return model;
}

namespace {

absl::StatusOr<ModelFile> ReadSingle(const std::string& path) {
  APR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  APR_ASSIGN_OR_RETURN(ModelFile model, ParseSafetensors(file->bytes(), path));
  model.mapped.push_back(file->bytes());
  model.storage.push_back(file);
  return model;
}

absl::StatusOr<ModelFile> ReadSharded(const std::string& index_path) {
  APR_ASSIGN_OR_RETURN(json::value root, hf_internal::ReadJsonFile(index_path, kMaxIndexBytes));
  const json::object* obj = root.if_object();
  const json::object* weight_map = obj ? hf_internal::GetObject(*obj, "weight_map") : nullptr;
  if (weight_map == nullptr) {
    return absl::DataLossError(
        trueno::Concat(index_path, ": missing object \"weight_map\" (tensor name -> shard file)"));
  }
  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::vector<std::string> shard_order;
  std::map<std::string, ModelFile> shards;
  for (const auto& kv : *weight_map) {
    const json::string* shard = kv.value().if_string();
    if (shard == nullptr) {
      return absl::DataLossError(trueno::Concat(index_path, ": weight_map entry \"",
                                                std::string(kv.key()), "\" is not a file name"));
    }
    const std::string file(shard->data(), shard->size());
    // Shards are siblings of the index: refuse paths that would escape the directory.
    if (file.empty() || file.find('/') != std::string::npos ||
        file.find('\\') != std::string::npos || file == "." || file == "..") {
      return absl::InvalidArgumentError(
          trueno::Concat(index_path, ": shard name \"", file,
                         "\" must be a plain file name in the same directory"));
    }
    if (shards.count(file) == 0) {
      APR_ASSIGN_OR_RETURN(ModelFile m, ReadSingle((dir / file).string()));
      shards.emplace(file, std::move(m));
      shard_order.push_back(file);
    }
  }
  ModelFile model;
  model.format = FileFormat::kSafetensors;
  model.path = index_path;
  std::set<std::string> listed;
  for (const auto& kv : *weight_map) {
    const std::string tname(kv.key().data(), kv.key().size());
    const std::string file(kv.value().get_string().data(), kv.value().get_string().size());
    const Tensor* t = shards.at(file).FindTensor(tname);
    if (t == nullptr) {
      return absl::DataLossError(trueno::Concat(index_path, ": tensor \"", tname,
                                                "\" is not in shard ", file, " as the index says"));
    }
    listed.insert(tname);
    model.tensors.push_back(*t);
  }
  for (const std::string& file : shard_order) {
    ModelFile& shard = shards.at(file);
    for (const Tensor& t : shard.tensors) {
      if (listed.count(t.name) == 0) {
        return absl::DataLossError(trueno::Concat(index_path, ": tensor \"", t.name, "\" in shard ",
                                                  file, " is missing from the index weight_map"));
      }
    }
    for (const auto& [key, value] : shard.metadata.entries()) model.metadata.Set(key, value);
    for (auto& s : shard.storage) model.storage.push_back(std::move(s));
  }
  return model;
}

}  // namespace

absl::StatusOr<ModelFile> ReadSafetensors(const std::string& path) {
  if (absl::EndsWith(path, ".index.json")) return ReadSharded(path);
  return ReadSingle(path);
}

}  // namespace aprender
