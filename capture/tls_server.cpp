#include "capture/tls_server.hpp"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <stdexcept>

namespace pushcap::capture {

struct TlsServerContext::Credentials {
    gnutls_certificate_credentials_t cred = nullptr;
    gnutls_priority_t priority = nullptr;
    ~Credentials() {
        if (priority != nullptr)
            gnutls_priority_deinit(priority);
        if (cred != nullptr)
            gnutls_certificate_free_credentials(cred);
    }
};

struct TlsServerSession::Session {
    gnutls_session_t s = nullptr;
    ~Session() {
        if (s != nullptr)
            gnutls_deinit(s);
    }
};

TlsServerContext::TlsServerContext(const TlsServerOptions& options)
    : m_options(options), m_credentials(std::make_unique<Credentials>()) {
    auto check = [](int rc, const std::string& what) {
        if (rc < 0)
            throw std::runtime_error("TLS: " + what + ": " + gnutls_strerror(rc));
    };
    if (options.certFile.empty() || options.keyFile.empty()) {
        throw std::runtime_error(
            "TLS: a server certificate and key are required (--tls-cert, --tls-key)");
    }
    check(gnutls_certificate_allocate_credentials(&m_credentials->cred), "credentials");
    check(gnutls_certificate_set_x509_key_file(m_credentials->cred, options.certFile.c_str(),
                                               options.keyFile.c_str(), GNUTLS_X509_FMT_PEM),
          "certificate " + options.certFile + " / key " + options.keyFile);
    if (!options.caFile.empty()) {
        const int n = gnutls_certificate_set_x509_trust_file(
            m_credentials->cred, options.caFile.c_str(), GNUTLS_X509_FMT_PEM);
        check(n, "CA file " + options.caFile);
        if (n == 0)
            throw std::runtime_error("TLS: CA file " + options.caFile + " holds no certificate");
        if (!options.crlFile.empty()) {
            check(gnutls_certificate_set_x509_crl_file(m_credentials->cred, options.crlFile.c_str(),
                                                       GNUTLS_X509_FMT_PEM),
                  "CRL file " + options.crlFile);
        }
    } else if (!options.crlFile.empty()) {
        throw std::runtime_error("TLS: a CRL (" + options.crlFile + ") needs a CA file (--tls-ca)");
    }
    const char* where = nullptr;
    if (gnutls_priority_init(&m_credentials->priority, options.priority.c_str(), &where) < 0) {
        throw std::runtime_error("TLS: priority string '" + options.priority +
                                 "' is invalid near '" + (where != nullptr ? where : "?") + "'");
    }
}

TlsServerContext::~TlsServerContext() = default;

TlsServerSession::TlsServerSession(TlsServerContext& context, int fd, bool requireCertificate)
    : m_session(std::make_unique<Session>()) {
    gnutls_init(&m_session->s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
    gnutls_priority_set(m_session->s, context.m_credentials->priority);
    gnutls_credentials_set(m_session->s, GNUTLS_CRD_CERTIFICATE, context.m_credentials->cred);
    if (requireCertificate) {
        gnutls_certificate_server_set_request(m_session->s, GNUTLS_CERT_REQUIRE);
        // Verified during the handshake: no certificate, an unknown CA or a revoked one fails it.
        gnutls_session_set_verify_cert(m_session->s, nullptr, 0);
    } else {
        gnutls_certificate_server_set_request(m_session->s, GNUTLS_CERT_IGNORE);
    }
    gnutls_transport_set_int(m_session->s, fd);
}

TlsServerSession::~TlsServerSession() = default;

TlsServerSession::Step TlsServerSession::handshake() {
    const int rc = gnutls_handshake(m_session->s);
    if (rc == GNUTLS_E_SUCCESS)
        return Step::Done;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return Step::Again;
    m_error = gnutls_strerror(rc);
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t text{};
        const unsigned status = gnutls_session_get_verify_cert_status(m_session->s);
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
            m_error += std::string(": ") + reinterpret_cast<const char*>(text.data);
            gnutls_free(text.data);
        }
    }
    return Step::Failed;
}

long TlsServerSession::recv(std::byte* buffer, std::size_t size) {
    const ssize_t n = gnutls_record_recv(m_session->s, buffer, size);
    if (n >= 0)
        return static_cast<long>(n);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        return -1;
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;  // osmo-pcap clients just close the socket
    m_error = gnutls_strerror(static_cast<int>(n));
    return -2;
}

bool TlsServerSession::pending() const {
    return gnutls_record_check_pending(m_session->s) > 0;
}

}  // namespace pushcap::capture
