// apr check MODEL: the 10-stage pipeline self-test. Each stage prints PASS/FAIL/SKIP with its
// time and a one-line reason; a failed stage skips the stages that depend on it. --json prints
// one object instead. Exit code 0 only when every stage passed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aprender/apr_format.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"
#include "realizar/chat_template.h"
#include "realizar/model.h"
#include "realizar/sampler.h"
#include "realizar/tokenizer.h"
#include "trueno/dtype.h"
#include "trueno/half.h"
#include "trueno/str_cat.h"

namespace apr_cli {
namespace {

constexpr char kSampleText[] = "Hello, world! The quick brown fox: 42 + 7 = 49.";
constexpr int kGenerateTokens = 8;
constexpr int kCheckContext = 128;

struct CheckOptions {
  std::string path;
  bool json = false;
  int threads = 0;
};

enum class StageStatus { kPass, kFail, kSkip };

const char* StatusName(StageStatus s) {
  switch (s) {
    case StageStatus::kPass:
      return "PASS";
    case StageStatus::kFail:
      return "FAIL";
    case StageStatus::kSkip:
      return "SKIP";
  }
  return "?";
}

struct StageResult {
  int id = 0;
  std::string name;
  StageStatus status = StageStatus::kSkip;
  double ms = 0;
  std::string detail;
};

// A stage returns its one-line summary, or an error.
using StageFn = std::function<absl::StatusOr<std::string>()>;

struct Stage {
  std::string name;
  std::vector<int> deps;  // ids (1-based) of stages that must have passed
  StageFn run;
};

bool IsFiniteFloatTensor(const aprender::Tensor& t, std::string& why) {
  const size_t n = t.elements();
  auto bad = [&](size_t i, float v) {
    why = trueno::Concat(t.name, ": element ", i, " is ", std::isnan(v) ? "NaN" : "infinite");
    return false;
  };
  switch (t.type) {
    case trueno::DType::kF32:
      for (size_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, t.data.data() + 4 * i, 4);
        if (!std::isfinite(v)) return bad(i, v);
      }
      break;
    case trueno::DType::kF16:
    case trueno::DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data.data() + 2 * i, 2);
        const float v =
            t.type == trueno::DType::kF16 ? trueno::Fp16ToFp32(h) : trueno::Bf16ToFp32(h);
        if (!std::isfinite(v)) return bad(i, v);
      }
      break;
    default:
      break;  // block-quantized: scales are checked by the forward pass
  }
  return true;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// The state the stages build up, in order.
struct CheckState {
  std::optional<aprender::FileFormat> format;
  std::optional<aprender::ModelFile> file;
  std::optional<aprender::ModelConfig> config;
  std::optional<realizar::Tokenizer> tokenizer;
  std::unique_ptr<realizar::Model> model;
  std::vector<float> logits;
  std::vector<int32_t> prompt;
};

