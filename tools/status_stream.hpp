// A subscriber of pushcapd's status stream that misses nothing it can recover: a SUB socket for
// the live messages, a DEALER to pushcapd's replay socket (its endpoint comes in every snapshot)
// for what a late join or a dropped message left out, and GapRecovery to put both in order. At
// the end of a run (a final snapshot) it tells pushcapd that it holds everything.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tools/status_recovery.hpp"

namespace pushcap::tools {

class StatusStream {
  public:
    // Connects at once (ZeroMQ reconnects by itself, so pushcapd may start later or restart).
    // Throws std::invalid_argument for an endpoint ZeroMQ rejects. `recover`: false for a
    // subscriber that only wants the next snapshot (no replay, no acknowledgement).
    explicit StatusStream(const std::string& endpoint, bool recover = true);
    ~StatusStream();
    StatusStream(const StatusStream&) = delete;
    StatusStream& operator=(const StatusStream&) = delete;

    // Waits up to `timeout` for something to arrive; returns the messages that are now in
    // order (possibly none, possibly many after a replay). Undecodable ones have sequence 0.
    std::vector<StreamMessage> receive(std::chrono::milliseconds timeout);
    const GapRecovery& recovery() const { return m_recovery; }

  private:
    void readLive(std::vector<StreamMessage>& out);
    void readReplay(std::vector<StreamMessage>& out);
    bool noteSnapshot(const StreamMessage& m);
    void connectReplay();
    void askReplay(std::vector<StreamMessage>& out);
    void acknowledgeFinal();

    struct Sockets;
    std::unique_ptr<Sockets> m_sockets;
    bool m_recover;
    GapRecovery m_recovery;
    std::string m_replayEndpoint, m_connectedReplay;
    std::chrono::steady_clock::time_point m_askedAt{};
    std::uint64_t m_finalSequence = 0, m_acknowledged = 0;
    double m_uptime = -1;  // of the last snapshot: a lower one is a new pushcapd
};

}  // namespace pushcap::tools
