#include "tools/web_state.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>

namespace pushcap::tools {
namespace {

std::int64_t unixMs(WallClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string jsonString(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string toJson(const google::protobuf::Message& message) {
    std::string body;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(message, &body, options).ok())
        return "{}";
    return body;
}

WebState::WebState(std::size_t recentFiles, std::size_t backlog)
    : m_recentLimit(recentFiles), m_backlogLimit(backlog) {}

void WebState::countSequence(std::uint64_t sequence) {
    ++m_messages;
    if (m_lastSequence) {
        if (sequence <= *m_lastSequence)
            ++m_publisherRestarts;  // a new publisher starts again at 1
        else
            m_missed += sequence - *m_lastSequence - 1;
    }
    m_lastSequence = sequence;
}

void WebState::push(std::string event, std::string json) {
    m_backlog.push_back(WebMessage{m_nextId++, std::move(event), std::move(json)});
    while (m_backlog.size() > m_backlogLimit)
        m_backlog.pop_front();
    m_changed.notify_all();
}

void WebState::onSnapshot(const v1::Snapshot& snapshot, WallClock::time_point at) {
    std::string json = "{\"received_unix_ms\":" + std::to_string(unixMs(at)) +
                       ",\"snapshot\":" + toJson(snapshot) + "}";
    std::lock_guard lock(m_mutex);
    countSequence(snapshot.sequence());
    if (m_snapshotAt != WallClock::time_point{} && at > m_snapshotAt) {
        const double ms = std::chrono::duration<double, std::milli>(at - m_snapshotAt).count();
        // Smoothed, and capped so one long pause (pushcapd stopped) does not set it for good.
        m_intervalMs = std::min(60000.0, 0.8 * m_intervalMs + 0.2 * ms);
    }
    m_snapshot = snapshot;
    m_snapshotJson = json;
    m_snapshotAt = m_receivedAt = at;
    push("snapshot", std::move(json));
}

void WebState::onEvent(const std::string& kind, const v1::Event& event, WallClock::time_point at) {
    std::string json = toJson(event);
    std::lock_guard lock(m_mutex);
    countSequence(event.sequence());
    m_receivedAt = at;
    if (event.has_file_completed()) {
        m_recentFiles.push_back(json);
        while (m_recentFiles.size() > m_recentLimit)
            m_recentFiles.pop_front();
    }
    push(kind, std::move(json));
}

void WebState::onUndecodable() {
    std::lock_guard lock(m_mutex);
    ++m_undecodable;
}

std::chrono::milliseconds WebState::staleAfter() const {
    std::lock_guard lock(m_mutex);
    return staleAfterLocked();
}

std::chrono::milliseconds WebState::staleAfterLocked() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(3000.0, 3 * m_intervalMs)));
}

WebStateView WebState::view(WallClock::time_point now) const {
    std::lock_guard lock(m_mutex);
    WebStateView v;
    v.snapshot = m_snapshot;
    v.receivedAt = m_receivedAt;
    v.stale = m_receivedAt == WallClock::time_point{} || now - m_receivedAt > staleAfterLocked();
    v.messages = m_messages;
    v.missed = m_missed;
    v.undecodable = m_undecodable;
    v.publisherRestarts = m_publisherRestarts;
    return v;
}

std::string WebState::statusJson(const std::string& endpoint, WallClock::time_point now) const {
    const WebStateView v = view(now);
    std::lock_guard lock(m_mutex);
    std::string out =
        "{\"endpoint\":" + jsonString(endpoint) + ",\"stale\":" + (v.stale ? "true" : "false") +
        ",\"stale_after_ms\":" + std::to_string(staleAfterLocked().count()) +
        ",\"received_unix_ms\":" +
        (m_receivedAt == WallClock::time_point{} ? std::string("null")
                                                 : std::to_string(unixMs(m_receivedAt)));
    out += ",\"snapshot\":";
    out += m_snapshot ? toJson(*m_snapshot) : "null";
    out += ",\"recent_files\":[";
    for (std::size_t i = 0; i < m_recentFiles.size(); ++i)
        out += (i ? "," : "") + m_recentFiles[i];
    out += "]}";
    return out;
}

std::vector<WebMessage> WebState::start(std::uint64_t& cursor) const {
    std::lock_guard lock(m_mutex);
    cursor = m_nextId - 1;
    if (m_snapshotJson.empty())
        return {};
    return {WebMessage{cursor, "snapshot", m_snapshotJson}};
}

std::vector<WebMessage> WebState::waitAfter(std::uint64_t& cursor,
                                            std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, timeout, [&] { return m_shutdown.load() || m_nextId - 1 > cursor; });
    std::vector<WebMessage> out;
    if (m_shutdown.load())
        return out;
    for (const WebMessage& m : m_backlog) {
        if (m.id > cursor)
            out.push_back(m);
    }
    cursor = m_nextId - 1;
    return out;
}

void WebState::shutdown() {
    std::lock_guard lock(m_mutex);
    m_shutdown = true;
    m_changed.notify_all();
}

}  // namespace pushcap::tools
