#include "capture/remote_source.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

namespace pushcap::capture {
namespace {

constexpr std::size_t READ_BUFFER = 1 << 20;  // per connection: one read can bring many packets
constexpr int EVENTS_PER_PUMP = 64;

std::string addressText(const sockaddr_storage& sa) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
        ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        return std::string(host) + ":" + std::to_string(port);
    }
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
}

in6_addr toV6(const sockaddr_storage& sa) {
    in6_addr out{};
    if (sa.ss_family == AF_INET6)
        return reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_addr;
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    out.s6_addr[10] = 0xff;
    out.s6_addr[11] = 0xff;
    std::memcpy(&out.s6_addr[12], &in->sin_addr, 4);
    return out;
}

bool parseAddress(const std::string& text, in6_addr& out, bool& wasV4) {
    in_addr v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        out = in6_addr{};
        out.s6_addr[10] = 0xff;
        out.s6_addr[11] = 0xff;
        std::memcpy(&out.s6_addr[12], &v4, 4);
        wasV4 = true;
        return true;
    }
    wasV4 = false;
    return ::inet_pton(AF_INET6, text.c_str(), &out) == 1;
}

bool prefixMatches(const in6_addr& a, const in6_addr& b, unsigned bits) {
    for (unsigned i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
        const unsigned take = std::min(bits, 8u);
        const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - take));
        if ((a.s6_addr[i] & mask) != (b.s6_addr[i] & mask))
            return false;
    }
    return true;
}

}  // namespace

struct RemoteSource::Connection : EpollEntry {
    const RemoteClient* client = nullptr;
    std::string peer;
    OsmoStreamParser parser;
    std::unique_ptr<TlsServerSession> tls;  // set for TLS clients
    bool handshaking = false;
    std::unique_ptr<std::byte[]> buffer{new std::byte[READ_BUFFER]};
    std::size_t used = 0;
    std::uint64_t packets = 0;
    std::uint16_t session = 0;  // this connection's number among its client's connections
    bool polled = false;        // registered with epoll
    bool held = false;     // in m_held: read data waits for ring room, the socket is not polled
    bool closing = false;  // socket closed; what it read and its session end still go in
    bool endMarked = false;
    bool gone = false;  // done: removed from m_connections after the round
    explicit Connection(std::uint32_t maxSnaplen) : parser(maxSnaplen) {}
};

RemoteClient parseRemoteClient(const std::string& text, std::uint16_t sourceId) {
    const auto bad = [&](const std::string& why) {
        return std::runtime_error("--client " + text + ": " + why +
                                  " (expected NAME=ADDR[/BITS][:no-store][:tls])");
    };
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
        throw bad("no NAME=");
    RemoteClient c;
    c.name = text.substr(0, eq);
    c.sourceId = sourceId;
    std::string rest = text.substr(eq + 1);
    // Flags after the address, in any order: ":no-store", ":tls". (IPv6 addresses hold colons
    // too, so only these exact suffixes are taken off.)
    auto takeSuffix = [&rest](const std::string& flag) {
        if (rest.size() <= flag.size() ||
            rest.compare(rest.size() - flag.size(), flag.size(), flag) != 0)
            return false;
        rest.resize(rest.size() - flag.size());
        return true;
    };
    for (bool more = true; more;) {
        more = false;
        if (takeSuffix(":no-store")) {
            c.store = false;
            more = true;
        }
        if (takeSuffix(":tls")) {
            c.tls = true;
            more = true;
        }
    }
    std::string addr = rest;
    int bits = -1;
    if (const std::size_t slash = rest.find('/'); slash != std::string::npos) {
        addr = rest.substr(0, slash);
        char* end = nullptr;
        bits = static_cast<int>(std::strtol(rest.c_str() + slash + 1, &end, 10));
        if (end == rest.c_str() + slash + 1 || *end != '\0')
            throw bad("bad prefix length");
    }
    bool v4 = false;
    if (!parseAddress(addr, c.address, v4))
        throw bad("'" + addr + "' is not an IP address");
    const int maxBits = v4 ? 32 : 128;
    if (bits < 0)
        bits = maxBits;
    if (bits > maxBits)
        throw bad("prefix longer than the address");
    c.prefix = static_cast<unsigned>(v4 ? bits + 96 : bits);
    return c;
}

