#include "apr_codec.h"

#include <lz4frame.h>
#include <zstd.h>

#include <memory>

#include "trueno/str_cat.h"

namespace aprender::apr_internal {
namespace {

struct Lz4DctxFree {
  void operator()(LZ4F_dctx* d) const { LZ4F_freeDecompressionContext(d); }
};
struct ZstdCctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

absl::Status Bad(const std::string& what, const std::string& detail) {
  return absl::DataLossError(trueno::Concat(what, ": ", detail));
}

absl::StatusOr<std::vector<uint8_t>> CompressLz4(int level, std::span<const uint8_t> raw) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.contentSize = raw.size();
  prefs.compressionLevel = level;
  std::vector<uint8_t> out(LZ4F_compressFrameBound(raw.size(), &prefs));
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), raw.data(), raw.size(), &prefs);
  if (LZ4F_isError(n)) {
    return absl::InternalError(trueno::Concat("LZ4 compression failed: ", LZ4F_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> CompressZstd(int level, std::span<const uint8_t> raw) {
  std::unique_ptr<ZSTD_CCtx, ZstdCctxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return absl::ResourceExhaustedError("ZSTD_createCCtx failed");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel,
                         level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1);
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), raw.data(), raw.size());
  if (ZSTD_isError(n)) {
    return absl::InternalError(trueno::Concat("Zstd compression failed: ", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::Status DecompressLz4(std::span<const uint8_t> src, std::span<uint8_t> dst,
                           const std::string& what) {
  LZ4F_dctx* raw_ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw_ctx, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("LZ4F_createDecompressionContext failed");
  }
  std::unique_ptr<LZ4F_dctx, Lz4DctxFree> dctx(raw_ctx);
  size_t in_pos = 0, out_pos = 0;
  size_t hint = 1;
  while (hint != 0) {
    if (in_pos == src.size()) return Bad(what, "LZ4 frame ends early");
    size_t in_len = src.size() - in_pos;
    size_t out_len = dst.size() - out_pos;
    hint = LZ4F_decompress(dctx.get(), dst.data() + out_pos, &out_len, src.data() + in_pos, &in_len,
                           nullptr);
    if (LZ4F_isError(hint))
      return Bad(what, trueno::Concat("LZ4 frame is corrupt (", LZ4F_getErrorName(hint), ")"));
    if (in_len == 0 && out_len == 0 && hint != 0) {
      // No progress: the output is full before the frame ended.
      return Bad(what, "LZ4 frame holds more data than the index says");
    }
    in_pos += in_len;
    out_pos += out_len;
  }
  if (in_pos != src.size()) return Bad(what, "bytes after the end of the LZ4 frame");
  if (out_pos != dst.size()) {
    return Bad(what, trueno::Concat("LZ4 frame decompressed to ", out_pos, " bytes, expected ",
                                    dst.size()));
  }
  return absl::OkStatus();
}

absl::Status DecompressZstd(std::span<const uint8_t> src, std::span<uint8_t> dst,
                            const std::string& what) {
  std::unique_ptr<ZSTD_DCtx, ZstdDctxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
  ZSTD_inBuffer in{src.data(), src.size(), 0};
  ZSTD_outBuffer out{dst.data(), dst.size(), 0};
  size_t rc = 1;
  while (rc != 0) {
    const size_t in_before = in.pos, out_before = out.pos;
    rc = ZSTD_decompressStream(dctx.get(), &out, &in);
    if (ZSTD_isError(rc))
      return Bad(what, trueno::Concat("Zstd frame is corrupt (", ZSTD_getErrorName(rc), ")"));
    if (rc != 0 && in.pos == in_before && out.pos == out_before) {
      // No progress: input exhausted or output full before the frame ended.
      return Bad(what, out.pos == out.size ? "Zstd frame holds more data than the index says"
                                           : "Zstd frame ends early");
    }
  }
  if (in.pos != in.size) return Bad(what, "bytes after the end of the Zstd frame");
  if (out.pos != dst.size()) {
    return Bad(what, trueno::Concat("Zstd frame decompressed to ", out.pos, " bytes, expected ",
                                    dst.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> CompressTensor(Compression c, int level,
                                                    std::span<const uint8_t> raw) {
  switch (c) {
    case Compression::kLz4:
      return CompressLz4(level, raw);
    case Compression::kZstd:
      return CompressZstd(level, raw);
    case Compression::kNone:
      return std::vector<uint8_t>(raw.begin(), raw.end());
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::StatusOr<uint64_t> FrameContentSize(Compression c, std::span<const uint8_t> src,
                                          const std::string& what) {
  if (c == Compression::kZstd) {
    const unsigned long long n = ZSTD_getFrameContentSize(src.data(), src.size());
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) {
      return Bad(what, "Zstd frame header is corrupt or does not declare its content size");
    }
    return static_cast<uint64_t>(n);
  }
  if (c == Compression::kLz4) {
    LZ4F_dctx* raw_ctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw_ctx, LZ4F_VERSION))) {
      return absl::ResourceExhaustedError("LZ4F_createDecompressionContext failed");
    }
    std::unique_ptr<LZ4F_dctx, Lz4DctxFree> dctx(raw_ctx);
    LZ4F_frameInfo_t info{};
    size_t consumed = src.size();
    const size_t rc = LZ4F_getFrameInfo(dctx.get(), &info, src.data(), &consumed);
    if (LZ4F_isError(rc) || info.contentSize == 0) {
      return Bad(what, "LZ4 frame header is corrupt or does not declare its content size");
    }
    return static_cast<uint64_t>(info.contentSize);
  }
  return static_cast<uint64_t>(src.size());
}

absl::Status DecompressTensor(Compression c, std::span<const uint8_t> src, std::span<uint8_t> dst,
                              const std::string& what) {
  switch (c) {
    case Compression::kLz4:
      return DecompressLz4(src, dst, what);
    case Compression::kZstd:
      return DecompressZstd(src, dst, what);
    case Compression::kNone:
      if (src.size() != dst.size()) return Bad(what, "stored size differs from raw size");
      std::copy(src.begin(), src.end(), dst.begin());
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown compression");
}

}  // namespace aprender::apr_internal
