// One-for-one restart policy for one child (OTP style), with the clock injected so it is tested
// without fork or sleeps. The supervisor asks it what to do each time the child exits.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

namespace pushcap::supervisor {

using Clock = std::chrono::steady_clock;

struct RestartLimits {
    std::chrono::milliseconds initialBackoff{100};
    std::chrono::milliseconds maxBackoff{30'000};
    std::chrono::milliseconds healthyAfter{60'000};  // running this long resets the backoff
    std::uint32_t maxRestarts = 5;                   // more than this many restarts ...
    std::chrono::milliseconds window{30'000};        // ... within this window: FAILED
};

enum class ChildExit {
    Done,       // exited 0: its work is finished (offline push) or it was asked to stop
    Crashed,    // non-zero exit or killed by a signal: retry
    BadConfig,  // the bad-configuration exit code: retrying cannot help
};

// Whether the child got anywhere between its start and its exit (a worker committed past its
// resume position, the capture published packets). Only a crash without progress is a crash loop.
enum class Progress { None, Made };

struct RestartDecision {
    enum class Action { Restart, Stop, Fail } action = Action::Restart;
    Clock::time_point restartAt{};  // for Restart
    std::string reason;             // for Fail: why, for status
};

class RestartPolicy {
  public:
    // `essential` children (the capture process) are always restarted, whatever the intensity.
    explicit RestartPolicy(RestartLimits limits = {}, bool essential = false);

    void started(Clock::time_point now);
    // A crash counts toward the intensity (more than maxRestarts within window: FAILED) only
    // without progress: a worker killed while busy (OOM killer, operator) is restarted however
    // often it happens, while one that dies again where it resumed (a poison packet) is failed.
    RestartDecision exited(Clock::time_point now, ChildExit how, Progress progress);

    std::uint64_t restarts() const { return m_restarts; }
    std::chrono::milliseconds nextBackoff() const { return m_backoff; }

  private:
    RestartLimits m_limits;
    bool m_essential;
    std::chrono::milliseconds m_backoff;
    Clock::time_point m_startedAt{};
    std::deque<Clock::time_point> m_recent;  // no-progress crash times inside the window
    std::uint64_t m_restarts = 0;
};

}  // namespace pushcap::supervisor
