// Device discovery, buffers, transfers and graph capture of the CUDA context.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "trueno/cuda.h"

namespace tc = trueno::cuda;

TEST_CASE("without a device the CUDA entry points fail cleanly instead of crashing") {
  if (tc::Compiled() && tc::DeviceCount() > 0) {
    WARN("SKIPPED: a device is present; this case covers CI machines");
    return;
  }
  auto ctx = tc::Context::Create(0);
  REQUIRE_FALSE(ctx.ok());
  CHECK(ctx.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(ctx.status().message().empty());
  CHECK_FALSE(tc::QueryDevice(0).ok());
  CHECK_FALSE(tc::PinnedBuffer::Allocate(16).ok());
}

TEST_CASE("QueryDevice reports a plausible device") {
  APR_REQUIRE_GPU();
  auto info = tc::QueryDevice(0);
  REQUIRE(info.ok());
  INFO(info->name);
  CHECK_FALSE(info->name.empty());
  CHECK(info->sm_major >= 5);
  CHECK(info->total_bytes > (size_t{1} << 30));
  CHECK(info->free_bytes <= info->total_bytes);
  CHECK(info->runtime_version >= 11000);
  CHECK(tc::QueryDevice(tc::DeviceCount()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Upload then Download returns the same bytes, across staging chunk boundaries") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  // 150 MiB + 3 bytes: more than two 64 MiB staging chunks, and not a multiple of anything.
  const size_t n = (size_t{150} << 20) + 3;
  std::mt19937 rng(7);
  std::vector<uint8_t> host(n);
  for (auto& b : host) b = static_cast<uint8_t>(rng());
  auto buf = tc::DeviceBuffer::Allocate(n, "round trip");
  REQUIRE(buf.ok());
  REQUIRE((*ctx)->Upload(buf->data(), host.data(), n).ok());
  std::vector<uint8_t> back(n, 0xAB);
  REQUIRE((*ctx)->Download(back.data(), buf->data(), n).ok());
  CHECK(std::memcmp(back.data(), host.data(), n) == 0);
}

TEST_CASE("a download into page-locked memory returns the same bytes; moves keep ownership") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  const size_t n = (size_t{39} << 20) + 5;  // ~64 rows of a 152k vocabulary, odd length
  std::mt19937 rng(11);
  std::vector<uint8_t> host(n);
  for (auto& b : host) b = static_cast<uint8_t>(rng());
  auto buf = tc::DeviceBuffer::Allocate(n, "logits");
  REQUIRE(buf.ok());
  REQUIRE((*ctx)->Upload(buf->data(), host.data(), n).ok());
  auto pinned = tc::PinnedBuffer::Allocate(n);
  REQUIRE(pinned.ok());
  REQUIRE(pinned->size() == n);
  std::memset(pinned->data(), 0xAB, n);
  tc::PinnedBuffer moved = std::move(*pinned);
  CHECK(pinned->data() == nullptr);
  REQUIRE((*ctx)->Download(moved.data(), buf->data(), n).ok());
  CHECK(std::memcmp(moved.data(), host.data(), n) == 0);
  auto empty = tc::PinnedBuffer::Allocate(0);
  REQUIRE(empty.ok());
  CHECK(empty->data() == nullptr);
}

TEST_CASE("an allocation larger than the device is ResourceExhausted with the sizes") {
  APR_REQUIRE_GPU();
  auto info = tc::QueryDevice(0);
  REQUIRE(info.ok());
  auto buf = tc::DeviceBuffer::Allocate(info->total_bytes * 4, "KV cache");
  REQUIRE_FALSE(buf.ok());
  CHECK(buf.status().code() == absl::StatusCode::kResourceExhausted);
  std::string msg(buf.status().message());
  INFO(msg);
  CHECK(msg.find("KV cache") != std::string::npos);
  CHECK(msg.find("free") != std::string::npos);
  // The context still works after a failed allocation.
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  CHECK((*ctx)->Synchronize().ok());
}

TEST_CASE("a captured graph replays the recorded copies") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  CHECK_FALSE((*ctx)->Replay(0).ok());
  CHECK_FALSE((*ctx)->EndCapture().ok());
  CHECK((*ctx)->BeginCapture().ok());
  CHECK_FALSE((*ctx)->BeginCapture().ok());
  auto id = (*ctx)->EndCapture();
  REQUIRE(id.ok());  // an empty graph is valid
  CHECK((*ctx)->Replay(*id).ok());
  CHECK((*ctx)->Synchronize().ok());
}
