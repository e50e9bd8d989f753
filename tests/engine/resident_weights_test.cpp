// ResidentWeights: the CPU's private copy of weight matrices (libs/runtime/src/engine).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "aprender/mapped_file.h"
#include "engine/resident_weights.h"

using realizar::internal::ResidentWeights;

namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Writes `data` to a file of this process in the temp directory, removed by the destructor.
struct TempFile {
  std::filesystem::path path;
  TempFile(const std::string& name, const std::vector<uint8_t>& data)
      : path(std::filesystem::temp_directory_path() /
             (name + "_" + std::to_string(::getpid()) + ".bin")) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("ResidentWeights copies each range once, 64-byte aligned, byte for byte", "[resident]") {
  const auto a = RandomBytes(1000, 1), b = RandomBytes(4097, 2);
  // The second range starts where the first does (a tied head): one copy serves both.
  const std::vector<std::span<const uint8_t>> sources = {
      {a.data(), a.size()}, {b.data(), b.size()}, {a.data(), a.size()}};
  auto r = ResidentWeights::Copy(sources, {});
  REQUIRE(r.ok());
  const uint8_t* ca = (*r)->Find(a.data());
  const uint8_t* cb = (*r)->Find(b.data());
  REQUIRE(ca != nullptr);
  REQUIRE(cb != nullptr);
  CHECK(ca != a.data());
  CHECK(reinterpret_cast<uintptr_t>(ca) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(cb) % 64 == 0);
  CHECK(std::vector<uint8_t>(ca, ca + a.size()) == a);
  CHECK(std::vector<uint8_t>(cb, cb + b.size()) == b);
  CHECK((*r)->bytes() >= a.size() + b.size());
  CHECK((*r)->bytes() < 2 * a.size() + b.size());  // not copied twice
  CHECK((*r)->Find(a.data() + 1) == nullptr);
  CHECK((*r)->Find(nullptr) == nullptr);
}

TEST_CASE("ResidentWeights of nothing is empty", "[resident]") {
  auto r = ResidentWeights::Copy({}, {});
  REQUIRE(r.ok());
  CHECK((*r)->bytes() == 0);
}

TEST_CASE("Dropping a mapped file's pages after the copy leaves the mapping readable",
          "[resident]") {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto data = RandomBytes(5 * page + 123, 3);
  const TempFile tmp("apr_resident", data);
  auto file = aprender::MappedFile::Open(tmp.path.string());
  REQUIRE(file.ok());
  const std::span<const uint8_t> all = (*file)->bytes();
  // A range that starts and ends mid-page: its whole pages are dropped, the edges stay.
  const std::span<const uint8_t> range = all.subspan(page / 2, 3 * page);
  const std::vector<std::span<const uint8_t>> sources = {range}, mapped = {all};
  auto r = ResidentWeights::Copy(sources, mapped);
  REQUIRE(r.ok());
  const uint8_t* c = (*r)->Find(range.data());
  REQUIRE(c != nullptr);
  CHECK(std::vector<uint8_t>(c, c + range.size()) ==
        std::vector<uint8_t>(data.begin() + page / 2, data.begin() + page / 2 + 3 * page));
  // The dropped pages fault the file's bytes back in.
  CHECK(std::vector<uint8_t>(all.begin(), all.end()) == data);
}

TEST_CASE("A range larger than one copy piece is copied whole, pieces and edges included",
          "[resident]") {
  // 20 MiB: three 8 MiB pieces, the first starting mid-page, the last ending mid-page; two
  // ranges sharing a page at their boundary (neither may drop the other's bytes before the copy).
  const size_t size = (size_t{20} << 20) + 777;
  const auto data = RandomBytes(size, 4);
  const TempFile tmp("apr_resident_big", data);
  auto file = aprender::MappedFile::Open(tmp.path.string());
  REQUIRE(file.ok());
  const std::span<const uint8_t> all = (*file)->bytes();
  const size_t split = (size_t{17} << 20) + 1001;
  const std::vector<std::span<const uint8_t>> sources = {all.subspan(100, split - 100),
                                                         all.subspan(split, size - split - 50)};
  const std::vector<std::span<const uint8_t>> mapped = {all};
  auto r = ResidentWeights::Copy(sources, mapped);
  REQUIRE(r.ok());
  for (const auto& src : sources) {
    const uint8_t* c = (*r)->Find(src.data());
    REQUIRE(c != nullptr);
    const size_t at = static_cast<size_t>(src.data() - all.data());
    CHECK(std::equal(c, c + src.size(), data.begin() + static_cast<std::ptrdiff_t>(at)));
  }
  CHECK(std::equal(all.begin(), all.end(), data.begin()));
}
