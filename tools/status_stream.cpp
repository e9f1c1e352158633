#include "tools/status_stream.hpp"

#include <stdexcept>
#include <zmq.hpp>

#include "status.pb.h"

namespace pushcap::tools {
namespace {

// A replay that does not answer within this is given up: what it held is counted lost.
constexpr auto REPLAY_TIMEOUT = std::chrono::seconds(2);

std::uint64_t sequenceOf(const std::string& topic, const std::string& body) {
    if (topic == "pushcap.status") {
        v1::Snapshot s;
        return s.ParseFromString(body) ? s.sequence() : 0;
    }
    if (topic.rfind("pushcap.event.", 0) == 0) {
        v1::Event e;
        return e.ParseFromString(body) ? e.sequence() : 0;
    }
    return 0;
}

// The frames of one multipart message, without blocking for the first.
std::vector<zmq::message_t> receiveAll(zmq::socket_t& socket) {
    std::vector<zmq::message_t> frames;
    zmq::message_t f;
    if (!socket.recv(f, zmq::recv_flags::dontwait))
        return frames;
    frames.push_back(std::move(f));
    while (frames.back().more() && socket.recv(f, zmq::recv_flags::none))
        frames.push_back(std::move(f));
    return frames;
}

}  // namespace

struct StatusStream::Sockets {
    zmq::context_t context{1};
    zmq::socket_t sub{context, zmq::socket_type::sub};
    std::unique_ptr<zmq::socket_t> replay;
};

StatusStream::StatusStream(const std::string& endpoint, bool recover)
    : m_sockets(std::make_unique<Sockets>()), m_recover(recover) {
    zmq::socket_t& sub = m_sockets->sub;
    try {
        // Everything, even for a viewer of snapshots alone: events are numbered too, and only
        // the whole stream shows a real gap.
        sub.set(zmq::sockopt::subscribe, "pushcap.");
        sub.set(zmq::sockopt::linger, 0);
        // Find a (re)started pushcapd quickly, without hammering one that is gone for good.
        sub.set(zmq::sockopt::reconnect_ivl, 100);
        sub.set(zmq::sockopt::reconnect_ivl_max, 2000);
        sub.connect(endpoint);
    } catch (const zmq::error_t& e) {
        throw std::invalid_argument("cannot subscribe to '" + endpoint + "': " + e.what() +
                                    " (expected tcp://HOST:PORT or ipc://PATH)");
    }
}

StatusStream::~StatusStream() = default;

std::vector<StreamMessage> StatusStream::receive(std::chrono::milliseconds timeout) {
    std::vector<zmq::pollitem_t> items{{m_sockets->sub.handle(), 0, ZMQ_POLLIN, 0}};
    if (m_sockets->replay)
        items.push_back({m_sockets->replay->handle(), 0, ZMQ_POLLIN, 0});
    try {
        zmq::poll(items, timeout);
    } catch (const zmq::error_t&) {
        return {};  // EINTR
    }
    std::vector<StreamMessage> out;
    readLive(out);
    if (m_recover) {
        readReplay(out);
        askReplay(out);
        acknowledgeFinal();
    }
    return out;
}

void StatusStream::readLive(std::vector<StreamMessage>& out) {
    for (;;) {
        std::vector<zmq::message_t> frames = receiveAll(m_sockets->sub);
        if (frames.empty())
            return;
        StreamMessage m;
        m.topic = frames[0].to_string();
        if (frames.size() == 2) {
            m.body = frames[1].to_string();
            m.sequence = sequenceOf(m.topic, m.body);
        }
        const bool newPublisher = noteSnapshot(m);
        for (StreamMessage& d : m_recover ? m_recovery.onLive(std::move(m), newPublisher)
                                          : std::vector<StreamMessage>{std::move(m)})
            out.push_back(std::move(d));
    }
}

// Returns whether the snapshot comes from a new pushcapd: its uptime went back.
bool StatusStream::noteSnapshot(const StreamMessage& m) {
    if (m.topic != "pushcap.status" || m.sequence == 0)
        return false;
    v1::Snapshot s;
    s.ParseFromString(m.body);
    m_replayEndpoint = s.replay_endpoint();
    m_finalSequence = s.final() ? s.sequence() : 0;
    const bool restarted = s.uptime_seconds() < m_uptime;
    m_uptime = s.uptime_seconds();
    return restarted;
}

void StatusStream::connectReplay() {
    if (m_replayEndpoint == m_connectedReplay && m_sockets->replay)
        return;
    // A new endpoint (pushcapd restarted elsewhere) or a timeout: a new socket, so no stale
    // answer can come back.
    m_sockets->replay.reset();
    m_connectedReplay.clear();
    if (m_replayEndpoint.empty())
        return;
    auto socket = std::make_unique<zmq::socket_t>(m_sockets->context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::reconnect_ivl, 100);
    try {
        socket->connect(m_replayEndpoint);
    } catch (const zmq::error_t&) {
        return;  // not an endpoint we can reach: gaps stay gaps
    }
    m_sockets->replay = std::move(socket);
    m_connectedReplay = m_replayEndpoint;
}

void StatusStream::readReplay(std::vector<StreamMessage>& out) {
    if (!m_sockets->replay)
        return;
    for (;;) {
        std::vector<zmq::message_t> frames = receiveAll(*m_sockets->replay);
        if (frames.empty())
            return;
        // [empty][ReplayReply][topic, body]...
        v1::ReplayReply reply;
        if (frames.size() < 2 || frames[0].size() != 0 ||
            !reply.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size())))
            continue;
        std::vector<StreamMessage> messages;
        for (std::size_t i = 2; i + 1 < frames.size(); i += 2) {
            StreamMessage m{0, frames[i].to_string(), frames[i + 1].to_string()};
            m.sequence = sequenceOf(m.topic, m.body);
            if (m.sequence != 0)
                messages.push_back(std::move(m));
        }
        for (StreamMessage& d : m_recovery.onReplay(std::move(messages)))
            out.push_back(std::move(d));
    }
}

void StatusStream::askReplay(std::vector<StreamMessage>& out) {
    const auto now = std::chrono::steady_clock::now();
    if (m_recovery.requesting() && now - m_askedAt > REPLAY_TIMEOUT) {
        for (StreamMessage& d : m_recovery.onTimeout())
            out.push_back(std::move(d));
        m_sockets->replay.reset();
    }
    if (!m_recovery.gapOpen() || m_recovery.requesting())
        return;
    connectReplay();
    if (!m_sockets->replay)
        return;  // no snapshot yet to say where the replay is: ask once one came
    const std::optional<SequenceRange> range = m_recovery.request();
    if (!range)
        return;
    v1::ReplayRequest request;
    request.set_from_sequence(range->from);
    request.set_to_sequence(range->to);
    const std::string bytes = request.SerializeAsString();
    m_sockets->replay->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    m_sockets->replay->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    m_askedAt = now;
}

void StatusStream::acknowledgeFinal() {
    // Holding everything up to the final snapshot: say so, so an offline pushcapd can exit.
    if (m_finalSequence == 0 || m_acknowledged == m_finalSequence || m_recovery.gapOpen() ||
        m_recovery.next() <= m_finalSequence)
        return;
    connectReplay();
    if (!m_sockets->replay)
        return;
    v1::ReplayRequest request;
    request.set_from_sequence(m_recovery.next());
    const std::string bytes = request.SerializeAsString();
    m_sockets->replay->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    m_sockets->replay->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    m_acknowledged = m_finalSequence;
}

}  // namespace pushcap::tools
