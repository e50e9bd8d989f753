// apr chat and Ctrl+C (SIGINT): the signal stops the reply being generated without ending the
// session; at the prompt, one Ctrl+C only warns and a second in a row exits (status 0).
// The test drives the process through a stdin pipe and waits on its output files (no timing is
// asserted; waits time out after a minute).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "apr_runner.h"

namespace {

// Waits until `pred(contents of path)` holds; false after `seconds`.
template <typename Pred>
bool WaitForFile(const std::string& path, Pred pred, int seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred(apr_run_test::Slurp(path))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE(
    "chat: Ctrl+C stops the reply, the session goes on, a second Ctrl+C at the prompt exits") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  apr_test::ScratchDir dir;
  const std::string model =
      (apr_test::SharedAssets() / "models/frankentiny/frankentiny-f32.gguf").string();
  const std::string out = dir.file("out.txt"), err = dir.file("err.txt");
  int in_pipe[2];
  REQUIRE(pipe(in_pipe) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    close(in_pipe[0]);
    close(in_pipe[1]);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, STDOUT_FILENO);
    dup2(e, STDERR_FILENO);
    // A reply that would run to the end of a 4096-token context unless interrupted.
    execl(APR_CLI_PATH, APR_CLI_PATH, "chat", model.c_str(), "--verbose", "--seed", "1",
          "--max-tokens", "100000", "--ctx-size", "4096", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in_pipe[0]);
  auto send = [&](const std::string& s) {
    REQUIRE(write(in_pipe[1], s.data(), s.size()) == static_cast<ssize_t>(s.size()));
  };
  send("It was a dark night\n");
  // Interrupt once the reply is streaming.
  REQUIRE(WaitForFile(out, [](const std::string& s) { return s.size() > 20; }));
  kill(pid, SIGINT);
  REQUIRE(WaitForFile(err, [](const std::string& s) { return s.find("[turn 1") != s.npos; }));
  const std::string after_first = apr_run_test::Slurp(err);
  INFO(after_first);
  CHECK(after_first.find("interrupted]") != std::string::npos);
  // The session is still alive and takes commands.
  send("/clear\n");
  REQUIRE(
      WaitForFile(err, [](const std::string& s) { return s.find("(history cleared)") != s.npos; }));
  // At the prompt: the first Ctrl+C warns, the second exits.
  kill(pid, SIGINT);
  REQUIRE(WaitForFile(err, [](const std::string& s) { return s.find("Ctrl+C again") != s.npos; }));
  kill(pid, SIGINT);
  int status = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(in_pipe[1]);
  INFO(apr_run_test::Slurp(err));
  REQUIRE(done == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
