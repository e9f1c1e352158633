// The last messages of the status stream, kept so a subscriber that missed some (a late join, a
// dropped message) can fetch them again. Bounded by count and by bytes: the oldest go first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace pushcap::supervisor {

struct StoredMessage {
    std::uint64_t sequence = 0;
    std::string topic;
    std::string body;
};

class ReplayBuffer {
  public:
    ReplayBuffer(std::size_t maxMessages, std::size_t maxBytes);

    // `message.sequence` must be above every one held. The newest message is always kept, even
    // alone above maxBytes: a subscriber must be able to get the current state.
    void add(StoredMessage message);
    // Every held message with from <= sequence <= to (to 0: no upper limit), oldest first.
    std::vector<const StoredMessage*> range(std::uint64_t from, std::uint64_t to) const;

    std::uint64_t firstSequence() const;  // 0 when empty
    std::size_t size() const { return m_messages.size(); }
    std::size_t bytes() const { return m_bytes; }

  private:
    static std::size_t cost(const StoredMessage& m) { return m.topic.size() + m.body.size(); }

    std::size_t m_maxMessages, m_maxBytes;
    std::deque<StoredMessage> m_messages;
    std::size_t m_bytes = 0;
};

}  // namespace pushcap::supervisor
