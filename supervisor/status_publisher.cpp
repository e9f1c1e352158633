#include "supervisor/status_publisher.hpp"

#include <stdexcept>
#include <zmq.hpp>

#include "status.pb.h"

namespace pushcap::supervisor {

struct StatusPublisher::Socket {
    zmq::context_t context{1};
    zmq::socket_t socket{context, zmq::socket_type::pub};
};

StatusPublisher::StatusPublisher(const std::string& endpoint)
    : m_socket(std::make_unique<Socket>()) {
    try {
        // A slow subscriber must not make the supervisor hoard memory: drop past this many.
        m_socket->socket.set(zmq::sockopt::sndhwm, 10000);
        m_socket->socket.set(zmq::sockopt::linger, 0);
        m_socket->socket.bind(endpoint);
        m_endpoint = m_socket->socket.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
        throw std::runtime_error("status endpoint " + endpoint + ": cannot bind: " + e.what());
    }
}

StatusPublisher::~StatusPublisher() = default;

void StatusPublisher::send(const std::string& topic, const std::string& bytes) {
    // dontwait: a PUB socket drops rather than blocks; status must never stall supervision.
    m_socket->socket.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    m_socket->socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void StatusPublisher::publish(v1::Snapshot& snapshot) {
    snapshot.set_sequence(++m_sequence);
    send("pushcap.status", snapshot.SerializeAsString());
}

void StatusPublisher::publish(const std::string& kind, v1::Event& event) {
    event.set_sequence(++m_sequence);
    send("pushcap.event." + kind, event.SerializeAsString());
}

}  // namespace pushcap::supervisor
