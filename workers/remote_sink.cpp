#include "workers/remote_sink.hpp"

#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "router/ring_layout.hpp"
#include "workers/config_error.hpp"

namespace pushcap::workers {
namespace {

constexpr std::size_t MESSAGE_HEADER = 4;
constexpr std::size_t MAX_PAYLOAD = 65535;  // the length field is 16 bits
constexpr std::size_t SEND_CHUNK = 256u << 10;

void put16be(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}

template <typename T>
void put(std::byte*& p, T v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
}

// One link-header message for `format`: a pcap global header (microseconds, as osmo-pcap
// clients send), or a pcapng SHB + one IDB.
std::vector<std::byte> linkHeaderMessage(const FileFormat& f, bool pcapng) {
    std::vector<std::byte> m(MESSAGE_HEADER + (pcapng ? PCAPNG_SHB_BYTES + 20 : 24));
    m[0] = std::byte(0);
    m[1] = std::byte(0);
    put16be(&m[2], static_cast<std::uint16_t>(m.size() - MESSAGE_HEADER));
    std::byte* p = m.data() + MESSAGE_HEADER;
    if (!pcapng) {
        put<std::uint32_t>(p, PCAP_MAGIC_US);
        put<std::uint16_t>(p, 2);
        put<std::uint16_t>(p, 4);
        put<std::int32_t>(p, 0);
        put<std::uint32_t>(p, 0);
        put<std::uint32_t>(p, f.snaplen);
        put<std::uint32_t>(p, f.linkType);
    } else {
        // An IDB without if_tsresol: microseconds, as osmo-pcap clients send.
        p = writePcapngSectionHeader(p);
        put<std::uint32_t>(p, 1);
        put<std::uint32_t>(p, 20);
        put<std::uint16_t>(p, static_cast<std::uint16_t>(f.linkType));
        put<std::uint16_t>(p, 0);
        put<std::uint32_t>(p, f.snaplen);
        put<std::uint32_t>(p, 20);
    }
    return m;
}

std::size_t messageSize(const std::byte* header) {
    return MESSAGE_HEADER + ((std::size_t(std::uint8_t(header[2])) << 8) | std::uint8_t(header[3]));
}

}  // namespace

// The socket (and TLS session) of the sender thread; only that thread touches it.
struct RemoteSink::Connection {
    int fd = -1;
    gnutls_session_t session = nullptr;
    gnutls_certificate_credentials_t credentials = nullptr;

