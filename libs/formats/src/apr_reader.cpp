// .apr v2 reader: validates everything (header, metadata, index, per-tensor checksums, manifest,
// signature) before handing out a single tensor, then maps uncompressed tensors zero-copy and
// decompresses the others into owned buffers.
#include <algorithm>
#include <cstring>
#include <new>

#include "apr_codec.h"
#include "apr_parse.h"
#include "apr_signing_internal.h"
#include "aprender/apr_format.h"
#include "aprender/mapped_file.h"
#include "aprender/signing.h"
#include "tbb/parallel_for.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace apr_internal {

std::span<const uint8_t> StoredBytes(std::span<const uint8_t> file, const AprHeader& h,
                                     const AprIndexEntry& e) {
  return file.subspan(h.data_offset + e.offset, e.stored_size);
}

std::vector<std::string> TensorsWithBadChecksums(std::span<const uint8_t> file, const AprHeader& h,
                                                 const std::vector<AprIndexEntry>& index) {
  std::vector<std::span<const uint8_t>> parts;
  parts.reserve(index.size());
  for (const auto& e : index) parts.push_back(StoredBytes(file, h, e));
  const std::vector<Digest> got = Sha256Many(parts);
  std::vector<std::string> bad;
  for (size_t i = 0; i < index.size(); ++i) {
    if (got[i] != index[i].checksum) bad.push_back(index[i].name);
  }
  return bad;
}

Digest ComputeManifest(std::span<const uint8_t> file, const AprHeader& h) {
  return Sha256Of(file.first(h.trailer_offset));
}

absl::Status CheckEmbeddedSignature(const AprTrailer& t, const std::string& file) {
  if (t.signature_algo == kSignatureNone) {
    return absl::FailedPreconditionError(trueno::Concat(file, ": file is not signed"));
  }
  auto pem = Ed25519PublicPemFromRaw(t.public_key);
  if (!pem.ok()) {
    return absl::DataLossError(trueno::Concat(file, ": bad signature: ", pem.status().message()));
  }
  const auto message = SignatureMessage(t.manifest);
  auto s = VerifyEd25519(*pem, message, t.signature);
  if (!s.ok()) {
    return absl::DataLossError(trueno::Concat(
        file,
        ": bad signature: the Ed25519 signature does not match the manifest and the embedded "
        "public key (file tampered with, or signature damaged)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AprValidated> ValidateApr(std::span<const uint8_t> file, const std::string& name) {
  AprValidated v;
  APR_ASSIGN_OR_RETURN(v.header, DecodeHeader(file, name));
  APR_ASSIGN_OR_RETURN(v.trailer, DecodeTrailer(file, v.header, name));
  const auto* meta = reinterpret_cast<const char*>(file.data() + v.header.metadata_offset);
  APR_ASSIGN_OR_RETURN(v.metadata,
                       DecodeMetadataJson(std::string_view(meta, v.header.metadata_size), name));
  APR_ASSIGN_OR_RETURN(v.index, DecodeIndex(file, v.header, name));
  const auto bad = TensorsWithBadChecksums(file, v.header, v.index);
  if (!bad.empty()) {
    return absl::DataLossError(trueno::Concat(
        name, ": tensor '", bad.front(),
        "' checksum mismatch (SHA-256 of its stored bytes differs from the index)",
        bad.size() > 1 ? trueno::Concat(" and ", bad.size() - 1, " more tensor(s)") : std::string(),
        "; the file is corrupt or was modified"));
  }
  if (ComputeManifest(file, v.header) != v.trailer.manifest) {
    return absl::DataLossError(trueno::Concat(
        name,
        ": manifest mismatch: SHA-256 of header+metadata+index+data differs from the trailer; "
        "the file is corrupt or was modified"));
  }
  if (v.trailer.signature_algo != kSignatureNone) {
    APR_RETURN_IF_ERROR(CheckEmbeddedSignature(v.trailer, name));
  }
  return v;
}

}  // namespace apr_internal

namespace {

using apr_internal::AprIndexEntry;

// Decompresses every compressed tensor (in parallel) into its own buffer.
absl::Status MaterializeTensors(std::span<const uint8_t> file, const apr_internal::AprValidated& v,
                                const std::string& name, ModelFile& model) {
  const size_t n = v.index.size();
  std::vector<std::shared_ptr<uint8_t[]>> buffers(n);
  std::vector<absl::Status> status(n);
  tbb::parallel_for(size_t{0}, n, [&](size_t i) {
    const AprIndexEntry& e = v.index[i];
    if (e.compression == Compression::kNone) return;
    const std::string what = trueno::Concat(name, ": tensor '", e.name, "'");
    const auto src = apr_internal::StoredBytes(file, v.header, e);
    auto declared = apr_internal::FrameContentSize(e.compression, src, what);
    if (!declared.ok()) {
      status[i] = declared.status();
      return;
    }
    if (*declared != e.raw_size) {
      status[i] =
          absl::DataLossError(trueno::Concat(what, ": compressed frame declares ", *declared,
                                             " bytes but the index says ", e.raw_size));
      return;
    }
    constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 42;  // 4 TiB: beyond any real tensor
    std::shared_ptr<uint8_t[]> buf(
        e.raw_size > kMaxTensorBytes ? nullptr : new (std::nothrow) uint8_t[e.raw_size]);
    if (!buf) {
      status[i] = absl::ResourceExhaustedError(
          trueno::Concat(what, ": cannot allocate ", e.raw_size, " bytes to decompress it"));
      return;
    }
    status[i] = apr_internal::DecompressTensor(e.compression, src, {buf.get(), e.raw_size}, what);
    buffers[i] = std::move(buf);
  });
  for (const auto& s : status) APR_RETURN_IF_ERROR(s);
  model.tensors.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const AprIndexEntry& e = v.index[i];
    Tensor t;
    t.name = e.name;
    t.type = static_cast<trueno::DType>(e.dtype);
    t.dims = e.dims;
    if (e.compression == Compression::kNone) {
      t.data = apr_internal::StoredBytes(file, v.header, e);
    } else {
      t.data = std::span<const uint8_t>(buffers[i].get(), e.raw_size);
      model.storage.push_back(std::shared_ptr<const void>(buffers[i], buffers[i].get()));
    }
    model.tensors.push_back(std::move(t));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelFile> ParseApr(std::span<const uint8_t> bytes, const std::string& name) {
  APR_ASSIGN_OR_RETURN(auto v, apr_internal::ValidateApr(bytes, name));
  ModelFile model;
  model.format = FileFormat::kApr;
  model.path = name;
  model.version = v.header.version;
  model.metadata = std::move(v.metadata.metadata);
  APR_RETURN_IF_ERROR(MaterializeTensors(bytes, v, name, model));
  return model;
}

absl::StatusOr<ModelFile> ReadApr(const std::string& path) {
  APR_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path));
  APR_ASSIGN_OR_RETURN(auto model, ParseApr(mapped->bytes(), path));
  model.mapped.push_back(mapped->bytes());
  model.storage.push_back(mapped);
  return model;
}

}  // namespace aprender
