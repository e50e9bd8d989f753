// SafeTensors writer: JSON header (padded with spaces to a multiple of 8 so tensor data stays
// 8-byte aligned), then the tensors back to back in the model's order.
#include <fstream>
#include <set>

#include "aprender/safetensors.h"
#include "hf_json.h"
#include "safetensors_dtype.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace json = boost::json;

absl::Status WriteSafetensors(const ModelFile& model, const std::string& path) {
  std::string header;
  try {
    json::object root;
    json::object meta;
    for (const auto& [key, value] : model.metadata.entries()) {
      if (const std::string* s = value.AsString()) meta[key] = *s;
    }
    if (!meta.empty()) root["__metadata__"] = std::move(meta);
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const Tensor& t : model.tensors) {
      const auto dtype = safetensors_internal::WritableSafetensorsName(t.type);
      if (!dtype) {
        return absl::InvalidArgumentError(trueno::Concat(
            path, ": tensor \"", t.name, "\" is ", trueno::DTypeName(t.type),
            "; SafeTensors output takes only F32, F16 or BF16 tensors. Use `apr convert` from an "
            "unquantized source (or dequantize first)"));
      }
      if (!names.insert(t.name).second || t.name == "__metadata__") {
        return absl::InvalidArgumentError(
            trueno::Concat(path, ": tensor name \"", t.name, "\" is used twice or reserved"));
      }
      auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
      auto bytes = elems.ok() ? trueno::ByteSize(t.type, *elems) : elems;
      if (!bytes.ok() || *bytes != t.data.size()) {
        return absl::InvalidArgumentError(
            trueno::Concat(path, ": tensor \"", t.name, "\" has ", t.data.size(),
                           " data bytes, which does not match its shape"));
      }
      json::array shape;
      for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) shape.emplace_back(*it);
      json::object entry;
      entry["dtype"] = json::string_view(dtype->data(), dtype->size());
      entry["shape"] = std::move(shape);
      entry["data_offsets"] = json::array{offset, offset + *bytes};
      offset += *bytes;
      root[t.name] = std::move(entry);
    }
    header = json::serialize(root);
  } catch (...) {
    return absl::ResourceExhaustedError(
        trueno::Concat(path, ": out of memory building the header"));
  }
  header.append((8 - header.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(trueno::Concat(path, ": cannot create"));
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const Tensor& t : model.tensors) {
    out.write(reinterpret_cast<const char*>(t.data.data()),
              static_cast<std::streamsize>(t.data.size()));
  }
  out.close();
  if (!out) return absl::DataLossError(trueno::Concat(path, ": write failed (disk full?)"));
  return absl::OkStatus();
}

}  // namespace aprender