RemoteSource::RemoteSource(RemoteOptions options) : m_options(std::move(options)) {
    for (const RemoteClient& c : m_options.clients) {
        if (c.tls && !m_options.tls) {
            throw std::runtime_error("--client " + c.name +
                                     " requires TLS: give --tls-cert and --tls-key");
        }
    }
    if (m_options.tls)
        m_tls = std::make_unique<TlsServerContext>(*m_options.tls);
    // Session numbers start at random so a restarted collector does not reuse the number a
    // worker's open file belongs to (workers compare them for equality only).
    std::random_device seed;
    m_lastSession.assign(m_options.clients.size(), static_cast<std::uint16_t>(seed()));
    m_clientStats.resize(m_options.clients.size());
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    if (m_epoll < 0)
        throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    for (const std::string& l : m_options.listen) {
        const std::size_t colon = l.rfind(':');
        if (colon == std::string::npos)
            throw std::runtime_error("--listen " + l + ": expected ADDR:PORT");
        std::string host = l.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        char* end = nullptr;
        const long port = std::strtol(l.c_str() + colon + 1, &end, 10);
        in6_addr a6{};
        bool v4 = false;
        if (*end != '\0' || port < 0 || port > 65535 || !parseAddress(host, a6, v4)) {
            throw std::runtime_error("--listen " + l + ": expected ADDR:PORT with an IP address");
        }
        const int fd =
            ::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_storage sa{};
        socklen_t len;
        if (v4) {
            auto* in = reinterpret_cast<sockaddr_in*>(&sa);
            in->sin_family = AF_INET;
            in->sin_port = htons(static_cast<std::uint16_t>(port));
            std::memcpy(&in->sin_addr, &a6.s6_addr[12], 4);
            len = sizeof(sockaddr_in);
        } else {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(static_cast<std::uint16_t>(port));
            in6->sin6_addr = a6;
            len = sizeof(sockaddr_in6);
        }
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
            ::listen(fd, 64) != 0) {
            const std::string why = std::strerror(errno);
            if (fd >= 0)
                ::close(fd);
            throw std::runtime_error("--listen " + l + ": " + why);
        }
        socklen_t got = sizeof sa;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &got);
        m_bound.push_back(addressText(sa));
        auto entry = std::make_unique<EpollEntry>(EpollEntry{fd, true});
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = entry.get();
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev);
        m_listeners.push_back(std::move(entry));
    }
}

RemoteSource::~RemoteSource() {
    for (auto& c : m_connections)
        ::close(c->fd);
    for (auto& l : m_listeners)
        ::close(l->fd);
    if (m_epoll >= 0)
        ::close(m_epoll);
}

const RemoteClient* RemoteSource::match(const in6_addr& peer) const {
    for (const RemoteClient& c : m_options.clients) {
        if (prefixMatches(peer, c.address, c.prefix))
            return &c;
    }
    return nullptr;
}

void RemoteSource::accept(int listener) {
    for (;;) {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&sa), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;  // EAGAIN: no more waiting
        const RemoteClient* client = match(toV6(sa));
        if (client == nullptr) {
            ++m_noClient;
            spdlog::warn("collector: {} is not an allowed client: closed", addressText(sa));
            ::close(fd);
            continue;
        }
        // A client that connects again replaces its old connection (osmo-pcap clients reconnect).
        for (auto& old : m_connections) {
            if (old->client == client && !old->closing) {
                close(*old, "replaced by a new connection from " + addressText(sa));
                break;
            }
        }
        auto c = std::make_unique<Connection>(m_options.maxSnaplen);
        c->fd = fd;
        c->client = client;
        const auto index = static_cast<std::size_t>(client - m_options.clients.data());
        std::uint16_t& last = m_lastSession[index];
        if (++last == 0)
            ++last;  // 0 means "not a connection" in the ring
        c->session = last;
        c->peer = addressText(sa);
        if (client->tls) {
            const bool requireCertificate =
                m_tls->verifiesClients() && m_options.requireClientCertificates;
            c->tls = std::make_unique<TlsServerSession>(*m_tls, fd, requireCertificate);
            c->handshaking = true;
        }
        resumePolling(*c);
        spdlog::info("collector: client {} connected from {} (source {})", client->name, c->peer,
                     client->sourceId);
        m_clientStats[index].current = c.get();
        ++m_clientStats[index].connections;
        m_connections.push_back(std::move(c));
    }
}

void RemoteSource::close(Connection& c, const std::string& why) {
    spdlog::info("collector: client {} ({}) closed: {}; {} packets", c.client->name, c.peer, why,
                 c.packets);
    stopPolling(c);
    ::close(c.fd);
    c.fd = -1;
    ClientStats& stats =
        m_clientStats[static_cast<std::size_t>(c.client - m_options.clients.data())];
    if (stats.current == &c)
        stats.current = nullptr;
    stats.packetsBefore += c.packets;
    stats.lastClose = why;
    // Whole messages this connection read while it waited for ring room are its client's
    // packets: they still go in (then the session end). Anything else left is a message cut off
    // by the close, or the rest of a bad stream.
    if (!c.held)
        c.used = 0;
    c.closing = true;
    finishClosing(c);
}

