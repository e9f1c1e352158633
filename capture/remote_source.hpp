// Remote capture agents as a capture source: a TCP collector speaking the osmo-pcap protocol
// (capture/osmo_stream_parser.hpp). Clients are known by their source address, matched against
// an allow list in order (first match wins), as osmo-pcap-server does; each allowed client is its
// own ring source id, so targets can select them. A bad stream closes that connection only,
// counted by reason; an unknown address is closed at once and counted.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capture/osmo_stream_parser.hpp"
#include "capture/source.hpp"
#include "capture/tls_server.hpp"

namespace pushcap::capture {

struct RemoteClient {
    std::string name;
    in6_addr address{};     // IPv4 clients as v4-mapped addresses
    unsigned prefix = 128;  // bits of `address` that must match
    bool store = true;      // osmo-pcap's no-store: in the ring for targets, but no default file
    bool tls = false;       // this client must speak TLS
    std::uint16_t sourceId = 0;
};

// "NAME=ADDR[/BITS][:no-store][:tls]" as given to --client; throws std::runtime_error naming the
// text.
RemoteClient parseRemoteClient(const std::string& text, std::uint16_t sourceId);

struct RemoteOptions {
    std::vector<std::string> listen;  // "ADDR:PORT", "[V6]:PORT"; port 0 picks a free one
    std::vector<RemoteClient> clients;
    std::uint32_t maxSnaplen = 9000;
    std::optional<TlsServerOptions> tls;  // needed when any client has `tls`
    // With a CA in `tls`: TLS clients must present a certificate that verifies (osmo-pcap's
    // "tls allow-auth x509"); false accepts clients without one ("anonymous").
    bool requireClientCertificates = true;
};

class RemoteSource final : public Source {
  public:
    // Binds every listen address; throws std::runtime_error naming the address on failure.
    explicit RemoteSource(RemoteOptions options);
    ~RemoteSource() override;
    RemoteSource(const RemoteSource&) = delete;
    RemoteSource& operator=(const RemoteSource&) = delete;

    std::string describe() const override { return "collector"; }
    int pollFd() const override { return m_epoll; }
    PumpStatus pump(Batcher& batcher) override;
    bool hasHeldWork() const override { return !m_held.empty(); }
    bool drainHeld(Batcher& batcher) override;
    std::string error() const override { return m_error; }
    // Packets lost to a full ring count as drops, as kernel drops do for an interface.
    void drops(std::uint64_t& dropped, std::uint64_t& ifDropped) const override {
        dropped = m_ringFull;
        ifDropped = 0;
    }

    // The addresses actually bound ("127.0.0.1:40123"), for logs and tests.
    const std::vector<std::string>& boundAddresses() const { return m_bound; }
    std::uint64_t closedFor(OsmoError reason) const {
        return m_closed[static_cast<std::size_t>(reason)];
    }
    void reportStatus(proto::ChildEventWriter& events) const override;
    std::uint64_t unknownClients() const { return m_noClient; }
    std::uint64_t tlsRefused() const { return m_tlsRefused; }

  private:
    // What epoll hands back: a listening socket or a connection (which derives from it).
    struct EpollEntry {
        int fd = -1;
        bool listener = false;
    };
    struct Connection;

    enum class Parsed { Done, Stopped, Failed };  // Stopped: no ring room, the connection held

    void accept(int listener);
    void serve(Connection& c);
    void serveHeld(bool readSockets);
    Parsed parseBuffered(Connection& c);
    long receive(Connection& c);
    void close(Connection& c, const std::string& why);
    void finishClosing(Connection& c);
    void hold(Connection& c);
    void stopPolling(Connection& c);
    void resumePolling(Connection& c);
    const RemoteClient* match(const in6_addr& peer) const;

    RemoteOptions m_options;
    int m_epoll = -1;
    std::vector<std::unique_ptr<EpollEntry>> m_listeners;
    std::vector<std::string> m_bound;
    std::vector<std::unique_ptr<Connection>> m_connections;
    std::array<std::uint64_t, static_cast<std::size_t>(OsmoError::Count)> m_closed{};
    std::uint64_t m_noClient = 0;
    std::uint64_t m_tlsRefused = 0;
    std::unique_ptr<TlsServerContext> m_tls;
    std::uint64_t m_ringFull = 0;
    std::vector<std::uint16_t> m_lastSession;  // per client, as in m_options.clients
    struct ClientStats {
        const Connection* current = nullptr;
        std::uint64_t packetsBefore = 0;  // of connections already closed
        std::uint64_t connections = 0;
        std::string lastClose;
    };
    std::vector<ClientStats> m_clientStats;  // per client, as in m_options.clients
    Batcher* m_batcher = nullptr;            // the one pump() is given (close() marks with it)
    std::deque<Connection*> m_held;          // waiting for ring room, served in turn
    bool m_noRoom = false;                   // this round found the ring without room
    std::string m_error;
};

}  // namespace pushcap::capture
