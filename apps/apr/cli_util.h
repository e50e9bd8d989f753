// Helpers shared by the apr subcommands: one-line errors, a TTY-only progress bar, JSON output,
// choosing an output format from a path, and writing a model in any format.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/apr_format.h"
#include "aprender/model_file.h"
#include "trueno/dtype.h"

namespace apr_cli {

// Prints "apr: error: <message>" (one line) on stderr and returns exit code 1.
int Fail(const absl::Status& status);
int Fail(std::string_view message);

// Prints `v` as JSON followed by a newline on stdout.
void PrintJson(const boost::json::value& v);

// MetaValue as JSON: numbers, bools, strings; arrays in full up to `max_items`, otherwise
// summarised as {"type", "count"}.
boost::json::value MetaToJson(const aprender::MetaValue& v, size_t max_items = 64);

std::string HumanBytes(uint64_t bytes);
std::string HumanCount(uint64_t n);
std::string ShapeString(const std::vector<uint64_t>& dims);

// A progress bar on stderr for work that runs longer than about a second. Draws nothing when
// stderr is not a terminal. Thread-compatible (callers serialise Update calls).
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  void Update(uint64_t done, uint64_t total);
  void Finish();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// Output format from an explicit `--to` value ("gguf", "apr", "hf", "safetensors") or, when
// empty, from the path: .gguf, .apr, .safetensors, anything else is an HF directory.
absl::StatusOr<aprender::FileFormat> OutputFormat(const std::string& path, const std::string& to);

[[nodiscard]] absl::Status WriteModel(const aprender::ModelFile& model, const std::string& path,
                                      aprender::FileFormat format,
                                      const aprender::AprWriteOptions& apr_options = {});

// Whole file as a string (keys, PEM files); NotFound naming the path.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// Loads any readable model; the error names the path.
absl::StatusOr<aprender::ModelFile> LoadModel(const std::string& path);

// Quantization targets accepted by `--type` (f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k).
std::vector<std::string> QuantTypeNames();
[[nodiscard]] absl::Status CheckQuantTypeName(const std::string& name);

// Converts every matrix of `model` to the quantization target `type_name` (see QuantTypeNames).
absl::StatusOr<aprender::ModelFile> QuantizeForCli(const aprender::ModelFile& model,
                                                   const std::string& type_name);

// Dequantizes a tensor into `out` (resized to its element count).
[[nodiscard]] absl::Status DequantizeTensor(const aprender::Tensor& tensor,
                                            std::vector<float>& out);

// Summary line / JSON object for a model file just written.
int ReportWritten(const aprender::ModelFile& model, const std::string& path,
                  aprender::FileFormat format, bool json);

}  // namespace apr_cli
