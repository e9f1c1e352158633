// pushcapd's only door to the outside: a ZeroMQ PUB socket sending two frames per message,
// the topic ("pushcap.status", "pushcap.event.<kind>") then the protobuf bytes. Every message gets
// the next sequence number, so a subscriber can tell what it missed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace pushcap::v1 {
class Snapshot;
class Event;
}  // namespace pushcap::v1

namespace pushcap::supervisor {

class StatusPublisher {
  public:
    // Binds `endpoint` (e.g. tcp://127.0.0.1:5577, tcp://127.0.0.1:* or ipc://PATH).
    // Throws std::runtime_error naming the endpoint when it cannot.
    explicit StatusPublisher(const std::string& endpoint);
    ~StatusPublisher();
    StatusPublisher(const StatusPublisher&) = delete;
    StatusPublisher& operator=(const StatusPublisher&) = delete;

    // The endpoint actually bound (a wildcard port resolved).
    const std::string& endpoint() const { return m_endpoint; }
    std::uint64_t lastSequence() const { return m_sequence; }

    void publish(v1::Snapshot& snapshot);
    // `kind`: file_completed, child_exited, config_changed.
    void publish(const std::string& kind, v1::Event& event);

  private:
    void send(const std::string& topic, const std::string& bytes);

    struct Socket;
    std::unique_ptr<Socket> m_socket;
    std::string m_endpoint;
    std::uint64_t m_sequence = 0;
};

}  // namespace pushcap::supervisor
