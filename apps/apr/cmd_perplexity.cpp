// apr perplexity MODEL FILE: perplexity of the model on a text, exp(mean negative log-likelihood)
// over the scored positions of non-overlapping windows of --ctx tokens.
//
// The text (optionally only its tail, --from-fraction F: from code point floor(F * count) on) is
// tokenized once without special tokens; it is cut into floor(tokens / ctx) windows (the
// remainder is dropped); each window is evaluated from an empty cache. When the vocabulary adds
// BOS, the first token of each window is replaced by BOS, as llama.cpp's llama-perplexity does.
//  --score all:         every prediction inside the window (ctx - 1 per window), as a
//                       transformers evaluation over non-overlapping windows computes it;
//  --score second-half: only predictions of tokens ctx/2 + 1 .. ctx - 1 (llama-perplexity),
//                       which always have at least half a window of context.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"
#include "trueno/str_cat.h"

namespace apr_cli {
namespace {

struct PerplexityOptions {
  std::string path;
  std::string text_path;
  int ctx = 256;
  std::string score = "second-half";
  double from_fraction = 0.0;
  int max_windows = 0;
  int threads = 0;
  bool json = false;
};

// Byte offset of code point number `index` of UTF-8 `text` (continuation bytes are not counted).
size_t CodePointOffset(const std::string& text, size_t index) {
  size_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (seen == index) return i;
    ++seen;
  }
  return text.size();
}

size_t CountCodePoints(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

int RunPerplexity(const PerplexityOptions& opt) {
  const bool all = opt.score == "all";
  if (!all && opt.score != "second-half") {
    return Fail(trueno::Concat("--score must be all or second-half, got '", opt.score, "'"));
  }
  if (!(opt.from_fraction >= 0.0 && opt.from_fraction < 1.0)) {
    return Fail(trueno::Concat("--from-fraction must be in [0, 1), got ", opt.from_fraction));
  }
  if (opt.ctx < 4) return Fail(trueno::Concat("--ctx must be at least 4, got ", opt.ctx));
  auto text = ReadTextFile(opt.text_path);
  if (!text.ok()) return Fail(text.status());

  SessionOptions so;
  so.model_path = opt.path;
  so.threads = opt.threads;
  auto loaded = InferenceSession::Load(so);
  if (!loaded.ok()) return Fail(loaded.status());
  InferenceSession& session = **loaded;
  const realizar::Tokenizer& tok = session.tokenizer();
  realizar::Model& model = session.model();

  int ctx = opt.ctx;
  if (ctx > model.max_context()) {
    std::fprintf(stderr, "note: --ctx %d is above the model's context %d; using %d\n", ctx,
                 model.max_context(), model.max_context());
    ctx = model.max_context();
  }

  const size_t start = CodePointOffset(
      *text, static_cast<size_t>(
                 std::floor(opt.from_fraction * static_cast<double>(CountCodePoints(*text)))));
  std::vector<int32_t> tokens =
      tok.Encode(std::string_view(*text).substr(start), /*add_special=*/false,
                 /*parse_special=*/false);
  int windows = static_cast<int>(tokens.size() / static_cast<size_t>(ctx));
  if (opt.max_windows > 0) windows = std::min(windows, opt.max_windows);
  if (windows == 0) {
    return Fail(trueno::Concat(opt.text_path, ": the text is ", tokens.size(),
                               " tokens, less than one window of --ctx ", ctx));
  }
  const bool bos = tok.add_bos() && tok.bos_id() >= 0;
  const int first = all ? 0 : ctx / 2;  // first logits row scored
  const size_t vocab = static_cast<size_t>(model.n_vocab());
  std::vector<float> logits(vocab * static_cast<size_t>(ctx));
  std::vector<int32_t> window(static_cast<size_t>(ctx));

  double nll_sum = 0, nll_sq = 0;
  size_t scored = 0;
  ProgressBar progress("perplexity");
  const double t0 = NowSeconds();
  for (int w = 0; w < windows; ++w) {
    std::copy_n(tokens.begin() + static_cast<long>(w) * ctx, ctx, window.begin());
    if (bos) window[0] = tok.bos_id();
    session.ResetCache();
    if (absl::Status s = model.Forward(window, 0, 0, logits.data(), /*all_logits=*/true); !s.ok()) {
      return Fail(s);
    }
    for (int j = first; j < ctx - 1; ++j) {
      const float* row = logits.data() + static_cast<size_t>(j) * vocab;
      double max = row[0];
      for (size_t v = 1; v < vocab; ++v) max = std::max(max, static_cast<double>(row[v]));
      double sum = 0;
      for (size_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
      const double nll = max + std::log(sum) - static_cast<double>(row[window[j + 1]]);
      nll_sum += nll;
      nll_sq += nll * nll;
      ++scored;
    }
    progress.Update(static_cast<uint64_t>(w + 1), static_cast<uint64_t>(windows));
  }
  progress.Finish();
  session.ResetCache();
  const double seconds = NowSeconds() - t0;
  const double mean = nll_sum / static_cast<double>(scored);
  const double ppl = std::exp(mean);
  // Standard error of the mean NLL, carried to the perplexity (first order), as llama.cpp does.
  const double var = std::max(0.0, nll_sq / static_cast<double>(scored) - mean * mean);
  const double ppl_err = ppl * std::sqrt(var / static_cast<double>(scored));

  if (opt.json) {
    PrintJson(boost::json::object{
        {"perplexity", ppl},
        {"perplexity_stderr", ppl_err},
        {"mean_nll", mean},
        {"ctx", ctx},
        {"windows", windows},
        {"tokens", tokens.size()},
        {"scored_tokens", scored},
        {"score", all ? "all" : "second-half"},
        {"from_fraction", opt.from_fraction},
        {"seconds", seconds},
        {"tok_s", seconds > 0 ? windows * static_cast<double>(ctx) / seconds : 0.0},
    });
    return 0;
  }
  std::printf("perplexity %.4f +/- %.4f  (%d windows of %d tokens, %zu scored, %s)\n", ppl, ppl_err,
              windows, ctx, scored, all ? "all positions" : "second half of each window");
  return 0;
}

}  // namespace

void RegisterPerplexity(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<PerplexityOptions>();
  CLI::App* cmd =
      app.add_subcommand("perplexity", "Perplexity of a model on a text file (windows of --ctx)");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("FILE", opt->text_path, "UTF-8 text file")->required();
  cmd->add_option("--ctx", opt->ctx,
                  "window length in tokens (default 256, at most the model's context)");
  cmd->add_option("--score", opt->score,
                  "second-half (llama-perplexity, default) or all (every position)");
  cmd->add_option("--from-fraction", opt->from_fraction,
                  "score only the text from this fraction of its characters on (0.9 = last 10%)");
  cmd->add_option("--max-windows", opt->max_windows, "evaluate at most this many windows");
  cmd->add_option("-t,--threads", opt->threads, "CPU threads (default: every available CPU)");
  cmd->add_flag("--json", opt->json, "print a JSON object");
  cmd->callback([opt, &exit_code] { exit_code = RunPerplexity(*opt); });
}

}  // namespace apr_cli
