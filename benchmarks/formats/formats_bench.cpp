// Model-file throughput: mmap load of a 1.5B Q4_K_M GGUF, dequantize and quantize throughput per
// block type, and GGUF -> .apr conversion (none / lz4 / zstd) with compression ratios.
//
//   formats_bench [--model PATH.gguf] [--preset qwen2.5-1.5b] [--elements N] [--reps N] [--json]
//
// Without --model, the preset is synthesized once (F16, then quantized to Q4_K_M) into
// $TMPDIR/apr-bench/ and reused on later runs.
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "aprender/apr_format.h"
#include "aprender/gguf.h"
#include "aprender/quantize_model.h"
#include "aprender/synth.h"
#include "trueno/dtype.h"
#include "trueno/quantize.h"


namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Options {
  std::string model;
  std::string preset = "qwen2.5-1.5b";
  uint64_t elements = 1 << 24;
  int reps = 5;
  bool json = false;
};

int Usage() {
  std::fprintf(stderr,
               "usage: formats_bench [--model PATH.gguf] [--preset NAME] [--elements N] [--reps N] "
               "[--json]\n");
  return 2;
}

std::string EnsureModel(const Options& opt, std::string& note) {
  if (!opt.model.empty()) return opt.model;
  const auto dir = std::filesystem::temp_directory_path() / "apr-bench";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / (opt.preset + "-q4_k_m.gguf")).string();
  if (std::filesystem::exists(path)) {
    note = "reused " + path;
    return path;
  }
  auto spec = aprender::SynthPreset(opt.preset);
  if (!spec.ok()) {
    std::fprintf(stderr, "formats_bench: %s\n", std::string(spec.status().message()).c_str());
    return "";
  }
  std::fprintf(stderr, "formats_bench: synthesizing %s (f16 -> q4_k_m) into %s ...\n",
               opt.preset.c_str(), path.c_str());
  const auto t0 = Clock::now();
  auto f16 = aprender::SynthesizeModel(*spec, trueno::DType::kF16);
  if (!f16.ok()) {
    std::fprintf(stderr, "formats_bench: %s\n", std::string(f16.status().message()).c_str());
    return "";
  }
  auto q = aprender::QuantizeModel(*f16, aprender::QuantPreset::kQ4_K_M);
  if (!q.ok()) {
    std::fprintf(stderr, "formats_bench: %s\n", std::string(q.status().message()).c_str());
    return "";
  }
  if (auto st = aprender::WriteGguf(*q, path); !st.ok()) {
    std::fprintf(stderr, "formats_bench: %s\n", std::string(st.message()).c_str());
    return "";
  }
  note = "synthesized " + path + " in " + std::to_string(Seconds(t0, Clock::now())) + " s";
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--json") {
      opt.json = true;
    } else if (a == "--model") {
      const char* v = next();
      if (!v) return Usage();
      opt.model = v;
    } else if (a == "--preset") {
      const char* v = next();
      if (!v) return Usage();
      opt.preset = v;
    } else if (a == "--elements") {
      const char* v = next();
      if (!v) return Usage();
      opt.elements = std::max<uint64_t>(256, std::strtoull(v, nullptr, 10) / 256 * 256);
    } else if (a == "--reps") {
      const char* v = next();
      if (!v) return Usage();
      opt.reps = std::max(1, std::atoi(v));
    } else {
      return Usage();
    }
  }
  boost::json::object report;
  boost::json::array rows;
  auto add = [&](std::string group, std::string what, double value, std::string unit,
                 std::string extra = "") {
    rows.push_back(boost::json::object{
        {"group", group}, {"what", what}, {"value", value}, {"unit", unit}, {"detail", extra}});
  };

  // 1. Dequantize / quantize throughput on N normal floats, per type.
  std::vector<float> src(opt.elements), dst(opt.elements);
  std::mt19937_64 rng(12345);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (auto& x : src) x = normal(rng);
  const trueno::DType types[] = {trueno::DType::kF16,  trueno::DType::kBF16, trueno::DType::kQ8_0,
                                 trueno::DType::kQ4_0, trueno::DType::kQ4_K, trueno::DType::kQ5_K,
                                 trueno::DType::kQ6_K};
  constexpr uint64_t kRow = 4096;  // quantize/dequantize row by row like a weight matrix
  for (trueno::DType type : types) {
    const std::string name(trueno::DTypeName(type));
    auto bytes = trueno::ByteSize(type, opt.elements);
    if (!bytes.ok() || !trueno::CanQuantize(type)) continue;
    std::vector<uint8_t> q(*bytes);
    const uint64_t row_bytes = *bytes / (opt.elements / kRow);
    std::vector<double> qt, dt;
    bool ok = true;
    for (int r = 0; r < opt.reps && ok; ++r) {
      auto t0 = Clock::now();
      for (uint64_t i = 0; i < opt.elements / kRow; ++i) {
        ok = ok &&
             trueno::QuantizeRow(type, src.data() + i * kRow, q.data() + i * row_bytes, kRow).ok();
      }
      auto t1 = Clock::now();
      for (uint64_t i = 0; i < opt.elements / kRow; ++i) {
        ok =
            ok &&
            trueno::DequantizeRow(type, q.data() + i * row_bytes, dst.data() + i * kRow, kRow).ok();
      }
      auto t2 = Clock::now();
      qt.push_back(Seconds(t0, t1));
      dt.push_back(Seconds(t1, t2));
    }
    if (!ok) continue;
    add("dequantize", name, opt.elements / Median(dt) / 1e6, "Melem/s",
        "single thread, scalar reference");
    add("quantize", name, opt.elements / Median(qt) / 1e6, "Melem/s",
        "single thread, scalar reference");
  }

  // 2. mmap load of the 1.5B Q4_K_M GGUF.
  std::string note;
  const std::string path = EnsureModel(opt, note);
  if (!path.empty()) {
    report["model"] = path;
    if (!note.empty()) report["model_note"] = note;
    std::vector<double> load;
    uint64_t tensor_bytes = 0;
    for (int r = 0; r < opt.reps; ++r) {
      auto t0 = Clock::now();
      auto m = aprender::ReadGguf(path);
      auto t1 = Clock::now();
      if (!m.ok()) {
        std::fprintf(stderr, "formats_bench: %s\n", std::string(m.status().message()).c_str());
        return 1;
      }
      tensor_bytes = 0;
      for (const auto& t : m->tensors) tensor_bytes += t.data.size();
      load.push_back(Seconds(t0, t1));
    }
    add("load", "gguf mmap + parse", Median(load) * 1e3, "ms",
        std::to_string(tensor_bytes) + " tensor bytes");

    // 3. GGUF -> .apr conversion, uncompressed and compressed.
    auto model = aprender::ReadGguf(path);
    const auto dir = std::filesystem::temp_directory_path() / "apr-bench";
    const std::pair<const char*, aprender::Compression> codecs[] = {
        {"none", aprender::Compression::kNone},
        {"lz4", aprender::Compression::kLz4},
        {"zstd", aprender::Compression::kZstd}};
    for (const auto& [cname, codec] : codecs) {
      const std::string out = (dir / (std::string("bench-") + cname + ".apr")).string();
      aprender::AprWriteOptions w;
      w.compression = codec;
      auto t0 = Clock::now();
      auto st = aprender::WriteApr(*model, out, w);
      auto t1 = Clock::now();
      if (!st.ok()) {
        std::fprintf(stderr, "formats_bench: convert (%s): %s\n", cname,
                     std::string(st.message()).c_str());
        continue;
      }
      const double secs = Seconds(t0, t1);
      const auto size = std::filesystem::file_size(out);
      add("convert gguf->apr", cname, tensor_bytes / secs / 1e6, "MB/s",
          "ratio " + std::to_string(static_cast<double>(tensor_bytes) / static_cast<double>(size)));
      auto r0 = Clock::now();
      auto back = aprender::ReadApr(out);
      auto r1 = Clock::now();
      if (back.ok())
        add("read apr", cname, Seconds(r0, r1) * 1e3, "ms", "open + verify + decompress");
      std::filesystem::remove(out);
    }
  }

  report["results"] = rows;
  report["elements"] = opt.elements;
  report["reps"] = opt.reps;
  if (opt.json) {
    std::cout << boost::json::serialize(report) << std::endl;
    return 0;
  }
  if (report.contains("model")) std::printf("model: %s\n", report["model"].as_string().c_str());
  std::printf("%-20s %-20s %14s %-8s %s\n", "group", "what", "value", "unit", "detail");
  for (const auto& r : rows) {
    const auto& o = r.as_object();
    std::printf("%-20s %-20s %14.2f %-8s %s\n", o.at("group").as_string().c_str(),
                o.at("what").as_string().c_str(), o.at("value").as_double(),
                o.at("unit").as_string().c_str(), o.at("detail").as_string().c_str());
  }
  return 0;
}
