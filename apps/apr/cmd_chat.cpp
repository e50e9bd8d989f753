// apr chat MODEL: an interactive conversation. Each line typed at the ">>> " prompt is a user
// turn; the whole history goes through the chat template and the reply streams to stdout (the
// KV cache keeps the conversation so far, so a turn only runs its new tokens).
// Commands: /exit (or /bye), /clear, /system TEXT, /save FILE, /help.
// Ctrl+C stops the reply being generated; at the prompt, a second Ctrl+C in a row exits. EOF
// (Ctrl+D, or the end of piped input) exits.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"
#include "trueno/str_cat.h"

namespace apr_cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

struct ChatOptions {
  std::string path;
  std::string system;
  std::string history_file;
  bool verbose = false;
  GenerationFlags gen;
};

enum class LineResult { kLine, kEof, kInterrupted };

// Reads one line from stdin with read(2), so that SIGINT (installed without SA_RESTART)
// interrupts the wait.
class LineReader {
 public:
  LineResult Read(std::string& line) {
    line.clear();
    while (true) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return LineResult::kLine;
      }
      // A Ctrl+C that landed just before read(2) started would not interrupt it.
      if (g_interrupted.exchange(false)) return LineResult::kInterrupted;
      char chunk[4096];
      const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        if (buf_.empty()) return LineResult::kEof;
        line.swap(buf_);
        buf_.clear();
        return LineResult::kLine;
      } else if (errno == EINTR) {
        if (g_interrupted.exchange(false)) return LineResult::kInterrupted;
      } else {
        return LineResult::kEof;
      }
    }
  }

 private:
  std::string buf_;
};

absl::StatusOr<std::vector<realizar::ChatMessage>> LoadHistory(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec);
  if (ec) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": not JSON (", ec.message(),
                                                     "); expected [{\"role\", \"content\"}]"));
  }
  const boost::json::array* arr = v.if_array();
  if (!arr && v.is_object() && v.as_object().contains("messages")) {
    arr = v.as_object().at("messages").if_array();
  }
  if (!arr) {
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": expected a JSON array of {\"role\", \"content\"} objects"));
  }
  std::vector<realizar::ChatMessage> out;
  for (const auto& item : *arr) {
    const boost::json::object* o = item.if_object();
    const boost::json::value* role = o ? o->if_contains("role") : nullptr;
    const boost::json::value* content = o ? o->if_contains("content") : nullptr;
    if (!role || !content || !role->is_string() || !content->is_string()) {
      return absl::InvalidArgumentError(trueno::Concat(
          path, ": message ", out.size(), " needs string fields \"role\" and \"content\""));
    }
    out.push_back({std::string(role->as_string()), std::string(content->as_string())});
  }
  return out;
}

absl::Status SaveHistory(const std::string& path,
                         const std::vector<realizar::ChatMessage>& history) {
  boost::json::array arr;
  for (const auto& m : history) arr.push_back({{"role", m.role}, {"content", m.content}});
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << boost::json::serialize(arr) << "\n";
  out.close();
  if (!out) return absl::InternalError(trueno::Concat(path, ": cannot write the history"));
  return absl::OkStatus();
}

void SetSystem(std::vector<realizar::ChatMessage>& history, const std::string& text) {
  if (!history.empty() && history.front().role == "system") {
    if (text.empty()) {
      history.erase(history.begin());
    } else {
      history.front().content = text;
    }
  } else if (!text.empty()) {
    history.insert(history.begin(), {"system", text});
  }
}

// Renders the history and, while it does not fit the context, drops the oldest exchange after
// the system message (documented truncation). Returns the prompt ids.
absl::StatusOr<std::vector<int32_t>> FitPrompt(InferenceSession& session,
                                               std::vector<realizar::ChatMessage>& history) {
  while (true) {
    auto rendered = session.RenderChat(history);
    if (!rendered.ok()) return rendered.status();
    std::vector<int32_t> ids = session.EncodePrompt(*rendered, true);
    if (static_cast<int>(ids.size()) < session.context()) return ids;
    const size_t first = (!history.empty() && history.front().role == "system") ? 1 : 0;
    if (history.size() <= first + 1) {
      return absl::InvalidArgumentError(trueno::Concat(
          "prompt too long: the message is ", ids.size(), " tokens but the context holds ",
          session.context(), "; shorten it or raise --ctx-size"));
    }
    // Drop the oldest exchange (user + assistant) so roles keep alternating.
    history.erase(history.begin() + static_cast<long>(first));
    if (history.size() > first + 1 && history[first].role == "assistant") {
      history.erase(history.begin() + static_cast<long>(first));
    }
    std::fprintf(stderr, "(context full: dropped the oldest exchange)\n");
  }
}