void RemoteSource::finishClosing(Connection& c) {
    if (c.used != 0 && parseBuffered(c) == Parsed::Stopped)
        return;  // held: the rest waits for room
    c.used = 0;
    if (c.packets != 0 && !c.endMarked && m_batcher != nullptr) {
        router::BatchMeta end;
        end.sourceId = c.client->sourceId;
        end.session = c.session;
        end.flags =
            router::BATCH_FLAG_SESSION_END |
            (c.parser.format() == OsmoFormat::Pcapng ? router::BATCH_FLAG_PCAPNG_SOURCE : 0);
        if (!m_batcher->mark(end)) {
            if (m_batcher->onFull() == OnFull::Hold) {
                m_noRoom = true;
                hold(c);
                return;
            }
            ++m_ringFull;  // the worker closes the file at idle time instead
        }
        c.endMarked = true;
    }
    c.gone = true;
    std::erase(m_held, &c);
}

void RemoteSource::stopPolling(Connection& c) {
    if (c.polled) {
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
        c.polled = false;
    }
}

void RemoteSource::hold(Connection& c) {
    // Not polled while held: its socket stays readable, and a level-triggered epoll would wake
    // the loop for it again and again. The kernel's receive buffer fills, TCP's window closes,
    // and the client slows down; the held queue serves the connections in turn.
    stopPolling(c);
    if (!c.held) {
        c.held = true;
        m_held.push_back(&c);
    }
}

void RemoteSource::resumePolling(Connection& c) {
    if (c.polled || c.fd < 0 || c.held || c.closing)
        return;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, c.fd, &ev);
    c.polled = true;
}

