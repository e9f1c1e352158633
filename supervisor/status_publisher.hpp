// pushcapd's only door to the outside. The stream: a ZeroMQ XPUB socket sending two frames per
// message, the topic ("pushcap.status", "pushcap.event.<kind>") then the protobuf bytes; every
// message gets the next sequence number, so a subscriber can tell what it missed. XPUB rather
// than PUB because it tells us when a subscriber joins: it gets a snapshot at once. The replay: a
// ROUTER socket serving the last messages again (ReplayRequest/ReplayReply in status.proto), so a
// subscriber that joined late or saw a gap recovers what it missed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/replay_buffer.hpp"

namespace pushcap::v1 {
class Snapshot;
class Event;
}  // namespace pushcap::v1

namespace pushcap::supervisor {

// The replay socket's endpoint for a status endpoint: tcp://H:P -> tcp://H:P+1 (a wildcard port
// stays a wildcard), ipc://PATH -> ipc://PATH.replay, anything else gets ".replay" appended.
std::string replayEndpointFor(const std::string& statusEndpoint);

struct ReplayLimits {
    std::size_t messages = 4096;
    std::size_t bytes = 16u << 20;
};

class StatusPublisher {
  public:
    // Binds `endpoint` (e.g. tcp://127.0.0.1:5577, tcp://127.0.0.1:* or ipc://PATH) and its
    // replay endpoint. Throws std::runtime_error naming the endpoint when it cannot.
    explicit StatusPublisher(const std::string& endpoint, ReplayLimits limits = {});
    ~StatusPublisher();
    StatusPublisher(const StatusPublisher&) = delete;
    StatusPublisher& operator=(const StatusPublisher&) = delete;

    // The endpoints actually bound (a wildcard port resolved).
    const std::string& endpoint() const { return m_endpoint; }
    const std::string& replayEndpoint() const { return m_replayEndpoint; }
    std::uint64_t lastSequence() const { return m_sequence; }

    // Sets the sequence number and the replay endpoint.
    void publish(v1::Snapshot& snapshot);
    // `kind`: file_completed, child_exited, config_changed.
    void publish(const std::string& kind, v1::Event& event);

    // For poll(): ZeroMQ's descriptors are edge-triggered, so call serve() before every poll.
    std::vector<int> pollFds() const;
    // Reads subscriptions and answers replay requests, without blocking. Returns how many new
    // subscriptions arrived: the caller publishes a snapshot for them.
    std::size_t serve();
    // Subscriptions now held by connected subscribers (one per subscriber and topic prefix).
    std::size_t subscriptions() const { return m_subscriptions; }
    // Replay peers that said they hold everything up to lastSequence().
    std::size_t caughtUp() const;

  private:
    void send(const std::string& topic, const std::string& bytes);
    std::size_t readSubscriptions();
    void answerReplays();

    struct Sockets;
    std::unique_ptr<Sockets> m_sockets;
    std::string m_endpoint, m_replayEndpoint;
    std::uint64_t m_sequence = 0;
    ReplayBuffer m_replay;
    std::size_t m_subscriptions = 0;
    std::map<std::string, std::uint64_t> m_holdsBefore;  // replay peer -> its from_sequence
};

}  // namespace pushcap::supervisor
