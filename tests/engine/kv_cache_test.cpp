// Paged KV cache block accounting: allocation on demand, all-or-nothing reservation, freeing on
// truncate / sequence end, reuse of freed blocks, and per-block storage addressing.
#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "realizar/kv_cache.h"
#include "trueno/half.h"

namespace {

realizar::KvCache MakeCache(int blocks, int block_size = 4) {
  realizar::KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.block_size = block_size;
  c.num_blocks = blocks;
  return realizar::KvCache::Create(c).value();
}

}  // namespace

TEST_CASE("KvCache allocates ceil(positions / block_size) blocks per sequence", "[kv_cache]") {
  auto cache = MakeCache(10);
  CHECK(cache.blocks_total() == 10);
  CHECK(cache.blocks_used() == 0);
  REQUIRE(cache.Reserve(0, 1).ok());
  CHECK(cache.blocks_used() == 1);
  REQUIRE(cache.Reserve(0, 4).ok());  // still one block
  CHECK(cache.blocks_used() == 1);
  REQUIRE(cache.Reserve(0, 9).ok());  // spans three blocks
  CHECK(cache.blocks_used() == 3);
  CHECK(cache.Capacity(0) == 12);
  CHECK(cache.BlockTable(0).size() == 3);
  CHECK(cache.bytes_used() == cache.bytes_total() / 10 * 3);
  CHECK(cache.bytes_total() == 2ull * 2 * 10 * 4 * 16 * sizeof(float));
}

TEST_CASE("KvCache reservation is all or nothing when the pool runs out", "[kv_cache]") {
  auto cache = MakeCache(4);
  REQUIRE(cache.Reserve(0, 8).ok());    // 2 blocks
  const auto s = cache.Reserve(1, 12);  // needs 3, only 2 free
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK(cache.blocks_used() == 2);
  CHECK(cache.Capacity(1) == 0);
  REQUIRE(cache.Reserve(1, 8).ok());
  CHECK(cache.blocks_free() == 0);
}

TEST_CASE("KvCache frees blocks on truncate and sequence end and reuses them", "[kv_cache]") {
  auto cache = MakeCache(6);
  REQUIRE(cache.Reserve(0, 16).ok());  // 4 blocks
  REQUIRE(cache.Reserve(1, 8).ok());   // 2 blocks
  CHECK(cache.blocks_free() == 0);
  cache.SetLength(0, 16);
  cache.Truncate(0, 5);  // keeps 2 blocks
  CHECK(cache.blocks_used() == 4);
  CHECK(cache.Length(0) == 5);
  cache.FreeSequence(1);
  CHECK(!cache.HasSequence(1));
  CHECK(cache.blocks_used() == 2);
  // The four freed blocks are handed out again; no block is shared between sequences.
  REQUIRE(cache.Reserve(2, 16).ok());
  std::set<int> all;
  for (int b : cache.BlockTable(0)) all.insert(b);
  for (int b : cache.BlockTable(2)) all.insert(b);
  CHECK(all.size() == 6);
  CHECK(cache.blocks_free() == 0);
}

TEST_CASE("KvCache positions of a sequence map to distinct storage through its block table",
          "[kv_cache]") {
  auto cache = MakeCache(8);
  REQUIRE(cache.Reserve(0, 10).ok());
  REQUIRE(cache.Reserve(1, 10).ok());
  for (int seq = 0; seq < 2; ++seq) {
    for (int p = 0; p < 10; ++p) {
      for (int layer = 0; layer < 2; ++layer) {
        cache.K(layer, seq, p)[0] = static_cast<float>(1000 * seq + 100 * layer + p);
        cache.V(layer, seq, p)[cache.kv_dim() - 1] =
            static_cast<float>(-(1000 * seq + 100 * layer + p));
      }
    }
  }
  for (int seq = 0; seq < 2; ++seq) {
    for (int p = 0; p < 10; ++p) {
      for (int layer = 0; layer < 2; ++layer) {
        CHECK(cache.K(layer, seq, p)[0] == static_cast<float>(1000 * seq + 100 * layer + p));
        CHECK(cache.V(layer, seq, p)[cache.kv_dim() - 1] ==
              static_cast<float>(-(1000 * seq + 100 * layer + p)));
      }
    }
  }
}

TEST_CASE("KvCache::Create rejects non-positive sizes", "[kv_cache]") {
  realizar::KvCacheConfig c;
  c.n_layers = 1;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.num_blocks = 0;
  CHECK(realizar::KvCache::Create(c).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("An F16 KvCache stores binary16-rounded K/V in half the bytes", "[kv_cache]") {
  realizar::KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 12;
  c.block_size = 4;
  c.num_blocks = 3;
  c.kv_type = trueno::DType::kF16;
  auto cache = realizar::KvCache::Create(c);
  REQUIRE(cache.ok());
  CHECK(cache->bytes_total() == 2ull * 2 * 3 * 4 * 24 * 2);
  CHECK(cache->K(0, 0, 0) == nullptr);  // float views exist only for F32 caches
  REQUIRE(cache->Reserve(7, 9).ok());
  std::vector<float> k(24), v(24), k2(24), v2(24);
  for (int pos = 0; pos < 9; ++pos) {
    for (int i = 0; i < 24; ++i) {
      k[i] = 0.1f * i - 1.3f + pos;
      v[i] = -1000.7f * i + 0.001f * pos;
    }
    cache->Store(1, 7, pos, k.data(), v.data());
    cache->Load(1, 7, pos, k2.data(), v2.data());
    for (int i = 0; i < 24; ++i) {
      // Expected: the value rounded to binary16 by the independent scalar routine.
      CHECK(k2[i] == trueno::Fp16ToFp32(trueno::Fp32ToFp16(k[i])));
      CHECK(v2[i] == trueno::Fp16ToFp32(trueno::Fp32ToFp16(v[i])));
    }
  }
  c.kv_type = trueno::DType::kQ8_0;
  CHECK(realizar::KvCache::Create(c).status().code() == absl::StatusCode::kInvalidArgument);
}
