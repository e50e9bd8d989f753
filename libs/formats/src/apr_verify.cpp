// VerifyApr (every check reported on its own) and SignApr (adds or replaces the signature).
#include <map>

#include "apr_codec.h"
#include "apr_file_io.h"
#include "apr_parse.h"
#include "apr_signing_internal.h"
#include "aprender/apr_format.h"
#include "aprender/mapped_file.h"
#include "aprender/signing.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

using apr_internal::AprHeader;
using apr_internal::AprIndexEntry;
using apr_internal::AprTrailer;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// A short, stable name for a public key: the first 16 hex digits of SHA-256(raw key).
std::string Fingerprint(std::span<const uint8_t> raw_key) {
  return HexEncode(Sha256(raw_key)).substr(0, 16);
}

std::string ListNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i)
    out += trueno::Concat(i ? ", '" : "'", names[i], "'");
  if (names.size() > 5) out += trueno::Concat(" and ", names.size() - 5, " more");
  return out;
}

AprCheck Skipped(const char* name, const char* because) {
  return {name, false, trueno::Concat("not checked: ", because, " failed")};
}

AprCheck CheckDecompression(std::span<const uint8_t> bytes, const AprHeader& h,
                            const std::vector<AprIndexEntry>& index, const std::string& path) {
  size_t n = 0;
  std::vector<uint8_t> buf;
  for (const auto& e : index) {
    if (e.compression == Compression::kNone) continue;
    ++n;
    const std::string what = trueno::Concat("tensor '", e.name, "'");
    const auto src = apr_internal::StoredBytes(bytes, h, e);
    auto declared = apr_internal::FrameContentSize(e.compression, src, what);
    if (!declared.ok()) return {"decompression", false, Message(declared.status())};
    if (*declared != e.raw_size) {
      return {
          "decompression", false,
          trueno::Concat(what, ": frame declares ", *declared, " bytes, index says ", e.raw_size)};
    }
    try {
      buf.resize(e.raw_size);
    } catch (const std::exception&) {  // bad_alloc or length_error
      return {"decompression", false,
              trueno::Concat(what, ": cannot allocate ", e.raw_size, " bytes")};
    }
    auto s = apr_internal::DecompressTensor(e.compression, src, buf, what);
    if (!s.ok()) return {"decompression", false, Message(s)};
  }
  (void)path;
  return {"decompression", true,
          trueno::Concat(n, " compressed tensor(s) decompress to their declared size")};
}

}  // namespace

