// pushcapd's core: creates the ring, starts the capture process and one worker per target,
// restarts them by policy, reloads on SIGHUP, stops cleanly on SIGTERM, and publishes status.
// Single-threaded: one poll loop over a signalfd, the children's ready/event pipes and timers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/child_process.hpp"
#include "supervisor/config.hpp"
#include "supervisor/restart_policy.hpp"

namespace pushcap::router {
class RingJanitor;
}

namespace pushcap::v1 {
class CaptureStatus;
}

namespace pushcap::supervisor {

class StatusPublisher;

struct SupervisorOptions {
    std::string configPath;
    std::vector<std::string> offlineFiles;         // non-empty: offline push, exit when done
    std::vector<std::string> interfaces;           // overrides Config.Interface
    std::string instance;                          // overrides Config.Instance
    std::string statusEndpoint;                    // overrides Config.StatusEndpoint
    std::string logDir;                            // overrides Config.LogDir
    bool showProgress = false;                     // offline progress line on stderr
    std::chrono::milliseconds statusLinger{5000};  // offline: longest wait for subscribers
    std::chrono::milliseconds shutdownTimeout{30'000};
    RestartLimits limits;
};

enum class ChildState { Starting, Running, Restarting, Failed, Stopped };

class Supervisor {
  public:
    Supervisor(SupervisorOptions options, PushConfig config);
    ~Supervisor();
    // Runs until done (offline), or until SIGTERM/SIGINT. Returns the process exit code.
    int run();

  private:
    struct Child {
        std::string name;  // target Desc, or "capture"
        bool isCapture = false;
        ChildSpec spec;
        std::string fingerprint;
        RestartPolicy policy;
        SpawnedChild proc;
        ChildState state = ChildState::Starting;
        Clock::time_point restartAt{};
        bool restartPending = false;
        bool stopRequested = false;
        bool removeWhenStopped = false;
        router::Delivery delivery = router::Delivery::Lossless;  // of its ring slot
        std::optional<ChildSpec> replacement;
        std::string replacementFingerprint;
        router::Delivery replacementDelivery = router::Delivery::Lossless;
        bool finished = false;  // exited 0 after finishing its work
        std::string lastError;
        std::string currentFile;
        std::uint64_t lastUploadUnixNs = 0;  // RCLONE: from the worker's `uploaded` events
        std::string pendingLine;
        int exitCode = 0;
        int exitSignal = 0;
        std::uint64_t progressAtStart = 0;  // progressMark() when it was spawned
    };

    void setUp();
    void spawn(Child& child);
    std::uint64_t progressMark(const Child& child) const;
    Progress progressSince(const Child& child) const;
    void startTarget(const TargetConfig& target);
    void handleSignals();
    void reap();
    void childExited(Child& child, int status);
    void readReady(Child& child);
    void readEvents(Child& child);
    void childEvent(Child& child, const std::vector<std::string>& fields);
    void beginShutdown(const std::string& why);
    void reload();
    void publishSnapshot();
    void serveStatus();
    void waitForSubscribers();
    void showProgress(bool final);
    void fillCollector(pushcap::v1::CaptureStatus& cap) const;
    bool allDone() const;
    int pollTimeoutMs() const;
    Child* findChild(pid_t pid);
    Child* findChild(const std::string& name);
    ChildSpec workerSpec(const TargetConfig& target) const;
    router::Delivery deliveryFor(const TargetConfig& target) const;

    SupervisorOptions m_options;
    PushConfig m_config;
    std::string m_instance;
    std::vector<std::string> m_interfaces;
    std::vector<std::string> m_sources;  // ring source names in id order (see sourceNames)
    std::string m_segment;
    bool m_offline = false;
    RingPlan m_ringPlan;  // the ring's mode, fixed for the run
    std::unique_ptr<router::RingJanitor> m_ring;
    std::unique_ptr<StatusPublisher> m_status;
    std::vector<std::unique_ptr<Child>> m_children;
    int m_signalFd = -1;
    bool m_stopping = false;
    bool m_stopForced = false;
    Clock::time_point m_stopDeadline{};
    Clock::time_point m_started{};
    Clock::time_point m_statusBoundAt{};
    bool m_finalStatus = false;  // the run is over: snapshots say final
    Clock::time_point m_nextSnapshot{};
    Clock::time_point m_nextProgress{};
    std::vector<std::string> m_failures;  // why the run is not a success
    std::uint64_t m_inputDone = 0;
    std::uint64_t m_inputTotal = 0;
    // The collector's last report (capture events "client" and "collector"), published as is.
    std::map<std::string, std::vector<std::string>> m_collectorClients;
    std::vector<std::string> m_collectorTotals;
    std::uint64_t m_lastWritePos = 0;
    Clock::time_point m_lastRateAt{};
    double m_byteRate = 0;  // ring bytes per second, for lag in seconds
};

}  // namespace pushcap::supervisor