std::vector<Stage> BuildStages(const CheckOptions& opt, CheckState& st) {
  std::vector<Stage> stages;
  stages.push_back({"open", {}, [&]() -> absl::StatusOr<std::string> {
                      auto f = aprender::DetectFormat(opt.path);
                      if (!f.ok()) return f.status();
                      st.format = *f;
                      return trueno::Concat("format ", aprender::FileFormatName(*f));
                    }});
  stages.push_back(
      {"header+metadata", {1}, [&]() -> absl::StatusOr<std::string> {
         auto f = LoadModel(opt.path);
         if (!f.ok()) return f.status();
         st.file = std::move(*f);
         return trueno::Concat(
             st.file->metadata.size(), " metadata keys, ", st.file->tensors.size(), " tensors",
             st.file->version ? trueno::Concat(", version ", st.file->version) : std::string());
       }});
  stages.push_back(
      {"tensor index", {2}, [&]() -> absl::StatusOr<std::string> {
         const aprender::ModelFile& m = *st.file;
         if (m.tensors.empty()) {
           return absl::InvalidArgumentError(trueno::Concat(opt.path, ": the file has no tensors"));
         }
         uint64_t align = 0;
         if (m.format == aprender::FileFormat::kGguf) {
           align = 32;
           if (auto* v = m.metadata.Find("general.alignment")) {
             if (auto a = v->AsUint()) align = *a;
           }
         }
         uint64_t total = 0;
         for (const aprender::Tensor& t : m.tensors) {
           auto elems = trueno::ElementCount(t.dims.data(), t.dims.size());
           if (!elems.ok())
             return absl::DataLossError(trueno::Concat(t.name, ": ", Message(elems.status())));
           auto bytes = trueno::ByteSize(t.type, *elems);
           if (!bytes.ok())
             return absl::DataLossError(trueno::Concat(t.name, ": ", Message(bytes.status())));
           if (*bytes != t.data.size()) {
             return absl::DataLossError(trueno::Concat(t.name, ": holds ", t.data.size(),
                                                       " bytes, its type and shape need ", *bytes));
           }
           if (align > 0 && reinterpret_cast<uintptr_t>(t.data.data()) % align != 0) {
             return absl::DataLossError(
                 trueno::Concat(t.name, ": data is not aligned to ", align, " bytes"));
           }
           total += *bytes;
         }
         return trueno::Concat(
             m.tensors.size(), " tensors, ", total, " bytes, sizes match types",
             align ? trueno::Concat(", ", align, "-byte aligned") : std::string());
       }});
  stages.push_back({"checksums/data", {3}, [&]() -> absl::StatusOr<std::string> {
                      const aprender::ModelFile& m = *st.file;
                      std::string summary;
                      if (m.format == aprender::FileFormat::kApr) {
                        auto checks = aprender::VerifyApr(opt.path);
                        if (!checks.ok()) return checks.status();
                        for (const aprender::AprCheck& c : *checks) {
                          if (!c.passed) {
                            return absl::DataLossError(trueno::Concat(c.name, ": ", c.detail));
                          }
                        }
                        summary = trueno::Concat(checks->size(),
                                                 " .apr checks (checksums, manifest) pass; ");
                      }
                      // Tensor ranges must not overlap.
                      std::vector<std::pair<const uint8_t*, const aprender::Tensor*>> ranges;
                      for (const aprender::Tensor& t : m.tensors) {
                        if (!t.data.empty()) ranges.emplace_back(t.data.data(), &t);
                      }
                      std::sort(ranges.begin(), ranges.end(),
                                [](const auto& a, const auto& b) { return a.first < b.first; });
                      for (size_t i = 1; i < ranges.size(); ++i) {
                        const aprender::Tensor& prev = *ranges[i - 1].second;
                        if (prev.data.data() + prev.data.size() > ranges[i].first) {
                          return absl::DataLossError(
                              trueno::Concat(prev.name, " overlaps ", ranges[i].second->name));
                        }
                      }
                      std::string why;
                      for (const aprender::Tensor& t : m.tensors) {
                        if (!IsFiniteFloatTensor(t, why)) return absl::DataLossError(why);
                      }
                      return summary + "no overlapping tensors, float weights finite";
                    }});
  stages.push_back({"config", {2}, [&]() -> absl::StatusOr<std::string> {
                      auto c = aprender::ModelConfigFromFile(*st.file);
                      if (!c.ok()) return c.status();
                      st.config = *c;
                      return trueno::Concat("arch ", c->arch_name, ", ", c->n_layers,
                                            " layers, embd ", c->n_embd, ", ffn ", c->n_ff,
                                            ", heads ", c->n_head, "/", c->n_head_kv, ", vocab ",
                                            c->n_vocab, ", ctx ", c->n_ctx_train);
                    }});
  stages.push_back({"tokenizer", {2}, [&]() -> absl::StatusOr<std::string> {
                      auto t = realizar::Tokenizer::FromMetadata(st.file->metadata);
                      if (!t.ok()) return t.status();
                      st.tokenizer.emplace(std::move(*t));
                      const std::vector<int32_t> ids =
                          st.tokenizer->Encode(kSampleText, false, false);
                      if (ids.empty())
                        return absl::InternalError("the sample text encodes to 0 tokens");
                      const std::string back = st.tokenizer->Decode(ids);
                      if (back != kSampleText) {
                        return absl::InternalError(trueno::Concat("round trip differs: \"",
                                                                  kSampleText, "\" -> ", ids.size(),
                                                                  " ids -> \"", back, "\""));
                      }
                      return trueno::Concat(st.tokenizer->vocab_size(),
                                            " tokens; sample round-trips (", ids.size(), " ids)");
                    }});
  stages.push_back(
      {"chat template", {6}, [&]() -> absl::StatusOr<std::string> {
         const realizar::Tokenizer& tok = *st.tokenizer;
         const std::string bos(tok.bos_id() >= 0 ? tok.TokenPiece(tok.bos_id()) : "");
         const std::string eos(tok.eos_id() >= 0 ? tok.TokenPiece(tok.eos_id()) : "");
         const std::vector<realizar::ChatMessage> messages = {{"system", "Be brief."},
                                                              {"user", "Say hi."}};
         auto tmpl = st.file->metadata.GetStringOr("tokenizer.chat_template");
         auto rendered = tmpl ? realizar::RenderChat(*tmpl, messages, true, bos, eos)
                              : realizar::RenderBuiltin(realizar::DetectBuiltin(st.file->metadata),
                                                        messages, true, bos, eos);
         if (!rendered.ok()) return rendered.status();
         if (rendered->find("Say hi.") == std::string::npos) {
           return absl::InternalError("the rendered conversation lacks the user message");
         }
         return trueno::Concat(tmpl ? "model template" : "built-in template", " renders ",
                               rendered->size(), " bytes");
       }});
  stages.push_back({"model graph", {3, 5}, [&]() -> absl::StatusOr<std::string> {
                      realizar::ModelOptions mo;
                      mo.max_context = std::min<int>(kCheckContext,
                                                     st.config->n_ctx_train
                                                         ? static_cast<int>(st.config->n_ctx_train)
                                                         : kCheckContext);
                      auto m = realizar::Model::Create(std::move(*st.file), *st.config, mo);
                      st.file.reset();
                      if (!m.ok()) return m.status();
                      st.model = std::move(*m);
                      return trueno::Concat("built, context ", st.model->max_context());
                    }});
  stages.push_back({"forward pass", {6, 8}, [&]() -> absl::StatusOr<std::string> {
                      st.prompt = st.tokenizer->Encode(kSampleText, true, false);
                      const int limit = st.model->max_context() - kGenerateTokens;
                      if (static_cast<int>(st.prompt.size()) > limit)
                        st.prompt.resize(std::max(limit, 1));
                      st.logits.assign(st.model->n_vocab(), 0.0f);
                      absl::Status s = st.model->Forward(st.prompt, 0, 0, st.logits.data());
                      if (!s.ok()) return s;
                      for (size_t i = 0; i < st.logits.size(); ++i) {
                        if (!std::isfinite(st.logits[i])) {
                          return absl::InternalError(trueno::Concat(
                              "logit ", i, " is ", std::isnan(st.logits[i]) ? "NaN" : "inf"));
                        }
                      }
                      return trueno::Concat(st.prompt.size(), " prompt tokens, ", st.logits.size(),
                                            " finite logits, argmax ", realizar::Argmax(st.logits));
                    }});
  stages.push_back({"generation", {9}, [&]() -> absl::StatusOr<std::string> {
                      std::vector<int32_t> out;
                      int pos = static_cast<int>(st.prompt.size());
                      int32_t next = realizar::Argmax(st.logits);
                      for (int i = 0; i < kGenerateTokens; ++i) {
                        out.push_back(next);
                        if (st.tokenizer->IsEog(next) || pos >= st.model->max_context()) break;
                        const int32_t tok = next;
                        absl::Status s = st.model->Forward(std::span<const int32_t>(&tok, 1), 0,
                                                           pos++, st.logits.data());
                        if (!s.ok()) return s;
                        for (float v : st.logits) {
                          if (!std::isfinite(v))
                            return absl::InternalError("non-finite logits while decoding");
                        }
                        next = realizar::Argmax(st.logits);
                      }
                      std::string text = st.tokenizer->Decode(out);
                      for (char& c : text) {
                        if (c == '\n' || c == '\r') c = ' ';
                      }
                      if (text.size() > 40) text = text.substr(0, 40) + "...";
                      return trueno::Concat(out.size(), " greedy tokens: \"", text, "\"");
                    }});
  return stages;
}