absl::StatusOr<std::vector<AprCheck>> VerifyApr(const std::string& path,
                                                const std::string& public_key_pem) {
  std::optional<std::array<uint8_t, 32>> expected_key;
  if (!public_key_pem.empty()) {
    APR_ASSIGN_OR_RETURN(expected_key, apr_internal::Ed25519RawPublicKey(public_key_pem));
  }
  APR_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path));
  const auto bytes = mapped->bytes();
  std::vector<AprCheck> checks;

  auto header = apr_internal::DecodeHeader(bytes, path);
  absl::StatusOr<AprTrailer> trailer = absl::UnknownError("");
  if (header.ok()) trailer = apr_internal::DecodeTrailer(bytes, *header, path);
  if (!header.ok() || !trailer.ok()) {
    checks.push_back({"header", false, Message(header.ok() ? trailer.status() : header.status())});
    for (const char* c :
         {"metadata", "index", "tensor checksums", "decompression", "manifest", "signature"}) {
      checks.push_back(Skipped(c, "header"));
    }
    return checks;
  }
  const AprHeader& h = *header;
  checks.push_back({"header", true,
                    trueno::Concat(".apr v", h.version, ", ", h.file_size, " bytes, ",
                                   h.tensor_count, " tensors")});

  const auto* meta_text = reinterpret_cast<const char*>(bytes.data() + h.metadata_offset);
  auto meta = apr_internal::DecodeMetadataJson(std::string_view(meta_text, h.metadata_size), path);
  if (meta.ok()) {
    const auto& p = meta->provenance;
    checks.push_back(
        {"metadata", true,
         trueno::Concat(
             meta->metadata.size(), " keys; source: ", p.source.empty() ? "unknown" : p.source,
             p.source_sha256.empty() ? "" : trueno::Concat(" (sha256 ", p.source_sha256, ")"),
             "; tool: ", p.tool, "; git: ", p.git_sha, "; created: ", p.created_at)});
  } else {
    checks.push_back({"metadata", false, Message(meta.status())});
  }

  auto index = apr_internal::DecodeIndex(bytes, h, path);
  if (index.ok()) {
    std::map<std::string_view, size_t> by_codec;
    uint64_t stored = 0, raw = 0;
    for (const auto& e : *index) {
      ++by_codec[apr_internal::CompressionName(e.compression)];
      stored += e.stored_size;
      raw += e.raw_size;
    }
    std::string codecs;
    for (const auto& [name, count] : by_codec) codecs += trueno::Concat(", ", count, " ", name);
    checks.push_back({"index", true,
                      trueno::Concat(index->size(), " tensors", codecs, "; ", stored,
                                     " bytes stored, ", raw, " raw")});
    const auto bad = apr_internal::TensorsWithBadChecksums(bytes, h, *index);
    if (bad.empty()) {
      checks.push_back({"tensor checksums", true, trueno::Concat("all ", index->size(), " match")});
    } else {
      checks.push_back(
          {"tensor checksums", false,
           trueno::Concat(bad.size(), " tensor(s) do not match their SHA-256: ", ListNames(bad))});
    }
    if (bad.empty()) {
      checks.push_back(CheckDecompression(bytes, h, *index, path));
    } else {
      checks.push_back(Skipped("decompression", "tensor checksums"));
    }
  } else {
    checks.push_back({"index", false, Message(index.status())});
    checks.push_back(Skipped("tensor checksums", "index"));
    checks.push_back(Skipped("decompression", "index"));
  }

  const auto manifest = apr_internal::ComputeManifest(bytes, h);
  const bool manifest_ok = manifest == trailer->manifest;
  checks.push_back({"manifest", manifest_ok,
                    manifest_ok ? trueno::Concat("sha256 ", HexEncode(manifest))
                                : trueno::Concat("SHA-256 of the file is ", HexEncode(manifest),
                                                 ", trailer says ", HexEncode(trailer->manifest),
                                                 "; the file was modified after it was written")});

  AprCheck sig{"signature", false, ""};
  if (trailer->signature_algo == apr_internal::kSignatureNone) {
    sig.passed = !expected_key.has_value();
    sig.detail = expected_key ? "absent, but a signature by the given public key was required"
                              : "absent (file is unsigned)";
  } else {
    const std::string who = Fingerprint(trailer->public_key);
    auto s = apr_internal::CheckEmbeddedSignature(*trailer, path);
    if (!s.ok()) {
      sig.detail = trueno::Concat("invalid: Ed25519 signature by key ", who,
                                  " does not match the manifest (file or signature tampered with)");
    } else if (expected_key && *expected_key != trailer->public_key) {
      sig.detail = trueno::Concat("valid signature, but by key ", who, ", not the expected key ",
                                  Fingerprint(*expected_key));
    } else if (!manifest_ok) {
      sig.detail =
          trueno::Concat("signature by key ", who, " covers a manifest the file no longer matches");
    } else {
      sig.passed = true;
      sig.detail = trueno::Concat("valid Ed25519 signature by key ", who,
                                  expected_key ? " (the expected key)" : "");
    }
  }
  checks.push_back(std::move(sig));
  return checks;
}

absl::Status SignApr(const std::string& path, const std::string& private_key_pem) {
  APR_ASSIGN_OR_RETURN(const auto public_key, apr_internal::Ed25519RawPublicKey(private_key_pem));
  APR_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path));
  const auto bytes = mapped->bytes();
  // Never sign a damaged file: every check except an existing signature must pass (a stale or
  // foreign signature is simply replaced).
  APR_ASSIGN_OR_RETURN(const AprHeader h, apr_internal::DecodeHeader(bytes, path));
  APR_ASSIGN_OR_RETURN(AprTrailer t, apr_internal::DecodeTrailer(bytes, h, path));
  t.signature_algo = apr_internal::kSignatureNone;
  const auto* meta_text = reinterpret_cast<const char*>(bytes.data() + h.metadata_offset);
  APR_RETURN_IF_ERROR(
      apr_internal::DecodeMetadataJson(std::string_view(meta_text, h.metadata_size), path)
          .status());
  APR_ASSIGN_OR_RETURN(const auto index, apr_internal::DecodeIndex(bytes, h, path));
  const auto bad = apr_internal::TensorsWithBadChecksums(bytes, h, index);
  if (!bad.empty()) {
    return absl::DataLossError(
        trueno::Concat(path, ": refusing to sign: tensor ", ListNames(bad), " checksum mismatch"));
  }
  if (apr_internal::ComputeManifest(bytes, h) != t.manifest) {
    return absl::DataLossError(
        trueno::Concat(path, ": refusing to sign: manifest mismatch (file modified)"));
  }
  APR_ASSIGN_OR_RETURN(auto sig,
                       SignEd25519(private_key_pem, apr_internal::SignatureMessage(t.manifest)));
  t.signature_algo = apr_internal::kSignatureEd25519;
  t.public_key = public_key;
  std::copy(sig.begin(), sig.end(), t.signature.begin());

  APR_ASSIGN_OR_RETURN(auto out, apr_internal::AprFile::CreateTemp(path));
  APR_RETURN_IF_ERROR(out->WriteAt(0, bytes.first(h.trailer_offset)));
  APR_RETURN_IF_ERROR(out->WriteAt(h.trailer_offset, apr_internal::EncodeTrailer(t)));
  return out->Commit();
}

}  // namespace aprender
