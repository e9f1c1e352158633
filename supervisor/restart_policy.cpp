#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace pushcap::supervisor {

RestartPolicy::RestartPolicy(RestartLimits limits, bool essential)
    : m_limits(limits), m_essential(essential), m_backoff(limits.initialBackoff) {}

void RestartPolicy::started(Clock::time_point now) {
    m_startedAt = now;
}

RestartDecision RestartPolicy::exited(Clock::time_point now, ChildExit how, Progress progress) {
    if (how == ChildExit::Done)
        return {RestartDecision::Action::Stop, {}, {}};
    if (how == ChildExit::BadConfig && !m_essential) {
        return {
            RestartDecision::Action::Fail, {}, "bad configuration (exit code 78): not restarted"};
    }
    // Progress proves the last restart worked: the next one comes as soon as the first did, so a
    // busy worker killed again and again loses little time. The backoff grows only while
    // restarts get nowhere.
    if (progress == Progress::Made || now - m_startedAt >= m_limits.healthyAfter)
        m_backoff = m_limits.initialBackoff;

    while (!m_recent.empty() && now - m_recent.front() > m_limits.window)
        m_recent.pop_front();
    if (progress == Progress::None)
        m_recent.push_back(now);
    if (m_recent.size() > m_limits.maxRestarts && !m_essential) {
        return {RestartDecision::Action::Fail,
                {},
                std::to_string(m_recent.size()) + " crashes without progress within " +
                    std::to_string(m_limits.window.count() / 1000) +
                    " s: restart intensity exceeded"};
    }
    RestartDecision d{RestartDecision::Action::Restart, now + m_backoff, {}};
    m_backoff = std::min(m_backoff * 2, m_limits.maxBackoff);
    ++m_restarts;
    return d;
}

}  // namespace pushcap::supervisor
