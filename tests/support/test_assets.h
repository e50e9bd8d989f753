// Locating the shared, read-only assets (../shared/assets) and a scratch directory for tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace apr_test {

// Root of the shared assets; APR_SHARED_ASSETS in the environment overrides the configured path.
inline std::filesystem::path SharedAssets() {
  if (const char* env = std::getenv("APR_SHARED_ASSETS")) return env;
  return APR_SHARED_ASSETS;
}

inline bool HaveAsset(const std::filesystem::path& rel) {
  return std::filesystem::exists(SharedAssets() / rel);
}

// A fresh directory under the system temp dir, removed when the object goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("apr-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace apr_test

// Skips the current Catch2 test with a visible message when a shared asset is missing.
#define APR_REQUIRE_ASSET(rel)                                                      \
  do {                                                                              \
    if (!apr_test::HaveAsset(rel)) {                                                \
      WARN("SKIPPED: shared asset " << (apr_test::SharedAssets() / (rel)).string() \
                                    << " is absent");                              \
      return;                                                                       \
    }                                                                               \
  } while (0)
