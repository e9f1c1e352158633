// Running rclone for an RCLONE target (FMADIO Mode "RCLONE"): where the files go on the remote,
// one blocking rclone invocation with its output (`--check` in pushcap-worker and pushcapd), and
// the start of a long-running one (the uploaders' `rclone rcd`, rclone_rcd.hpp); never on the
// packet path.
//
// Children are started with fork + exec and PR_SET_PDEATHSIG, so none outlives its worker.
// Every rclone child gets the worker's environment minus AWS_CA_BUNDLE (set on our machines, it
// makes rclone's S3 backend fail on plain-HTTP and self-signed endpoints), the configured
// --config file, and short retry/timeout settings: retrying is the uploader's job (with backoff
// and counting), not a hidden loop inside one rclone call.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

namespace pushcap::workers {

struct RcloneSettings {
    std::string program = "rclone";  // a path, or a name looked up on PATH
    std::string configFile;          // rclone --config; empty: rclone's default / environment
};

// `Path = "remote:bucket/dir/prefix"` cut like a File Path: the remote directory
// ("remote:bucket/dir") and the local naming path part ("prefix", or "" for a Path ending in '/').
struct RemotePath {
    std::string remoteName;  // "remote" ("" for an on-the-fly ":backend,opt=x:" remote)
    std::string directory;   // "remote:bucket/dir", joins names with '/' unless it ends in ':'
    std::string prefix;      // file-name prefix part, FileNamer rules
};

// Throws ConfigError if `path` names no remote ("remote:..." expected).
RemotePath splitRemotePath(const std::string& path);

// "remote:dir" + "name" -> "remote:dir/name"; "remote:" + "name" -> "remote:name".
std::string remoteJoin(const std::string& directory, const std::string& name);

struct RcloneResult {
    int exitCode = -1;  // rclone's exit code; -1: could not start, or killed by a signal
    std::string out;    // stdout
    std::string err;    // stderr (rclone's messages), trimmed
    // One line for logs: "exit 5: <last stderr line>".
    std::string summary() const;
};

class RcloneRunner {
  public:
    explicit RcloneRunner(RcloneSettings settings);

    // Runs `rclone <common flags> args...` and waits for it (--check). Thread-safe.
    RcloneResult run(const std::vector<std::string>& args) const;

    // Starts `rclone <common flags> args...` and returns at once: the environment loses the
    // variables whose names start with `dropPrefix` (if not empty) and gains `extraEnv`; stdout
    // and stderr go to one pipe whose read end is returned in `output` (close-on-exec). Returns
    // the pid, or -1 with `error` set. The caller reaps the child.
    pid_t start(const std::vector<std::string>& args, const std::string& dropPrefix,
                const std::vector<std::string>& extraEnv, int& output, std::string& error) const;

    const RcloneSettings& settings() const { return m_settings; }

  private:
    std::vector<std::string> argv(const std::vector<std::string>& args) const;
    std::string notFound() const;

    RcloneSettings m_settings;
    std::string m_program;                   // resolved path, "" if not found
    std::vector<std::string> m_environment;  // ours without AWS_CA_BUNDLE
};

// --check: rclone can be run and knows the remote of `path` (`rclone listremotes`).
// Returns "" when fine, else what is wrong (for a message naming the target and key).
std::string rcloneProblem(const RcloneSettings& settings, const std::string& path);

}  // namespace pushcap::workers
