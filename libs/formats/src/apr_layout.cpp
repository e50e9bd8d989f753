#include "apr_layout.h"

#include <cstring>
#include <unordered_set>

#include "apr_signing_internal.h"
#include "tbb/parallel_for.h"
#include "trueno/str_cat.h"

namespace aprender::apr_internal {
namespace {

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void AppendU32(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t b[4];
  PutU32(b, v);
  out.insert(out.end(), b, b + 4);
}
void AppendU64(std::vector<uint8_t>& out, uint64_t v) {
  uint8_t b[8];
  PutU64(b, v);
  out.insert(out.end(), b, b + 8);
}

absl::Status Corrupt(const std::string& file, const std::string& what) {
  return absl::DataLossError(trueno::Concat(file, ": corrupt .apr ", what));
}

// Reads fixed-width fields from the index with a running bounds check.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool U32(uint32_t& v) {
    if (left() < 4) return false;
    v = GetU32(bytes_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t& v) {
    if (left() < 8) return false;
    v = GetU64(bytes_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool Bytes(size_t n, const uint8_t*& p) {
    if (left() < n) return false;
    p = bytes_.data() + pos_;
    pos_ += n;
    return true;
  }
  size_t left() const { return bytes_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

constexpr uint64_t kMinEntrySize = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 32;

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::array<uint8_t, kHeaderSize> EncodeHeader(const AprHeader& h) {
  std::array<uint8_t, kHeaderSize> b{};
  std::memcpy(b.data(), kMagic, 4);
  PutU32(b.data() + 4, h.version);
  PutU32(b.data() + 8, static_cast<uint32_t>(kHeaderSize));
  PutU32(b.data() + 12, h.flags);
  PutU64(b.data() + 16, h.metadata_offset);
  PutU64(b.data() + 24, h.metadata_size);
  PutU64(b.data() + 32, h.index_offset);
  PutU64(b.data() + 40, h.index_size);
  PutU64(b.data() + 48, h.tensor_count);
  PutU64(b.data() + 56, h.data_offset);
  PutU64(b.data() + 64, h.data_size);
  PutU64(b.data() + 72, h.trailer_offset);
  PutU64(b.data() + 80, h.file_size);
  return b;  // bytes 88..127 reserved, zero
}

uint64_t IndexEntrySize(const AprIndexEntry& e) {
  return kMinEntrySize + e.name.size() + 8 * e.dims.size();
}

void AppendIndexEntry(const AprIndexEntry& e, std::vector<uint8_t>& out) {
  AppendU32(out, static_cast<uint32_t>(e.name.size()));
  out.insert(out.end(), e.name.begin(), e.name.end());
  AppendU32(out, e.dtype);
  AppendU32(out, static_cast<uint32_t>(e.dims.size()));
  for (uint64_t d : e.dims) AppendU64(out, d);
  AppendU32(out, static_cast<uint32_t>(e.compression));
  AppendU32(out, 0);  // reserved
  AppendU64(out, e.offset);
  AppendU64(out, e.stored_size);
  AppendU64(out, e.raw_size);
  out.insert(out.end(), e.checksum.begin(), e.checksum.end());
}

std::array<uint8_t, kTrailerSize> EncodeTrailer(const AprTrailer& t) {
  std::array<uint8_t, kTrailerSize> b{};
  std::memcpy(b.data(), kTrailerMagic, 4);
  PutU32(b.data() + 4, t.signature_algo);
  std::memcpy(b.data() + 8, t.manifest.data(), 32);
  std::memcpy(b.data() + 40, t.public_key.data(), 32);
  std::memcpy(b.data() + 72, t.signature.data(), 64);
  std::memcpy(b.data() + 136, kEndMagic, 8);
  return b;
}

absl::StatusOr<AprHeader> DecodeHeader(std::span<const uint8_t> bytes, const std::string& file) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return absl::InvalidArgumentError(
        trueno::Concat(file,
                       ": not an .apr file (magic bytes are not \"APR\\0\"); convert the model "
                       "with `apr convert`"));
  }
  if (bytes.size() < 8) {
    return absl::DataLossError(trueno::Concat(file, ": file is truncated inside the .apr header (",
                                              bytes.size(), " of ", kHeaderSize, " bytes)"));
  }
  AprHeader h;
  h.version = GetU32(bytes.data() + 4);
  if (h.version != kVersion) {
    return absl::InvalidArgumentError(
        trueno::Concat(file, ": file is .apr v", h.version, ", this build reads v", kVersion));
  }
  if (bytes.size() < kHeaderSize) {
    return absl::DataLossError(trueno::Concat(file, ": file is truncated inside the .apr header (",
                                              bytes.size(), " of ", kHeaderSize, " bytes)"));
  }
  const uint8_t* p = bytes.data();
  const uint32_t header_size = GetU32(p + 8);
  h.flags = GetU32(p + 12);
  h.metadata_offset = GetU64(p + 16);
  h.metadata_size = GetU64(p + 24);
  h.index_offset = GetU64(p + 32);
  h.index_size = GetU64(p + 40);
  h.tensor_count = GetU64(p + 48);
  h.data_offset = GetU64(p + 56);
  h.data_size = GetU64(p + 64);
  h.trailer_offset = GetU64(p + 72);
  h.file_size = GetU64(p + 80);
  if (h.file_size > bytes.size()) {
    return absl::DataLossError(trueno::Concat(file, ": file is truncated: header says ",
                                              h.file_size, " bytes, file has ", bytes.size(),
                                              "; re-download or re-convert it"));
  }
  if (h.file_size < bytes.size()) {
    return Corrupt(file, trueno::Concat("header: file_size is ", h.file_size, " but the file has ",
                                        bytes.size(), " bytes (trailing data)"));
  }
  if (header_size != kHeaderSize) {
    return Corrupt(
        file, trueno::Concat("header: header_size is ", header_size, ", expected ", kHeaderSize));
  }
  if (h.flags != 0) {
    return Corrupt(file,
                   trueno::Concat("header: flags are ", h.flags, ", v2 defines none (must be 0)"));
  }
  for (uint64_t i = 88; i < kHeaderSize; ++i) {
    if (p[i] != 0)
      return Corrupt(file, trueno::Concat("header: reserved byte ", i, " is not zero"));
  }
  // Every section follows the previous one; each size is checked against the file size before
  // it is added, so none of the sums below can overflow.
  const uint64_t n = h.file_size;
  if (h.metadata_offset != kHeaderSize) {
    return Corrupt(file, trueno::Concat("header: metadata_offset is ", h.metadata_offset,
                                        ", expected ", kHeaderSize));
  }
  if (h.metadata_size > n - h.metadata_offset) {
    return Corrupt(file, trueno::Concat("header: metadata_size ", h.metadata_size,
                                        " runs past the end of the file"));
  }
  if (h.index_offset != h.metadata_offset + h.metadata_size) {
    return Corrupt(file, trueno::Concat("header: index_offset is ", h.index_offset, ", expected ",
                                        h.metadata_offset + h.metadata_size));
  }
  if (h.index_size > n - h.index_offset) {
    return Corrupt(file, trueno::Concat("header: index_size ", h.index_size,
                                        " runs past the end of the file"));
  }
  if (h.tensor_count > h.index_size / kMinEntrySize) {
    return Corrupt(file, trueno::Concat("header: tensor_count ", h.tensor_count,
                                        " does not fit in an index of ", h.index_size, " bytes"));
  }
  const uint64_t index_end = h.index_offset + h.index_size;
  if (h.data_offset != AlignUp(index_end, kDataAlignment)) {
    return Corrupt(
        file, trueno::Concat("header: data_offset is ", h.data_offset, ", expected ",
                             AlignUp(index_end, kDataAlignment), " (index end rounded up to 64)"));
  }
  if (h.data_offset > n || h.data_size > n - h.data_offset) {
    return Corrupt(file, trueno::Concat("header: data section (", h.data_size, " bytes at ",
                                        h.data_offset, ") runs past the end of the file"));
  }
  if (h.trailer_offset != h.data_offset + h.data_size) {
    return Corrupt(file, trueno::Concat("header: trailer_offset is ", h.trailer_offset,
                                        ", expected ", h.data_offset + h.data_size));
  }
  if (n - h.trailer_offset != kTrailerSize) {
    return Corrupt(file, trueno::Concat("header: trailer at ", h.trailer_offset, " is ",
                                        n - h.trailer_offset, " bytes, expected ", kTrailerSize));
  }
  return h;
}

absl::StatusOr<std::vector<AprIndexEntry>> DecodeIndex(std::span<const uint8_t> bytes,
                                                       const AprHeader& h,
                                                       const std::string& file) {
  Cursor c(bytes.subspan(h.index_offset, h.index_size));
  std::vector<AprIndexEntry> entries;
  entries.reserve(h.tensor_count);  // bounded by index_size / kMinEntrySize in DecodeHeader
  std::unordered_set<std::string> names;
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < h.tensor_count; ++i) {
    const auto where = [&](const std::string& what) {
      return Corrupt(file,
                     trueno::Concat("index: entry ", i, " (at index byte ", c.pos(), "): ", what));
    };
    AprIndexEntry e;
    uint32_t name_len = 0;
    const uint8_t* name = nullptr;
    if (!c.U32(name_len)) return where("truncated before name length");
    if (name_len == 0 || name_len > kMaxNameLen) {
      return where(trueno::Concat("name length ", name_len, " is outside 1..", kMaxNameLen));
    }
    if (!c.Bytes(name_len, name)) return where("name runs past the index");
    e.name.assign(reinterpret_cast<const char*>(name), name_len);
    const auto named = [&](const std::string& what) {
      return Corrupt(file, trueno::Concat("index: tensor '", e.name, "': ", what));
    };
    if (!names.insert(e.name).second) return named("name appears twice");
    uint32_t n_dims = 0;
    if (!c.U32(e.dtype) || !c.U32(n_dims)) return named("entry truncated");
    if (n_dims > kMaxDims)
      return named(trueno::Concat(n_dims, " dimensions, at most ", kMaxDims, " allowed"));
    e.dims.resize(n_dims);
    for (auto& d : e.dims) {
      if (!c.U64(d)) return named("entry truncated in dims");
    }
    uint32_t compression = 0, reserved = 0;
    const uint8_t* sum = nullptr;
    if (!c.U32(compression) || !c.U32(reserved) || !c.U64(e.offset) || !c.U64(e.stored_size) ||
        !c.U64(e.raw_size) || !c.Bytes(32, sum)) {
      return named("entry truncated");
    }
    std::memcpy(e.checksum.data(), sum, 32);
    const auto traits = trueno::GetDTypeTraits(e.dtype);
    if (!traits) {
      return absl::UnimplementedError(trueno::Concat(file, ": tensor '", e.name, "' has type id ",
                                                     e.dtype,
                                                     ", which this build does not support"));
    }
    auto elems = trueno::ElementCount(e.dims.data(), e.dims.size());
    if (!elems.ok()) return named(std::string(elems.status().message()));
    auto expect = trueno::ByteSize(traits->type, *elems);
    if (!expect.ok()) return named(std::string(expect.status().message()));
    if (e.raw_size != *expect) {
      return named(trueno::Concat("raw_size ", e.raw_size, " but ", traits->name,
                                  " with these dims needs ", *expect));
    }
    if (compression > static_cast<uint32_t>(Compression::kZstd)) {
      return named(trueno::Concat("unknown compression id ", compression));
    }
    e.compression = static_cast<Compression>(compression);
    if (reserved != 0) return named("reserved field is not zero");
    if (e.offset % kDataAlignment != 0)
      return named(trueno::Concat("offset ", e.offset, " is not 64-byte aligned"));
    if (e.offset < prev_end)
      return named(trueno::Concat("offset ", e.offset, " overlaps the previous tensor"));
    if (e.stored_size > h.data_size || e.offset > h.data_size - e.stored_size) {
      return named(trueno::Concat("data (", e.stored_size, " bytes at ", e.offset,
                                  ") runs past the data section (", h.data_size, " bytes)"));
    }
    if (e.compression == Compression::kNone && e.stored_size != e.raw_size) {
      return named(trueno::Concat("uncompressed but stored_size ", e.stored_size, " != raw_size ",
                                  e.raw_size));
    }
    if (e.compression != Compression::kNone && e.stored_size == 0)
      return named("compressed with 0 stored bytes");
    prev_end = e.offset + e.stored_size;
    entries.push_back(std::move(e));
  }
  if (c.left() != 0) {
    return Corrupt(file, trueno::Concat("index: ", c.left(), " unused bytes after ", h.tensor_count,
                                        " entries"));
  }
  return entries;
}

absl::StatusOr<AprTrailer> DecodeTrailer(std::span<const uint8_t> bytes, const AprHeader& h,
                                         const std::string& file) {
  const uint8_t* p = bytes.data() + h.trailer_offset;
  if (std::memcmp(p, kTrailerMagic, 4) != 0 || std::memcmp(p + 136, kEndMagic, 8) != 0) {
    return Corrupt(file, "trailer: magic bytes are wrong (file damaged at the end)");
  }
  AprTrailer t;
  t.signature_algo = GetU32(p + 4);
  std::memcpy(t.manifest.data(), p + 8, 32);
  std::memcpy(t.public_key.data(), p + 40, 32);
  std::memcpy(t.signature.data(), p + 72, 64);
  if (t.signature_algo > kSignatureEd25519) {
    return Corrupt(file, trueno::Concat("trailer: unknown signature algorithm ", t.signature_algo));
  }
  if (t.signature_algo == kSignatureNone) {
    for (size_t i = 40; i < 136; ++i) {
      if (p[i] != 0)
        return Corrupt(file, "trailer: unsigned file has non-zero key/signature bytes");
    }
  }
  return t;
}

std::vector<uint8_t> SignatureMessage(const Digest& manifest) {
  std::vector<uint8_t> m(16 + manifest.size());
  std::memcpy(m.data(), kSignatureContext, 16);
  std::memcpy(m.data() + 16, manifest.data(), manifest.size());
  return m;
}

Digest Sha256Of(std::span<const uint8_t> bytes) {
  Sha256Stream s;
  s.Update(bytes);
  return s.Finish();
}

std::vector<Digest> Sha256Many(const std::vector<std::span<const uint8_t>>& parts) {
  std::vector<Digest> out(parts.size());
  tbb::parallel_for(size_t{0}, parts.size(), [&](size_t i) { out[i] = Sha256Of(parts[i]); });
  return out;
}

}  // namespace aprender::apr_internal
