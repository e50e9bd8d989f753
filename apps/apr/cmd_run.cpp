// apr run MODEL PROMPT: one completion, streamed to stdout. Quiet by default (a spinner on a
// terminal's stderr while loading, then only the answer); --verbose adds timings on stderr;
// --json prints one object instead; --trace FILE writes a per-stage JSON trace (load, tokenize,
// prefill, decode with each step, detokenize) with durations.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"
#include "trueno/kernels.h"

namespace apr_cli {
namespace {

double PerSecond(double n, double s) { return s > 0 ? n / s : 0.0; }

boost::json::object TimingsJson(const InferenceSession& session, const GenerationStats& st,
                                size_t generated) {
  return boost::json::object{
      {"load_ms", session.load_s() * 1e3},
      {"prompt_tokens", st.prompt_tokens},
      {"prefill_tokens", st.prefill_tokens},
      {"prefill_ms", st.prefill_s * 1e3},
      {"prefill_tok_s", PerSecond(st.prefill_tokens, st.prefill_s)},
      {"ttft_ms", st.ttft_s * 1e3},
      {"generated_tokens", generated},
      {"decode_steps", st.decode_steps},
      {"decode_ms", st.decode_s * 1e3},
      {"decode_tok_s", PerSecond(st.decode_steps, st.decode_s)},
  };
}

void PrintVerbose(const InferenceSession& session, const Generation& g, bool chat, uint64_t seed) {
  const GenerationStats& st = g.stats;
  std::fprintf(stderr,
               "\n--- %s | arch %s | context %d | %s prompt\n"
               "load        %8.1f ms\n"
               "prompt      %8d tokens (%d run)\n"
               "prefill     %8.1f ms  %9.1f tok/s\n"
               "ttft        %8.1f ms\n"
               "decode      %8zu tokens  %8.1f ms  %9.1f tok/s\n"
               "finish      %s\n"
               "backend     %s; cpu %s, %d threads, seed %llu\n",
               session.file().path.c_str(), session.architecture().c_str(), session.context(),
               chat ? "chat" : "raw", session.load_s() * 1e3, st.prompt_tokens, st.prefill_tokens,
               st.prefill_s * 1e3, PerSecond(st.prefill_tokens, st.prefill_s), st.ttft_s * 1e3,
               g.ids.size(), st.decode_s * 1e3, PerSecond(st.decode_steps, st.decode_s),
               FinishReasonName(g.reason), session.backend().c_str(), trueno::ActiveSimdTarget(),
               session.threads(), static_cast<unsigned long long>(seed));
}

// The --trace document: {"command", "model", "stages": [{"name", "ms", ...}], "total_ms"}.
// Written after the run (also when generation fails after loading, with what was measured).
class Trace {
 public:
  void Add(const char* name, double seconds, boost::json::object extra = {}) {
    extra["name"] = name;
    extra["ms"] = seconds * 1e3;
    stages_.push_back(std::move(extra));
  }
  int Write(const std::string& path, const std::string& model, double total_s) const {
    if (path.empty()) return 0;
    boost::json::object doc{
        {"command", "run"}, {"model", model}, {"stages", stages_}, {"total_ms", total_s * 1e3}};
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << boost::json::serialize(doc) << "\n";
    out.close();
    if (!out) return Fail("--trace " + path + ": cannot write the file (check the directory)");
    return 0;
  }

