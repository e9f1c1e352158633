#include "supervisor/replay_buffer.hpp"

#include <algorithm>

namespace pushcap::supervisor {

ReplayBuffer::ReplayBuffer(std::size_t maxMessages, std::size_t maxBytes)
    : m_maxMessages(std::max<std::size_t>(1, maxMessages)), m_maxBytes(maxBytes) {}

void ReplayBuffer::add(StoredMessage message) {
    m_bytes += cost(message);
    m_messages.push_back(std::move(message));
    while (m_messages.size() > 1 && (m_messages.size() > m_maxMessages || m_bytes > m_maxBytes)) {
        m_bytes -= cost(m_messages.front());
        m_messages.pop_front();
    }
}

std::vector<const StoredMessage*> ReplayBuffer::range(std::uint64_t from, std::uint64_t to) const {
    // Sequences are consecutive in the buffer, so the start is found by arithmetic.
    std::vector<const StoredMessage*> out;
    if (m_messages.empty())
        return out;
    const std::uint64_t first = m_messages.front().sequence;
    std::size_t i = from > first ? static_cast<std::size_t>(from - first) : 0;
    for (; i < m_messages.size(); ++i) {
        const StoredMessage& m = m_messages[i];
        if (to != 0 && m.sequence > to)
            break;
        if (m.sequence >= from)
            out.push_back(&m);
    }
    return out;
}

std::uint64_t ReplayBuffer::firstSequence() const {
    return m_messages.empty() ? 0 : m_messages.front().sequence;
}

}  // namespace pushcap::supervisor
