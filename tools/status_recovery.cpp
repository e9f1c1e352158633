#include "tools/status_recovery.hpp"

namespace pushcap::tools {

GapRecovery::GapRecovery(std::size_t maxHeld) : m_maxHeld(maxHeld) {}

void GapRecovery::skipTo(std::uint64_t sequence) {
    if (sequence > m_next) {
        m_lost += sequence - m_next;
        m_next = sequence;
    }
}

void GapRecovery::deliverHeld(std::vector<StreamMessage>& out) {
    while (!m_held.empty() && m_held.begin()->first <= m_next) {
        auto node = m_held.extract(m_held.begin());
        if (node.key() == m_next) {
            out.push_back(std::move(node.mapped()));
            ++m_next;
        }
    }
}

std::vector<StreamMessage> GapRecovery::onLive(StreamMessage message, bool newPublisher) {
    std::vector<StreamMessage> out;
    if (message.sequence == 0) {
        out.push_back(std::move(message));
        return out;
    }
    if (message.sequence < m_next || (newPublisher && m_next > 1)) {
        // Live messages never repeat: the sequence went back, so a new publisher started at 1.
        // What is held belongs to the old one and goes out as it is.
        ++m_restarts;
        for (auto& [sequence, held] : m_held)
            out.push_back(std::move(held));
        m_held.clear();
        m_request.reset();
        m_next = 1;
    }
    m_held.emplace(message.sequence, std::move(message));
    deliverHeld(out);
    if (m_held.size() > m_maxHeld) {
        m_request.reset();
        skipTo(m_held.begin()->first);
        deliverHeld(out);
    }
    return out;
}

std::optional<SequenceRange> GapRecovery::request() {
    if (m_request || m_held.empty())
        return std::nullopt;
    m_request = SequenceRange{m_next, m_held.begin()->first - 1};
    return m_request;
}

std::vector<StreamMessage> GapRecovery::onReplay(std::vector<StreamMessage> messages) {
    std::vector<StreamMessage> out;
    if (!m_request)
        return out;  // an answer nobody waits for: an acknowledgement's, or a late one
    const SequenceRange asked = *m_request;
    m_request.reset();
    for (StreamMessage& m : messages) {
        if (m.sequence < m_next || m.sequence > asked.to)
            continue;
        skipTo(m.sequence);  // the replay no longer had what came before it
        out.push_back(std::move(m));
        ++m_next;
        ++m_recovered;
    }
    skipTo(asked.to + 1);
    deliverHeld(out);
    return out;
}

std::vector<StreamMessage> GapRecovery::onTimeout() {
    std::vector<StreamMessage> out;
    if (!m_request)
        return out;
    const SequenceRange asked = *m_request;
    m_request.reset();
    skipTo(asked.to + 1);
    deliverHeld(out);
    return out;
}

}  // namespace pushcap::tools