 private:
  boost::json::array stages_;
};

}  // namespace

int RunCompletion(const CompletionOptions& opt, bool allow_chat) {
  auto params = ToGenerationParams(opt.gen);
  if (!params.ok()) return Fail(params.status());
  if (opt.chat && opt.raw) return Fail("--chat and --raw exclude each other");
  std::string prompt = opt.prompt;
  if (prompt == "-") prompt = ReadAllStdin();
  const double t_start = NowSeconds();
  Trace trace;

  SessionOptions so;
  so.model_path = opt.path;
  so.threads = opt.gen.threads;
  so.ctx_size = opt.gen.ctx_size;
  so.gpu = opt.gen.gpu;
  so.verbose = opt.verbose;
  auto loaded = InferenceSession::Load(so);
  if (!loaded.ok()) return Fail(loaded.status());
  InferenceSession& session = **loaded;
  trace.Add("load", session.load_s(), {{"threads", session.threads()}});
  const double t_tokenize = NowSeconds();

  bool chat = allow_chat && (opt.chat || (!opt.raw && session.has_chat_template()));
  if (!opt.system.empty() && !chat) {
    if (opt.raw || !allow_chat) return Fail("--system needs chat mode (drop --raw)");
    chat = true;
  }
  std::vector<int32_t> ids;
  if (chat) {
    std::vector<realizar::ChatMessage> messages;
    if (!opt.system.empty()) messages.push_back({"system", opt.system});
    messages.push_back({"user", prompt});
    auto rendered = session.RenderChat(messages);
    if (!rendered.ok()) return Fail(rendered.status());
    ids = session.EncodePrompt(*rendered, true);
  } else {
    ids = session.EncodePrompt(prompt, false);
  }
  trace.Add("tokenize", NowSeconds() - t_tokenize,
            {{"tokens", ids.size()}, {"chat", chat}, {"bytes", prompt.size()}});
  if (ids.empty()) return Fail("the prompt is empty (0 tokens); give some text");

  realizar::StreamDecoder decoder(session.tokenizer());
  const bool stream = !opt.json;
  if (stream && opt.echo) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
  }
  // The text is what the stream decoder emits (valid UTF-8: bytes that never complete a code
  // point become U+FFFD), so --json's "text" equals the streamed output.
  std::string text;
  double detok_s = 0;
  auto g = session.Generate(ids, *params, [&](int32_t id) {
    const double t0 = NowSeconds();
    const std::string piece = decoder.Push(id);
    detok_s += NowSeconds() - t0;
    text += piece;
    if (stream) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!g.ok()) {
    if (stream) std::fflush(stdout);
    trace.Write(opt.trace, opt.path, NowSeconds() - t_start);
    return Fail(g.status());
  }
  const double t_flush = NowSeconds();
  const std::string rest = decoder.Flush();
  detok_s += NowSeconds() - t_flush;
  text += rest;
  {
    const GenerationStats& st = g->stats;
    trace.Add("prefill", st.prefill_s,
              {{"tokens", st.prefill_tokens}, {"ttft_ms", st.ttft_s * 1e3}});
    boost::json::array steps;
    for (double s : st.step_s) steps.push_back(s * 1e3);
    trace.Add("decode", st.decode_s,
              {{"steps", st.decode_steps},
               {"tokens", g->ids.size()},
               {"finish_reason", FinishReasonName(g->reason)},
               {"step_ms", steps}});
    trace.Add("detokenize", detok_s, {{"bytes", text.size()}});
  }
  if (stream) {
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (opt.json) {
    boost::json::array prompt_ids, out_ids;
    for (int32_t id : ids) prompt_ids.push_back(id);
    for (int32_t id : g->ids) out_ids.push_back(id);
    boost::json::object timings = TimingsJson(session, g->stats, g->ids.size());
    PrintJson(boost::json::object{
        {"text", text},
        {"prompt_ids", prompt_ids},
        {"ids", out_ids},
        {"finish_reason", FinishReasonName(g->reason)},
        {"timings", timings},
        {"model", opt.path},
        {"chat", chat},
        {"seed", params->sampler.seed},
        {"threads", session.threads()},
        {"backend", "cpu"},
        {"simd", trueno::ActiveSimdTarget()},
    });
  }
  if (opt.verbose) PrintVerbose(session, *g, chat, params->sampler.seed);
  return trace.Write(opt.trace, opt.path, NowSeconds() - t_start);
}

void RegisterRun(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<CompletionOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate a completion for a prompt (streamed)");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("PROMPT", opt->prompt, "prompt text, or - to read it from stdin")->required();
  cmd->add_option("--system", opt->system, "system message (chat mode)");
  cmd->add_flag("--chat", opt->chat, "apply the chat template (default when the model has one)");
  cmd->add_flag("--raw", opt->raw, "feed the prompt as-is, without a chat template");
  cmd->add_flag("-v,--verbose", opt->verbose, "print load time, token counts and speeds on stderr");
  cmd->add_flag("--json", opt->json, "print one JSON object instead of streaming text");
  cmd->add_option("--trace", opt->trace,
                  "write a JSON trace of the stages (load, tokenize, prefill, decode, "
                  "detokenize) with durations to FILE");
  AddGenerationFlags(cmd, opt->gen);
  cmd->callback([opt, &exit_code] { exit_code = RunCompletion(*opt, /*allow_chat=*/true); });
}

}  // namespace apr_cli