    ~Connection() {
        close();
        if (credentials != nullptr)
            gnutls_certificate_free_credentials(credentials);
    }
    void close() {
        if (session != nullptr) {
            gnutls_deinit(session);
            session = nullptr;
        }
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
    bool send(const std::byte* data, std::size_t size, std::size_t& sent) {
        sent = 0;
        while (sent < size) {
            ssize_t n = session != nullptr ? gnutls_record_send(session, data + sent, size - sent)
                                           : ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (session != nullptr ? (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                                       : errno == EINTR)
                    continue;
                return false;
            }
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }
};

RemoteSink::RemoteSink(RemoteSinkOptions options)
    : m_options(std::move(options)),
      m_queue(m_options.queueBytes),
      m_connection(std::make_unique<Connection>()) {
    if (m_options.host.empty() || m_options.port == 0)
        throw ConfigError("Remote: a collector HOST:PORT is required");
    m_peer = m_options.host + ":" + std::to_string(m_options.port);
    if (m_options.tls) {
        auto check = [](int rc, const std::string& what) {
            if (rc < 0)
                throw ConfigError("Remote TLS: " + what + ": " + gnutls_strerror(rc));
        };
        check(gnutls_certificate_allocate_credentials(&m_connection->credentials), "credentials");
        if (m_options.verify) {
            if (m_options.caFile.empty())
                throw ConfigError("Remote TLS: verifying the collector needs a CA file");
            const int n = gnutls_certificate_set_x509_trust_file(
                m_connection->credentials, m_options.caFile.c_str(), GNUTLS_X509_FMT_PEM);
            check(n, "CA file " + m_options.caFile);
        }
        if (!m_options.certFile.empty()) {
            check(gnutls_certificate_set_x509_key_file(
                      m_connection->credentials, m_options.certFile.c_str(),
                      m_options.keyFile.c_str(), GNUTLS_X509_FMT_PEM),
                  "certificate " + m_options.certFile + " / key " + m_options.keyFile);
        }
        if (m_options.tlsHostname.empty())
            m_options.tlsHostname = m_options.host;
    }
    m_sender = std::thread([this] { run(); });
}

RemoteSink::~RemoteSink() {
    drain(2000);
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_sender.joinable())
        m_sender.join();
}

ResumeOutcome RemoteSink::resume(const OpenFileRef& ref) {
    // A stream has nothing to cut back: go on with the same format.
    std::string ignored;
    open("", "", ref.format, ignored);
    m_bytes = ref.bytes;
    return ResumeOutcome::Reopened;
}

IoStatus RemoteSink::open(const std::string&, const std::string&, const FileFormat& format,
                          std::string& chosenName) {
    FileFormat f = format;
    f.snaplen = std::min<std::uint32_t>({f.snaplen == 0 ? m_options.snaplenCap : f.snaplen,
                                         m_options.snaplenCap, std::uint32_t(MAX_PAYLOAD - 16)});
    if (!m_haveFormat || f.linkType != m_format.linkType || f.snaplen != m_format.snaplen) {
        const std::vector<std::byte> header = linkHeaderMessage(f, m_options.pcapng);
        enqueue(header.data(), header.size());
    }
    m_format = f;
    m_haveFormat = true;
    m_open = true;
    m_bytes = 24;  // what a file would hold: the header
    chosenName = m_peer;
    return IoStatus::Ok;
}

IoStatus RemoteSink::append(const std::byte* data, std::size_t size) {
    // Encode the run (record headers are read in place, bounds-checked), then queue it at once.
    m_scratch.clear();
    std::size_t off = 0;
    while (off + sizeof(router::PcapRecordHeader) <= size) {
        router::PcapRecordHeader h;
        std::memcpy(&h, data + off, sizeof h);
        if (h.caplen > size - off - sizeof h)
            break;
        const std::uint32_t cap = std::min(h.caplen, m_format.snaplen);
        const std::size_t payload = m_options.pcapng ? pcapngPacketBytes(cap) : 16 + cap;
        const std::size_t at = m_scratch.size();
        m_scratch.resize(at + MESSAGE_HEADER + payload);
        std::byte* p = m_scratch.data() + at;
        p[0] = std::byte(1);
        p[1] = std::byte(0);
        put16be(p + 2, static_cast<std::uint16_t>(payload));
        p += MESSAGE_HEADER;
        if (!m_options.pcapng) {
            put<std::uint32_t>(p, h.ts_sec);
            put<std::uint32_t>(p, h.ts_nsec / 1000);
            put<std::uint32_t>(p, cap);
            put<std::uint32_t>(p, h.wirelen);
            std::memcpy(p, data + off + sizeof h, cap);
        } else {
            const std::uint64_t usec = std::uint64_t(h.ts_sec) * 1'000'000ULL + h.ts_nsec / 1000;
            writePcapngPacketHead(p, usec, cap, h.wirelen);
            p += PCAPNG_EPB_HEAD_BYTES;
            std::memcpy(p, data + off + sizeof h, cap);
            writePcapngPacketTail(p + cap, cap);
        }
        off += sizeof h + h.caplen;
    }
    m_bytes += size;
    enqueue(m_scratch.data(), m_scratch.size());
    return IoStatus::Ok;
}

void RemoteSink::enqueue(const std::byte* data, std::size_t size) {
    {
        std::lock_guard lock(m_mutex);
        const std::size_t capacity = m_queue.size();
        std::size_t off = 0;
        while (off + MESSAGE_HEADER <= size) {
            const std::size_t n = messageSize(data + off);
            const bool isPacket = data[off] == std::byte(1);
            if (m_size + n > capacity) {
                // Full: this packet is dropped (counted). A link header is never dropped: the
                // oldest queued packets make room for it, counted as lost too.
                if (isPacket || n > capacity) {
                    m_stats.packetsLost += isPacket;
                    off += n;
                    continue;
                }
                while (m_size + n > capacity) {
                    std::byte header[MESSAGE_HEADER];
                    for (std::size_t i = 0; i < MESSAGE_HEADER; ++i)
                        header[i] = m_queue[(m_head + i) % capacity];
                    const std::size_t drop = messageSize(header);
                    m_stats.packetsLost += header[0] == std::byte(1);
                    m_head = (m_head + drop) % capacity;
                    m_size -= drop;
                }
            }
            const std::size_t tail = (m_head + m_size) % capacity;
            const std::size_t first = std::min(n, capacity - tail);
            std::memcpy(m_queue.data() + tail, data + off, first);
            std::memcpy(m_queue.data(), data + off + first, n - first);
            m_size += n;
            if (isPacket)
                ++m_stats.packetsQueued;
            off += n;
        }
    }
    m_wake.notify_all();  // the sender, and nobody else, may be waiting for data
}

bool RemoteSink::connect() {
    Connection& c = *m_connection;
    c.close();
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(m_options.host.c_str(), std::to_string(m_options.port).c_str(), &hints,
                      &found) != 0) {
        return false;
    }
    for (addrinfo* a = found; a != nullptr && c.fd < 0; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            rc = ::poll(&p, 1, 5000) == 1 &&
                         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                     ? 0
                     : -1;
        }
        if (rc != 0) {
            ::close(fd);
            continue;
        }
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        const timeval timeout{10, 0};  // a collector that stops reading is a dead collector
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        c.fd = fd;
    }
    ::freeaddrinfo(found);
    if (c.fd < 0)
        return false;
    if (m_options.tls) {
        gnutls_init(&c.session, GNUTLS_CLIENT);
        gnutls_set_default_priority(c.session);
        gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, c.credentials);
        gnutls_server_name_set(c.session, GNUTLS_NAME_DNS, m_options.tlsHostname.c_str(),
                               m_options.tlsHostname.size());
        if (m_options.verify)
            gnutls_session_set_verify_cert(c.session, m_options.tlsHostname.c_str(), 0);
        gnutls_transport_set_int(c.session, c.fd);
        gnutls_handshake_set_timeout(c.session, 10000);
        int rc;
        do {
            rc = gnutls_handshake(c.session);
        } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
        if (rc < 0) {
            std::lock_guard lock(m_mutex);
            m_error = std::string("TLS handshake with ") + m_peer + ": " + gnutls_strerror(rc);
            c.close();
            return false;
        }
    }
    return true;
}

