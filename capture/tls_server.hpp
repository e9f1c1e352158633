// TLS for the collector (GnuTLS, as osmo-pcap uses): the server's certificate and key, and
// optionally a CA (and CRL) that client certificates must verify against. A certificate is only
// requested from clients that must present one: a real osmo-pcap-client without a certificate
// fails the handshake as soon as it is asked for one, even if the server would accept none.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace pushcap::capture {

struct TlsServerOptions {
    std::string certFile;
    std::string keyFile;
    std::string caFile;   // empty: client certificates are never requested
    std::string crlFile;  // with caFile: revoked client certificates are refused
    std::string priority = "NORMAL";
};

class TlsServerContext {
  public:
    // Loads every file; throws std::runtime_error naming the file and GnuTLS's reason.
    explicit TlsServerContext(const TlsServerOptions& options);
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    bool verifiesClients() const { return !m_options.caFile.empty(); }

  private:
    friend class TlsServerSession;
    struct Credentials;
    TlsServerOptions m_options;
    std::unique_ptr<Credentials> m_credentials;
};

// One accepted connection, non-blocking. Drive handshake() until Done or Failed, then recv().
class TlsServerSession {
  public:
    enum class Step { Again, Done, Failed };

    // `requireCertificate`: ask for a client certificate and refuse the connection unless it
    // verifies against the context's CA (and is not revoked).
    TlsServerSession(TlsServerContext& context, int fd, bool requireCertificate);
    ~TlsServerSession();
    TlsServerSession(const TlsServerSession&) = delete;
    TlsServerSession& operator=(const TlsServerSession&) = delete;

    Step handshake();
    // > 0: bytes read; 0: orderly end; -1: nothing now (wait for readability); -2: error.
    long recv(std::byte* buffer, std::size_t size);
    // Bytes GnuTLS has already decrypted and holds: read them before waiting on the socket.
    bool pending() const;
    const std::string& error() const { return m_error; }

  private:
    struct Session;
    std::unique_ptr<Session> m_session;
    std::string m_error;
};

}  // namespace pushcap::capture
