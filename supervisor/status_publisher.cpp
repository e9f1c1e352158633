#include "supervisor/status_publisher.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <zmq.hpp>

#include "status.pb.h"

namespace pushcap::supervisor {
namespace {

// Replay peers remembered for caughtUp(); past this many (clients that come and go for weeks)
// the memory starts again, which at worst makes an offline pushcapd wait its linger bound.
constexpr std::size_t MAX_REPLAY_PEERS = 4096;

bool allDigits(const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

void bindOrThrow(zmq::socket_t& socket, const std::string& endpoint, const char* what) {
    try {
        socket.bind(endpoint);
    } catch (const zmq::error_t& e) {
        throw std::runtime_error(std::string(what) + " " + endpoint + ": cannot bind: " + e.what());
    }
}

}  // namespace

std::string replayEndpointFor(const std::string& endpoint) {
    if (endpoint.rfind("tcp://", 0) == 0) {
        const std::size_t colon = endpoint.rfind(':');
        const std::string port = endpoint.substr(colon + 1);
        if (colon > 5 && allDigits(port))
            return endpoint.substr(0, colon + 1) + std::to_string(std::stoul(port) + 1);
        if (colon > 5 && port == "*")
            return endpoint;
    }
    return endpoint + ".replay";
}

struct StatusPublisher::Sockets {
    zmq::context_t context{1};
    zmq::socket_t stream{context, zmq::socket_type::xpub};
    zmq::socket_t replay{context, zmq::socket_type::router};
};

StatusPublisher::StatusPublisher(const std::string& endpoint, ReplayLimits limits)
    : m_sockets(std::make_unique<Sockets>()), m_replay(limits.messages, limits.bytes) {
    zmq::socket_t& stream = m_sockets->stream;
    zmq::socket_t& replay = m_sockets->replay;
    try {
        // A slow subscriber must not make the supervisor hoard memory: drop past this many.
        stream.set(zmq::sockopt::sndhwm, 10000);
        replay.set(zmq::sockopt::sndhwm, 10000);
        // Long enough for the last messages to leave at exit, short enough not to hang on a
        // subscriber that stopped reading.
        stream.set(zmq::sockopt::linger, 200);
        replay.set(zmq::sockopt::linger, 200);
        // Every subscription and unsubscription, even of a prefix another subscriber holds: one
        // per subscriber is what tells us that someone joined or left.
        stream.set(zmq::sockopt::xpub_verboser, true);
    } catch (const zmq::error_t& e) {
        throw std::runtime_error("status endpoint " + endpoint + ": " + e.what());
    }
    bindOrThrow(stream, endpoint, "status endpoint");
    m_endpoint = stream.get(zmq::sockopt::last_endpoint);
    bindOrThrow(replay, replayEndpointFor(endpoint), "status replay endpoint");
    m_replayEndpoint = replay.get(zmq::sockopt::last_endpoint);
}

StatusPublisher::~StatusPublisher() = default;

void StatusPublisher::send(const std::string& topic, const std::string& bytes) {
    // dontwait: XPUB drops rather than blocks; status must never stall supervision.
    m_sockets->stream.send(zmq::buffer(topic),
                           zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    m_sockets->stream.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    m_replay.add(StoredMessage{m_sequence, topic, bytes});
}

void StatusPublisher::publish(v1::Snapshot& snapshot) {
    snapshot.set_sequence(++m_sequence);
    snapshot.set_replay_endpoint(m_replayEndpoint);
    send("pushcap.status", snapshot.SerializeAsString());
}

void StatusPublisher::publish(const std::string& kind, v1::Event& event) {
    event.set_sequence(++m_sequence);
    send("pushcap.event." + kind, event.SerializeAsString());
}

std::vector<int> StatusPublisher::pollFds() const {
    return {m_sockets->stream.get(zmq::sockopt::fd), m_sockets->replay.get(zmq::sockopt::fd)};
}

std::size_t StatusPublisher::serve() {
    const std::size_t joined = readSubscriptions();
    answerReplays();
    return joined;
}

std::size_t StatusPublisher::readSubscriptions() {
    std::size_t joined = 0;
    zmq::message_t m;
    while (m_sockets->stream.recv(m, zmq::recv_flags::dontwait)) {
        const auto* bytes = static_cast<const unsigned char*>(m.data());
        if (m.size() == 0)
            continue;
        if (bytes[0] == 1) {
            ++joined;
            ++m_subscriptions;
        } else if (bytes[0] == 0 && m_subscriptions > 0) {
            --m_subscriptions;
        }
    }
    return joined;
}

void StatusPublisher::answerReplays() {
    zmq::socket_t& replay = m_sockets->replay;
    for (;;) {
        std::vector<zmq::message_t> frames;
        zmq::message_t f;
        if (!replay.recv(f, zmq::recv_flags::dontwait))
            return;
        frames.push_back(std::move(f));
        while (frames.back().more() && replay.recv(f, zmq::recv_flags::none))
            frames.push_back(std::move(f));
        // The envelope: the peer's identity and, from REQ or a polite DEALER, an empty frame.
        const std::size_t body = frames.size() > 2 && frames[1].size() == 0 ? 2 : 1;
        if (body >= frames.size())
            continue;
        v1::ReplayRequest request;
        if (!request.ParseFromArray(frames[body].data(), static_cast<int>(frames[body].size())))
            continue;
        const std::string peer = frames[0].to_string();
        if (m_holdsBefore.size() >= MAX_REPLAY_PEERS && !m_holdsBefore.count(peer))
            m_holdsBefore.clear();
        m_holdsBefore[peer] = request.from_sequence();

        const auto messages = m_replay.range(request.from_sequence(), request.to_sequence());
        v1::ReplayReply reply;
        reply.set_first_sequence(m_replay.firstSequence());
        reply.set_last_sequence(m_sequence);
        reply.set_count(messages.size());
        for (std::size_t i = 0; i < body; ++i)
            replay.send(frames[i], zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        const std::string header = reply.SerializeAsString();
        replay.send(zmq::buffer(header),
                    messages.empty() ? zmq::send_flags::dontwait
                                     : zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        for (std::size_t i = 0; i < messages.size(); ++i) {
            replay.send(zmq::buffer(messages[i]->topic),
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait);
            replay.send(zmq::buffer(messages[i]->body),
                        i + 1 == messages.size()
                            ? zmq::send_flags::dontwait
                            : zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        }
    }
}

std::size_t StatusPublisher::caughtUp() const {
    return static_cast<std::size_t>(
        std::count_if(m_holdsBefore.begin(), m_holdsBefore.end(),
                      [this](const auto& p) { return p.second > m_sequence; }));
}

}  // namespace pushcap::supervisor