void RemoteSink::run() {
    std::vector<std::byte> chunk;
    std::vector<std::byte> linkHeader;  // the last one sent: every new connection starts with it
    std::chrono::milliseconds backoff{100};
    bool connected = false;
    for (;;) {
        {
            std::unique_lock lock(m_mutex);
            m_sending = false;
            m_wake.notify_all();  // drain() waits for nothing queued and nothing in flight
            m_wake.wait(lock, [&] { return m_stop || m_size != 0; });
            if (m_stop)
                return;
            m_sending = true;
            // Take whole messages, up to a chunk.
            chunk.clear();
            const std::size_t capacity = m_queue.size();
            while (m_size != 0 && chunk.size() < SEND_CHUNK) {
                std::byte header[MESSAGE_HEADER];
                for (std::size_t i = 0; i < MESSAGE_HEADER; ++i)
                    header[i] = m_queue[(m_head + i) % capacity];
                const std::size_t n = messageSize(header);
                const std::size_t at = chunk.size();
                chunk.resize(at + n);
                const std::size_t first = std::min(n, capacity - m_head);
                std::memcpy(chunk.data() + at, m_queue.data() + m_head, first);
                std::memcpy(chunk.data() + at + first, m_queue.data(), n - first);
                m_head = (m_head + n) % capacity;
                m_size -= n;
            }
        }
        std::size_t off = 0;
        while (off < chunk.size()) {
            if (!connected) {
                if (!connect()) {
                    std::unique_lock lock(m_mutex);
                    ++m_stats.connectFailures;
                    if (m_error.empty())
                        m_error = "cannot connect to " + m_peer;
                    m_wake.wait_for(lock, backoff, [&] { return m_stop; });
                    if (m_stop)
                        return;
                    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
                    continue;
                }
                connected = true;
                backoff = std::chrono::milliseconds(100);
                std::size_t sent = 0;
                if (!linkHeader.empty() && chunk[off] != std::byte(0) &&
                    !m_connection->send(linkHeader.data(), linkHeader.size(), sent)) {
                    connected = false;
                    continue;
                }
                std::lock_guard lock(m_mutex);
                ++m_stats.connects;
                m_error.clear();
            }
            // Send message by message so a broken connection loses at most the one in flight.
            const std::size_t n = messageSize(chunk.data() + off);
            std::size_t sent = 0;
            const bool ok = m_connection->send(chunk.data() + off, n, sent);
            if (chunk[off] == std::byte(0) && ok)
                linkHeader.assign(chunk.begin() + off, chunk.begin() + off + n);
            if (!ok) {
                connected = false;
                std::lock_guard lock(m_mutex);
                m_error = "connection to " + m_peer + " lost";
                if (sent != 0 && chunk[off] == std::byte(1)) {
                    ++m_stats.packetsLost;  // cut mid-message: the next connection starts clean
                    off += n;
                }
                continue;
            }
            off += n;
            std::lock_guard lock(m_mutex);
            m_stats.bytesSent += n;
        }
    }
}

bool RemoteSink::drain(int timeoutMs) {
    std::unique_lock lock(m_mutex);
    return m_wake.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                           [&] { return m_size == 0 && !m_sending; });
}

IoStatus RemoteSink::complete(CompletedFile& done) {
    done.location = m_peer;
    done.bytes = m_bytes;
    m_open = false;
    return IoStatus::Ok;
}

RemoteSinkStats RemoteSink::stats() const {
    std::lock_guard lock(m_mutex);
    return m_stats;
}

}  // namespace pushcap::workers
