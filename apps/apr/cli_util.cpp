#include "cli_util.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "aprender/gguf.h"
#include "aprender/hf_dir.h"
#include "aprender/quantize_model.h"
#include "aprender/safetensors.h"
#include "trueno/quantize.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"


namespace apr_cli {

int Fail(std::string_view message) {
  std::string line(message);
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << "apr: error: " << line << std::endl;
  return 1;
}

int Fail(const absl::Status& status) {
  return Fail(std::string_view(status.message().data(), status.message().size()));
}

void PrintJson(const boost::json::value& v) { std::cout << boost::json::serialize(v) << std::endl; }

boost::json::value MetaToJson(const aprender::MetaValue& v, size_t max_items) {
  using aprender::MetaType;
  switch (v.type()) {
    case MetaType::kBool:
      return *v.AsBool();
    case MetaType::kString:
      return boost::json::string(*v.AsString());
    case MetaType::kFloat32:
    case MetaType::kFloat64:
      return *v.AsDouble();
    case MetaType::kArray: {
      const aprender::MetaArray* a = v.AsArray();
      if (a->items.size() > max_items) {
        return boost::json::object{{"type", std::string(aprender::MetaTypeName(a->elem_type))},
                                   {"count", a->items.size()}};
      }
      boost::json::array out;
      for (const auto& item : a->items) out.push_back(MetaToJson(item, max_items));
      return out;
    }
    default:
      if (auto u = v.AsUint()) return *u;
      if (auto i = v.AsInt()) return *i;
      return nullptr;
  }
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::string HumanCount(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ULL) {
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  } else if (n >= 1000000ULL) {
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  } else if (n >= 1000ULL) {
    std::snprintf(buf, sizeof buf, "%.2fK", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  }
  return buf;
}

std::string ShapeString(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += trueno::Concat(i ? ", " : "", dims[i]);
  return s + "]";
}

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  // Quiet for the first second (fast jobs never show a bar), then at most 10 redraws a second.
  if (now - start_ < std::chrono::seconds(1)) return;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < total) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, ' ');
  std::fprintf(stderr, "\r%s [%s] %3d%%", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100));
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

absl::StatusOr<aprender::FileFormat> OutputFormat(const std::string& path, const std::string& to) {
  using aprender::FileFormat;
  if (!to.empty()) {
    const std::string t = absl::AsciiStrToLower(to);
    if (t == "gguf") return FileFormat::kGguf;
    if (t == "apr") return FileFormat::kApr;
    if (t == "hf" || t == "hf-dir") return FileFormat::kHfDir;
    if (t == "safetensors") return FileFormat::kSafetensors;
    return absl::InvalidArgumentError(
        trueno::Concat("unknown output format '", to, "'; use gguf, apr, hf or safetensors"));
  }
  const std::string ext = absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (ext == ".gguf") return FileFormat::kGguf;
  if (ext == ".apr") return FileFormat::kApr;
  if (ext == ".safetensors") return FileFormat::kSafetensors;
  return FileFormat::kHfDir;
}

absl::Status WriteModel(const aprender::ModelFile& model, const std::string& path,
                        aprender::FileFormat format, const aprender::AprWriteOptions& apr_options) {
  using aprender::FileFormat;
  switch (format) {
    case FileFormat::kGguf:
      return aprender::WriteGguf(model, path);
    case FileFormat::kApr:
      return aprender::WriteApr(model, path, apr_options);
    case FileFormat::kSafetensors:
      return aprender::WriteSafetensors(model, path);
    case FileFormat::kHfDir:
      return aprender::WriteHfDir(model, path);
  }
  return absl::InvalidArgumentError("unknown output format");
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(trueno::Concat(path, ": cannot open"));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<aprender::ModelFile> LoadModel(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(trueno::Concat(path, ": no such file or directory"));
  }
  auto model = aprender::LoadModelFile(path);
  if (!model.ok()) {
    const std::string msg(model.status().message());
    if (msg.find(path) != std::string::npos) return model.status();
    return absl::Status(model.status().code(), trueno::Concat(path, ": ", msg));
  }
  return model;
}

std::vector<std::string> QuantTypeNames() {
  return {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q2_k", "q3_k_m"};
}

absl::Status CheckQuantTypeName(const std::string& name) {
  const auto names = QuantTypeNames();
  if (std::find(names.begin(), names.end(), absl::AsciiStrToLower(name)) != names.end())
    return absl::OkStatus();
  std::string list;
  for (const auto& n : names) list += trueno::Concat(list.empty() ? "" : "|", n);
  return absl::InvalidArgumentError(
      trueno::Concat("unknown --type '", name, "'; use one of ", list));
}

absl::StatusOr<aprender::ModelFile> QuantizeForCli(const aprender::ModelFile& model,
                                                   const std::string& type_name) {
  APR_RETURN_IF_ERROR(CheckQuantTypeName(type_name));
  APR_ASSIGN_OR_RETURN(const aprender::QuantPreset preset, aprender::ParseQuantPreset(type_name));
  ProgressBar bar("quantize " + std::string(aprender::QuantPresetName(preset)));
  return aprender::QuantizeModel(model, preset,
                                 [&bar](size_t done, size_t total) { bar.Update(done, total); });
}

absl::Status DequantizeTensor(const aprender::Tensor& tensor, std::vector<float>& out) {
  const uint64_t n = tensor.elements();
  APR_ASSIGN_OR_RETURN(const uint64_t bytes, trueno::ByteSize(tensor.type, n));
  if (bytes != tensor.data.size()) {
    return absl::DataLossError(trueno::Concat("tensor ", tensor.name, ": has ", tensor.data.size(),
                                              " bytes, expected ", bytes));
  }
  out.resize(n);
  // Row by row keeps each call within one block-aligned row (dims[0] is a block multiple).
  const uint64_t row = tensor.dims.empty() ? 1 : tensor.dims[0];
  if (row == 0 || n == 0) return absl::OkStatus();
  const uint64_t rows = n / row;
  const uint64_t row_bytes = bytes / rows;
  for (uint64_t r = 0; r < rows; ++r) {
    APR_RETURN_IF_ERROR(trueno::DequantizeRow(tensor.type, tensor.data.data() + r * row_bytes,
                                              out.data() + r * row, row));
  }
  return absl::OkStatus();
}

int ReportWritten(const aprender::ModelFile& model, const std::string& path,
                  aprender::FileFormat format, bool json) {
  uint64_t bytes = 0;
  for (const auto& t : model.tensors) bytes += t.data.size();
  if (json) {
    PrintJson(boost::json::object{{"path", path},
                                  {"format", std::string(aprender::FileFormatName(format))},
                                  {"tensors", model.tensors.size()},
                                  {"tensor_bytes", bytes}});
  } else {
    std::cout << "wrote " << path << " (" << aprender::FileFormatName(format) << ", "
              << model.tensors.size() << " tensors, " << HumanBytes(bytes) << " of tensor data)"
              << std::endl;
  }
  return 0;
}

}  // namespace apr_cli
