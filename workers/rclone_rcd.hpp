// A long-running `rclone rcd` (one per upload thread of an RCLONE target), driven through its
// HTTP JSON API (operations/stat, operations/copyfile, operations/movefile, ...). An upload used
// to start one rclone process per step; each start costs ~0.1 s of CPU and round trips (config,
// backend set-up), several times what a small file's transfer costs. A daemon keeps the backend
// and its connections warm, so a step costs one loopback HTTP request plus the remote's work.
//
// The daemon listens on 127.0.0.1, on a port the kernel picks (read back from rclone's
// "Serving remote control on" line), with a random user and password passed in its environment
// (not on its command line, which every local user can read), so other local users cannot drive
// it. It gets the same settings as every rclone child (RcloneRunner: program, --config, the
// environment without AWS_CA_BUNDLE, short retries, PR_SET_PDEATHSIG) and is started on first
// use and again on the first call after it died. Its output is drained by a thread that keeps
// the last line for error messages.
//
// Requests are HTTP/1.1 with "Connection: close", one connection per call: the calls of one
// upload are seconds apart at most and a loopback connect costs microseconds, so keep-alive
// would buy nothing and would need a connection pool. stop() kills the daemon and shuts down the
// calls in flight, so an upload thread never waits for a transfer that nobody wants any more.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "workers/rclone_remote.hpp"

namespace pushcap::workers {

struct RcReply {
    int status = 0;     // HTTP status; 0: no answer (the daemon could not start or went away)
    std::string body;   // the JSON answer
    std::string error;  // rclone's "error" text, or why there was no answer
    bool ok() const { return status == 200; }
    // One line for logs: "HTTP 500: <rclone's message>" or the reason there was no answer.
    std::string summary() const;
};

class RcloneDaemon {
  public:
    explicit RcloneDaemon(RcloneSettings settings);
    ~RcloneDaemon();  // stop()
    RcloneDaemon(const RcloneDaemon&) = delete;
    RcloneDaemon& operator=(const RcloneDaemon&) = delete;

    // POST /<method> with the JSON object `params`; starts the daemon if it is not running.
    // Thread-safe; blocks until rclone answers (a copy takes as long as the transfer).
    RcReply call(const std::string& method, const std::string& params);
    // Kills the daemon, fails the calls in flight and every later call.
    void stop();
    // The daemon's pid, 0 if none (tests kill it to check the restart).
    pid_t pid() const;

  private:
    enum class State { Down, Starting, Running };

    bool ensureRunning(std::unique_lock<std::mutex>& lock, std::string& error);
    void drain(int fd, pid_t pid);
    RcReply post(int fd, int port, const std::string& method, const std::string& params);

    RcloneRunner m_runner;
    std::string m_authorization;  // "Basic ..."
    std::string m_password;

    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    State m_state = State::Down;
    bool m_stopping = false;
    pid_t m_pid = 0;
    int m_port = 0;
    std::string m_lastLine;  // the daemon's last output line
    std::string m_exit;      // how the last daemon ended, with its last line
    std::thread m_drainer;
    std::set<int> m_calls;  // sockets of calls in flight
};

// JSON helpers for rc requests and answers (the answers are rclone's; no general parser needed).
std::string jsonQuote(const std::string& s);
// The string value of the first "key" in `json`, unescaped; nullopt if absent or not a string.
std::optional<std::string> jsonStringField(const std::string& json, const std::string& key);
// operations/stat's answer: the object's size, -1 when "item" is null (no such file).
// nullopt if the answer has neither.
std::optional<std::int64_t> statSize(const std::string& json);

}  // namespace pushcap::workers
