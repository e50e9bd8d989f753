// .apr v2 writer. Section sizes before the data are known up front (the index has fixed-size
// entries once names and dims are known), so tensors are streamed one at a time to their final
// offsets; the header, metadata and index are written afterwards, the file is read back to hash
// the manifest, and the trailer is appended. Everything goes to path + ".tmp", renamed at the end.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "apr_codec.h"
#include "apr_file_io.h"
#include "apr_layout.h"
#include "apr_metadata_json.h"
#include "apr_signing_internal.h"
#include "aprender/apr_format.h"
#include "aprender/mapped_file.h"
#include "aprender/signing.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

using apr_internal::AprIndexEntry;

absl::Status CheckTensors(const ModelFile& model, const std::string& path) {
  std::unordered_set<std::string_view> names;
  for (const Tensor& t : model.tensors) {
    const auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(
          trueno::Concat(path, ": cannot write tensor '", t.name, "': ", what));
    };
    if (t.name.empty() || t.name.size() > apr_internal::kMaxNameLen) {
      return bad(trueno::Concat("name length must be 1..", apr_internal::kMaxNameLen));
    }
    if (!names.insert(t.name).second) return bad("the model has two tensors with this name");
    if (t.dims.size() > apr_internal::kMaxDims) return bad("more than 8 dimensions");
    if (!trueno::GetDTypeTraits(static_cast<uint32_t>(t.type))) return bad("unknown tensor type");
    auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
    if (!elems.ok()) return bad(std::string(elems.status().message()));
    auto bytes = trueno::ByteSize(t.type, *elems);
    if (!bytes.ok()) return bad(std::string(bytes.status().message()));
    if (*bytes != t.data.size()) {
      return bad(
          trueno::Concat("has ", t.data.size(), " data bytes, its type and dims need ", *bytes));
    }
  }
  return absl::OkStatus();
}

apr_internal::AprProvenance MakeProvenance(const ModelFile& model, const AprWriteOptions& options) {
  auto p = apr_internal::CurrentProvenance();
  p.source = options.source_description;
  if (p.source.empty() && !model.path.empty()) {
    p.source = trueno::Concat(FileFormatName(model.format), ":", model.path);
  }
  std::error_code ec;
  if (!model.path.empty() && std::filesystem::is_regular_file(model.path, ec)) {
    if (auto mapped = MappedFile::Open(model.path); mapped.ok()) {
      p.source_sha256 = HexEncode(Sha256((*mapped)->bytes()));
    }
  }
  return p;
}

absl::StatusOr<apr_internal::AprTrailer> MakeTrailer(const apr_internal::Digest& manifest,
                                                     const std::string& signing_key_pem) {
  apr_internal::AprTrailer t;
  t.manifest = manifest;
  if (signing_key_pem.empty()) return t;
  APR_ASSIGN_OR_RETURN(t.public_key, apr_internal::Ed25519RawPublicKey(signing_key_pem));
  APR_ASSIGN_OR_RETURN(auto sig,
                       SignEd25519(signing_key_pem, apr_internal::SignatureMessage(manifest)));
  std::copy(sig.begin(), sig.end(), t.signature.begin());
  t.signature_algo = apr_internal::kSignatureEd25519;
  return t;
}

absl::Status WriteBody(const ModelFile& model, const AprWriteOptions& options,
                       const std::string& path, apr_internal::AprFile& f) {
  using namespace apr_internal;
  const std::string json = EncodeMetadataJson(model.metadata, MakeProvenance(model, options));
  std::vector<AprIndexEntry> index(model.tensors.size());
  uint64_t index_size = 0;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const Tensor& t = model.tensors[i];
    index[i].name = t.name;
    index[i].dtype = static_cast<uint32_t>(t.type);
    index[i].dims = t.dims;
    index[i].raw_size = t.data.size();
    index_size += IndexEntrySize(index[i]);
  }
  AprHeader h;
  h.metadata_offset = kHeaderSize;
  h.metadata_size = json.size();
  h.index_offset = h.metadata_offset + h.metadata_size;
  h.index_size = index_size;
  h.tensor_count = index.size();
  h.data_offset = AlignUp(h.index_offset + h.index_size, kDataAlignment);

  // Data: each tensor at the next 64-byte boundary, compressed when that makes it smaller. The
  // file is new, so the alignment gaps pwrite skips over read back as zeros.
  uint64_t pos = 0;  // relative to data_offset
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const Tensor& t = model.tensors[i];
    AprIndexEntry& e = index[i];
    pos = AlignUp(pos, kDataAlignment);
    e.offset = pos;
    std::vector<uint8_t> packed;
    std::span<const uint8_t> stored = t.data;
    if (options.compression != Compression::kNone && !t.data.empty()) {
      APR_ASSIGN_OR_RETURN(packed, CompressTensor(options.compression, options.level, t.data));
      if (packed.size() < t.data.size()) {
        stored = packed;
        e.compression = options.compression;
      }
    }
    e.stored_size = stored.size();
    e.checksum = Sha256Of(stored);
    APR_RETURN_IF_ERROR(f.WriteAt(h.data_offset + e.offset, stored));
    pos += stored.size();
  }
  h.data_size = pos;
  h.trailer_offset = h.data_offset + h.data_size;
  h.file_size = h.trailer_offset + kTrailerSize;

  std::vector<uint8_t> front;
  front.reserve(h.data_offset);
  const auto header = EncodeHeader(h);
  front.insert(front.end(), header.begin(), header.end());
  front.insert(front.end(), json.begin(), json.end());
  for (const auto& e : index) AppendIndexEntry(e, front);
  front.resize(h.data_offset, 0);
  APR_RETURN_IF_ERROR(f.WriteAt(0, front));

  APR_ASSIGN_OR_RETURN(const Digest manifest, f.HashPrefix(h.trailer_offset));
  APR_ASSIGN_OR_RETURN(const AprTrailer trailer, MakeTrailer(manifest, options.signing_key_pem));
  const auto tb = EncodeTrailer(trailer);
  APR_RETURN_IF_ERROR(f.WriteAt(h.trailer_offset, tb));
  (void)path;
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteApr(const ModelFile& model, const std::string& path,
                      const AprWriteOptions& options) {
  if (options.compression != Compression::kNone && options.compression != Compression::kLz4 &&
      options.compression != Compression::kZstd) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": unknown compression id ",
                                                     static_cast<uint32_t>(options.compression)));
  }
  if (!options.signing_key_pem.empty()) {
    // Fail on a bad key before writing gigabytes.
    APR_RETURN_IF_ERROR(apr_internal::Ed25519RawPublicKey(options.signing_key_pem).status());
  }
  APR_RETURN_IF_ERROR(CheckTensors(model, path));
  APR_ASSIGN_OR_RETURN(auto f, apr_internal::AprFile::CreateTemp(path));
  APR_RETURN_IF_ERROR(WriteBody(model, options, path, *f));
  return f->Commit();
}

}  // namespace aprender