int RunCheck(const CheckOptions& opt) {
  ChooseThreads(opt.threads);
  CheckState state;
  std::vector<Stage> stages = BuildStages(opt, state);
  std::vector<StageResult> results;
  const StageResult* first_failure = nullptr;
  for (size_t i = 0; i < stages.size(); ++i) {
    StageResult r;
    r.id = static_cast<int>(i + 1);
    r.name = stages[i].name;
    int blocked_by = 0;
    for (int d : stages[i].deps) {
      if (results[d - 1].status != StageStatus::kPass) {
        blocked_by = d;
        break;
      }
    }
    if (blocked_by) {
      r.status = StageStatus::kSkip;
      r.detail = trueno::Concat("needs stage ", blocked_by, " (", stages[blocked_by - 1].name, ")");
    } else {
      const double t0 = NowSeconds();
      absl::StatusOr<std::string> out = stages[i].run();
      r.ms = (NowSeconds() - t0) * 1e3;
      r.status = out.ok() ? StageStatus::kPass : StageStatus::kFail;
      r.detail = out.ok() ? *out : Message(out.status());
    }
    results.push_back(r);
    if (!opt.json) {
      std::printf("%2d %-16s %s %9.1f ms  %s\n", r.id, r.name.c_str(), StatusName(r.status), r.ms,
                  r.detail.c_str());
      std::fflush(stdout);
    }
  }
  int passed = 0;
  for (const StageResult& r : results) {
    if (r.status == StageStatus::kPass) ++passed;
    if (r.status == StageStatus::kFail && !first_failure) first_failure = &r;
  }
  const bool ok = passed == static_cast<int>(results.size());
  if (opt.json) {
    boost::json::array arr;
    for (const StageResult& r : results) {
      arr.push_back(boost::json::object{{"id", r.id},
                                        {"name", r.name},
                                        {"status", StatusName(r.status)},
                                        {"ms", r.ms},
                                        {"detail", r.detail}});
    }
    PrintJson(boost::json::object{{"model", opt.path},
                                  {"passed", ok},
                                  {"stages_passed", passed},
                                  {"stages_total", results.size()},
                                  {"stages", arr}});
  } else {
    std::printf("%d/%zu stages passed\n", passed, results.size());
  }
  if (ok) return 0;
  if (opt.json) return 1;
  if (first_failure) {
    return Fail(trueno::Concat(opt.path, ": check failed at stage ", first_failure->id, " (",
                               first_failure->name, "): ", first_failure->detail));
  }
  return Fail(opt.path + ": check failed");
}

}  // namespace

void RegisterCheck(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "10-stage pipeline self-test: open, parse, index, checksums, config, tokenizer, "
      "chat template, graph, forward, generation");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_flag("--json", opt->json, "print one JSON object");
  cmd->add_option("-t,--threads", opt->threads, "CPU threads (default: all)");
  cmd->callback([opt, &exit_code] { exit_code = RunCheck(*opt); });
}

}  // namespace apr_cli
