// What pushcap-web knows about pushcapd: the last snapshot, the recent events and the health of
// the subscription. Written by the subscriber thread, read by the HTTP threads; every method is
// thread-safe. Times are wall clock (system_clock), as shown to people and to Prometheus.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "status.pb.h"

namespace pushcap::tools {

using WallClock = std::chrono::system_clock;

// One Server-Sent Event: `id` grows by one per message this process received.
struct WebMessage {
    std::uint64_t id = 0;
    std::string event;  // "snapshot", "file_completed", "child_exited", "config_changed"
    std::string json;
};

// A consistent copy of the state, for /metrics.
struct WebStateView {
    std::optional<v1::Snapshot> snapshot;
    WallClock::time_point receivedAt{};   // of the last message of any kind
    bool stale = true;                    // nothing received for staleAfter()
    std::uint64_t messages = 0;           // received and decoded
    std::uint64_t missed = 0;             // sequence numbers the replay could not give back
    std::uint64_t undecodable = 0;        // bad topic or protobuf
    std::uint64_t publisherRestarts = 0;  // the sequence went back: a new pushcapd
};

class WebState {
  public:
    explicit WebState(std::size_t recentFiles = 20, std::size_t backlog = 256);

    // From the subscriber thread.
    void onSnapshot(const v1::Snapshot& snapshot, WallClock::time_point at);
    void onEvent(const std::string& kind, const v1::Event& event, WallClock::time_point at);
    void onUndecodable();

    WebStateView view(WallClock::time_point now) const;
    // /api/status: {"endpoint", "stale", "received_unix_ms", "snapshot" (or null), "recent_files"}.
    std::string statusJson(const std::string& endpoint, WallClock::time_point now) const;

    // For an SSE client: start() gives the current snapshot (if any) and sets `cursor`;
    // waitAfter() then waits up to `timeout` for newer messages and moves `cursor` past them.
    // Empty on timeout or after shutdown(). A client slower than the backlog skips ahead.
    std::vector<WebMessage> start(std::uint64_t& cursor) const;
    std::vector<WebMessage> waitAfter(std::uint64_t& cursor, std::chrono::milliseconds timeout);
    void shutdown();
    bool isShutdown() const { return m_shutdown.load(); }

    // How long without a message before the data counts as stale: three status intervals, at
    // least 3 s, so a slow StatusInterval does not flap.
    std::chrono::milliseconds staleAfter() const;

  private:
    std::chrono::milliseconds staleAfterLocked() const;
    void countSequence(std::uint64_t sequence);
    void push(std::string event, std::string json);

    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::atomic<bool> m_shutdown{false};
    std::size_t m_recentLimit, m_backlogLimit;

    std::optional<v1::Snapshot> m_snapshot;
    std::string m_snapshotJson;
    WallClock::time_point m_receivedAt{}, m_snapshotAt{};
    double m_intervalMs = 1000;
    std::deque<std::string> m_recentFiles;  // JSON of FileCompleted events, newest last
    std::deque<WebMessage> m_backlog;
    std::uint64_t m_nextId = 1;
    std::optional<std::uint64_t> m_lastSequence;
    std::uint64_t m_messages = 0, m_missed = 0, m_undecodable = 0, m_publisherRestarts = 0;
};

// `text` as a JSON string literal, quotes included.
std::string jsonString(std::string_view text);
// proto3 JSON of any status message, field names as in status.proto, zeros included.
std::string toJson(const google::protobuf::Message& message);

}  // namespace pushcap::tools
