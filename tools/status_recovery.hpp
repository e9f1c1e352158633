// Puts pushcapd's status stream back together on the subscriber's side: live messages and the
// replay's answers go in, messages come out once each in sequence order, and it says which
// range to ask the replay for. Pure logic: the sockets are StatusStream's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pushcap::tools {

struct StreamMessage {
    std::uint64_t sequence = 0;  // 0: undecodable, passed on as it came
    std::string topic;
    std::string body;
};

struct SequenceRange {
    std::uint64_t from = 0, to = 0;  // inclusive
};

class GapRecovery {
  public:
    // Live messages held while a gap before them is open; past this many the gap is given up.
    explicit GapRecovery(std::size_t maxHeld = 10000);

    // A live message. Returns what can be delivered now, in order. `newPublisher`: the caller
    // knows it comes from a pushcapd that started since the last one (a sequence that goes
    // back says so by itself; one that happens to go on from the old run's does not).
    std::vector<StreamMessage> onLive(StreamMessage message, bool newPublisher = false);
    // The range to ask the replay for, once per open gap (nothing while a request is out).
    std::optional<SequenceRange> request();
    // The replay's answer to the outstanding request: `messages` in sequence order.
    std::vector<StreamMessage> onReplay(std::vector<StreamMessage> messages);
    // The outstanding request got no answer: what it asked for is lost.
    std::vector<StreamMessage> onTimeout();

    bool requesting() const { return m_request.has_value(); }
    // Every message below this one was delivered or counted lost.
    std::uint64_t next() const { return m_next; }
    bool gapOpen() const { return !m_held.empty(); }
    std::uint64_t lost() const { return m_lost; }
    std::uint64_t recovered() const { return m_recovered; }
    std::uint64_t publisherRestarts() const { return m_restarts; }

  private:
    void deliverHeld(std::vector<StreamMessage>& out);
    void skipTo(std::uint64_t sequence);

    std::size_t m_maxHeld;
    std::uint64_t m_next = 1;  // a publisher's first message is 1
    std::map<std::uint64_t, StreamMessage> m_held;
    std::optional<SequenceRange> m_request;
    std::uint64_t m_lost = 0, m_recovered = 0, m_restarts = 0;
};

}  // namespace pushcap::tools
