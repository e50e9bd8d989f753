// apr keygen --out PREFIX: an Ed25519 key pair, PREFIX.key (private, mode 0600) and PREFIX.pub.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include "aprender/signing.h"
#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {
struct KeygenOptions {
  std::string prefix;
  bool force = false;
};

absl::Status WriteFileMode(const std::string& path, const std::string& data, mode_t mode,
                           bool force) {
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (force ? 0 : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST)
      return absl::AlreadyExistsError(path + ": already exists (use --force to overwrite)");
    return absl::PermissionDeniedError(path + ": cannot create: " + std::strerror(err));
  }
  // The umask may have dropped bits, and an existing file keeps its old mode: set it explicitly.
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(path + ": write failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return absl::DataLossError(path + ": close failed");
  return absl::OkStatus();
}

int RunKeygen(const KeygenOptions& opt) {
  auto keys = aprender::GenerateEd25519KeyPair();
  if (!keys.ok()) return Fail(keys.status());
  const std::string priv = opt.prefix + ".key";
  const std::string pub = opt.prefix + ".pub";
  if (auto st = WriteFileMode(priv, keys->private_pem, 0600, opt.force); !st.ok()) return Fail(st);
  if (auto st = WriteFileMode(pub, keys->public_pem, 0644, opt.force); !st.ok()) return Fail(st);
  std::cout << "wrote " << priv << " (private, mode 0600) and " << pub << " (public)" << std::endl;
  return 0;
}

}  // namespace

void RegisterKeygen(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<KeygenOptions>();
  CLI::App* cmd =
      app.add_subcommand("keygen", "Generate an Ed25519 key pair for signing .apr files");
  cmd->add_option("--out", opt->prefix, "writes PREFIX.key (private) and PREFIX.pub (public)")
      ->required();
  cmd->add_flag("--force", opt->force, "overwrite existing key files");
  cmd->callback([opt, &exit_code] { exit_code = RunKeygen(*opt); });
}

}  // namespace apr_cli