int RunChat(const ChatOptions& opt) {
  auto params = ToGenerationParams(opt.gen);
  if (!params.ok()) return Fail(params.status());
  std::vector<realizar::ChatMessage> history;
  if (!opt.history_file.empty()) {
    auto h = LoadHistory(opt.history_file);
    if (!h.ok()) return Fail(h.status());
    history = std::move(*h);
  }
  if (!opt.system.empty()) SetSystem(history, opt.system);

  SessionOptions so;
  so.model_path = opt.path;
  so.threads = opt.gen.threads;
  so.ctx_size = opt.gen.ctx_size;
  so.gpu = opt.gen.gpu;
  so.verbose = opt.verbose;
  auto loaded = InferenceSession::Load(so);
  if (!loaded.ok()) return Fail(loaded.status());
  InferenceSession& session = **loaded;

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a Ctrl+C at the prompt interrupts read(2)
  sigaction(SIGINT, &sa, nullptr);

  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) {
    std::fprintf(stderr, "%s loaded (%s). /help for commands, /exit or Ctrl+D to quit.\n",
                 opt.path.c_str(),
                 session.has_chat_template() ? "chat template" : "built-in template");
  }
  LineReader reader;
  bool interrupted_at_prompt = false;
  int turn = 0;
  std::string line;
  while (true) {
    if (interactive) {
      std::fputs(">>> ", stdout);
      std::fflush(stdout);
    }
    const LineResult r = reader.Read(line);
    if (r == LineResult::kEof) {
      if (interactive) std::fputc('\n', stdout);
      break;
    }
    if (r == LineResult::kInterrupted) {
      if (interrupted_at_prompt) {
        std::fputc('\n', stdout);
        break;
      }
      interrupted_at_prompt = true;
      std::fprintf(stderr, "\n(press Ctrl+C again, Ctrl+D or type /exit to quit)\n");
      continue;
    }
    interrupted_at_prompt = false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '/') {
      const size_t sp = line.find(' ');
      const std::string cmd = line.substr(0, sp);
      const std::string arg = sp == std::string::npos ? "" : line.substr(sp + 1);
      if (cmd == "/exit" || cmd == "/bye" || cmd == "/quit") break;
      if (cmd == "/clear") {
        const std::string system =
            !history.empty() && history.front().role == "system" ? history.front().content : "";
        history.clear();
        SetSystem(history, system);
        session.ResetCache();
        std::fprintf(stderr, "(history cleared)\n");
      } else if (cmd == "/system") {
        SetSystem(history, arg);
        std::fprintf(stderr, arg.empty() ? "(system message removed)\n" : "(system message set)\n");
      } else if (cmd == "/save") {
        if (arg.empty()) {
          std::fprintf(stderr, "usage: /save FILE\n");
        } else if (absl::Status s = SaveHistory(arg, history); !s.ok()) {
          std::fprintf(stderr, "apr: error: %s\n", std::string(s.message()).c_str());
        } else {
          std::fprintf(stderr, "(saved %zu messages to %s)\n", history.size(), arg.c_str());
        }
      } else if (cmd == "/help" || cmd == "/?") {
        std::fprintf(stderr,
                     "/exit            quit (also /bye, Ctrl+D)\n"
                     "/clear           forget the conversation (keeps the system message)\n"
                     "/system TEXT     set the system message (empty TEXT removes it)\n"
                     "/save FILE       write the conversation as JSON\n");
      } else {
        std::fprintf(stderr, "unknown command %s (try /help)\n", cmd.c_str());
      }
      continue;
    }

    history.push_back({"user", line});
    auto ids = FitPrompt(session, history);
    if (!ids.ok()) {
      history.pop_back();
      std::fprintf(stderr, "apr: error: %s\n", std::string(ids.status().message()).c_str());
      continue;
    }
    realizar::StreamDecoder decoder(session.tokenizer());
    g_interrupted.store(false);
    std::string reply;
    auto g = session.Generate(*ids, *params, [&](int32_t id) {
      const std::string piece = decoder.Push(id);
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    if (!g.ok()) {
      history.pop_back();
      std::fprintf(stderr, "\napr: error: %s\n", std::string(g.status().message()).c_str());
      continue;
    }
    g_interrupted.store(false);
    const std::string rest = decoder.Flush();
    reply += rest;
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputs("\n", stdout);
    if (interactive) std::fputc('\n', stdout);
    std::fflush(stdout);
    history.push_back({"assistant", reply});
    ++turn;
    if (opt.verbose) {
      const GenerationStats& st = g->stats;
      std::fprintf(
          stderr, "[turn %d: %d prompt tokens (%d run) %.1f tok/s, %zu generated %.1f tok/s, %s]\n",
          turn, st.prompt_tokens, st.prefill_tokens,
          st.prefill_s > 0 ? st.prefill_tokens / st.prefill_s : 0.0, g->ids.size(),
          st.decode_s > 0 ? st.decode_steps / st.decode_s : 0.0, FinishReasonName(g->reason));
    }
  }
  return 0;
}

}  // namespace

void RegisterChat(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Interactive multi-turn chat with a model");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("--system", opt->system, "system message");
  cmd->add_option("--history", opt->history_file,
                  "start from a conversation saved with /save (JSON [{role, content}])");
  cmd->add_flag("-v,--verbose", opt->verbose, "print token counts and speeds per turn on stderr");
  AddGenerationFlags(cmd, opt->gen);
  cmd->callback([opt, &exit_code] { exit_code = RunChat(*opt); });
}

}  // namespace apr_cli