namespace {

// Puts parsed packets into the ring. With OnFull::Hold a full ring stops the parse (the message
// stays in the connection's buffer until there is room); with OnFull::Drop (the ring is shared
// with an interface, which cannot wait) the packet is dropped and counted rather than stall the
// socket reads of every client.
struct RingSink final : OsmoPacketSink {
    Batcher* batcher = nullptr;
    std::uint16_t sourceId = 0;
    std::uint16_t session = 0;
    const OsmoStreamParser* parser = nullptr;
    std::uint64_t* ringFull = nullptr;
    std::uint64_t* packets = nullptr;
    bool packet(const OsmoPacket& p) override {
        std::uint32_t cap = p.caplen;
        const std::uint32_t flags =
            parser->format() == OsmoFormat::Pcapng ? router::BATCH_FLAG_PCAPNG_SOURCE : 0;
        std::byte* dst = batcher->reserve(
            router::BatchMeta{p.linkType, p.snaplen, sourceId, session, flags}, cap);
        if (dst == nullptr) {
            if (batcher->onFull() == OnFull::Hold)
                return false;
            ++*packets;
            ++*ringFull;
            return true;
        }
        ++*packets;
        const router::PcapRecordHeader rec{static_cast<std::uint32_t>(p.tsNs / 1'000'000'000ULL),
                                           static_cast<std::uint32_t>(p.tsNs % 1'000'000'000ULL),
                                           cap, p.wirelen};
        std::memcpy(dst, &rec, sizeof rec);
        std::memcpy(dst + sizeof rec, p.data, cap);
        batcher->commit(cap);
        return true;
    }
};

}  // namespace

long RemoteSource::receive(Connection& c) {
    std::byte* at = c.buffer.get() + c.used;
    const std::size_t room = READ_BUFFER - c.used;
    if (c.tls)
        return c.tls->recv(at, room);
    const ssize_t n = ::recv(c.fd, at, room, 0);
    if (n >= 0)
        return static_cast<long>(n);
    return errno == EAGAIN || errno == EINTR ? -1 : -2;
}

RemoteSource::Parsed RemoteSource::parseBuffered(Connection& c) {
    RingSink sink;
    sink.batcher = m_batcher;
    sink.sourceId = c.client->sourceId;
    sink.session = c.session;
    sink.parser = &c.parser;
    sink.ringFull = &m_ringFull;
    sink.packets = &c.packets;
    const OsmoStreamParser::Result r = c.parser.parse(c.buffer.get(), c.used, sink);
    std::memmove(c.buffer.get(), c.buffer.get() + r.consumed, c.used - r.consumed);
    c.used -= r.consumed;
    if (r.error != OsmoError::None) {
        ++m_closed[static_cast<std::size_t>(r.error)];
        c.used = 0;
        if (!c.closing)
            close(c, std::string(osmoErrorName(r.error)) + ": " + c.parser.detail());
        return Parsed::Failed;
    }
    if (r.stopped) {
        m_noRoom = true;
        hold(c);
        return Parsed::Stopped;
    }
    if (c.used == READ_BUFFER) {  // a message cannot be this large: the length is 16 bits
        ++m_closed[static_cast<std::size_t>(OsmoError::LengthMismatch)];
        c.used = 0;
        if (!c.closing)
            close(c, "no message fits the read buffer");
        return Parsed::Failed;
    }
    return Parsed::Done;
}

void RemoteSource::serve(Connection& c) {
    if (c.closing) {
        finishClosing(c);
        return;
    }
    if (c.handshaking) {
        switch (c.tls->handshake()) {
            case TlsServerSession::Step::Again:
                return;
            case TlsServerSession::Step::Failed:
                ++m_tlsRefused;
                close(c, "tls_refused: " + c.tls->error());
                return;
            case TlsServerSession::Step::Done:
                c.handshaking = false;
                spdlog::info("collector: client {} ({}): TLS established", c.client->name, c.peer);
                break;
        }
    }
    if (m_noRoom) {  // no room found earlier in this pump: wait in line without reading
        hold(c);
        return;
    }
    if (c.used != 0 && parseBuffered(c) != Parsed::Done)
        return;
    // A few reads per turn keep one busy client from starving the others; TLS may hold
    // decrypted bytes the socket no longer signals, so those are always drained.
    for (int reads = 0; reads < 4 || (c.tls && c.tls->pending()); ++reads) {
        const long n = receive(c);
        if (n == 0) {
            close(c, c.used == 0 ? "end of stream" : "end of stream inside a message");
            return;
        }
        if (n == -1)
            break;
        if (n < 0) {
            close(c, c.tls ? c.tls->error() : std::string(std::strerror(errno)));
            return;
        }
        c.used += static_cast<std::size_t>(n);
        if (parseBuffered(c) != Parsed::Done)
            return;
    }
    resumePolling(c);
}

void RemoteSource::reportStatus(proto::ChildEventWriter& events) const {
    for (std::size_t i = 0; i < m_options.clients.size(); ++i) {
        const ClientStats& s = m_clientStats[i];
        events.client(m_options.clients[i].name, s.current != nullptr,
                      s.current ? s.current->peer : std::string(),
                      s.packetsBefore + (s.current ? s.current->packets : 0), s.connections,
                      s.lastClose);
    }
    std::string closed;
    for (std::size_t r = 1; r < m_closed.size(); ++r) {
        if (m_closed[r] != 0) {
            closed += (closed.empty() ? "" : ",") +
                      std::string(osmoErrorName(static_cast<OsmoError>(r))) + "=" +
                      std::to_string(m_closed[r]);
        }
    }
    events.collector(m_noClient, m_tlsRefused, closed);
}

void RemoteSource::serveHeld(bool readSockets) {
    // Oldest first: the connection that waited longest gets the room that came free, then the
    // next. The first that still finds none ends the round (it is back at the end of the line).
    m_noRoom = false;
    for (std::size_t turns = m_held.size(); turns != 0 && !m_noRoom && !m_held.empty(); --turns) {
        Connection* c = m_held.front();
        m_held.pop_front();
        c->held = false;
        if (readSockets)
            serve(*c);
        else if (c->closing)
            finishClosing(*c);
        else if (c->used != 0)
            parseBuffered(*c);
    }
}

PumpStatus RemoteSource::pump(Batcher& batcher) {
    m_batcher = &batcher;
    serveHeld(/*readSockets=*/true);
    epoll_event events[EVENTS_PER_PUMP];
    const int n = ::epoll_wait(m_epoll, events, EVENTS_PER_PUMP, 0);
    for (int i = 0; i < n; ++i) {
        auto* entry = static_cast<EpollEntry*>(events[i].data.ptr);
        if (entry->listener) {
            accept(entry->fd);
        } else {
            auto* c = static_cast<Connection*>(entry);
            if (c->polled)  // not closed or held earlier in this round
                serve(*c);
        }
    }
    std::erase_if(m_connections, [](const auto& c) { return c->gone; });
    if (!m_held.empty())
        return PumpStatus::Progress;
    return n == EVENTS_PER_PUMP ? PumpStatus::Progress : PumpStatus::Idle;
}

bool RemoteSource::drainHeld(Batcher& batcher) {
    // Shutdown: what was read goes in if room comes, but nothing more is read.
    m_batcher = &batcher;
    serveHeld(/*readSockets=*/false);
    std::erase_if(m_connections, [](const auto& c) { return c->gone; });
    return m_held.empty();
}

}  // namespace pushcap::capture
