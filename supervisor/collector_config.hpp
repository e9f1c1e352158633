// The collector part of pushcapd's configuration: where pushcap-capture listens for osmo-pcap
// clients, which clients it accepts, its TLS settings, and the default per-client output
// (osmo-pcap-server's trace-<name>-<time>.pcap files). Filled by the Lua reader (Config.Collector)
// or by the osmo-pcap-server reader (--osmo-config); the checks both need live here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/delivery_policy.hpp"

namespace pushcap::supervisor {

struct CollectorClient {
    std::string name;     // the ring source name and the <name> of its trace files
    std::string address;  // IPv4, IPv6, or either with /BITS
    bool store = true;    // osmo-pcap's store/no-store: false gives no default output
    bool tls = false;     // the client must connect with TLS
    bool operator==(const CollectorClient&) const = default;
};

// A file the collector reads, with the configuration key that named it, for messages.
struct NamedPath {
    std::string path;
    std::string key;
    bool operator==(const NamedPath&) const = default;
};

struct CollectorTls {
    NamedPath cert, key, ca, crl;
    std::string priority;    // empty: pushcap-capture's default
    std::string clientAuth;  // "", "x509" or "anonymous" (pushcap-capture --tls-client-auth)
    bool operator==(const CollectorTls&) const = default;
};

// The implicit per-client File targets. Off while basePath is empty.
struct CollectorOutput {
    std::string basePath;
    std::string completedPath;
    std::uint64_t maxFileSize = 0;  // 0: no limit
    std::string rotateLocaltime;    // "" or "UNIT [mod N]"
    std::string fileMode;           // "" (the worker's default) or octal such as "0440"
    std::uint64_t idleGraceMs = 5000;
    DeliveryChoice delivery = DeliveryChoice::Default;  // of every client's output
    bool operator==(const CollectorOutput&) const = default;
};

struct CollectorConfig {
    bool enabled = false;
    std::vector<std::string> listen;  // "ADDR:PORT", "[V6]:PORT"
    std::uint32_t maxSnaplen = 9000;
    CollectorTls tls;
    std::vector<CollectorClient> clients;  // in source-id order, after the interfaces
    CollectorOutput output;

    // What pushcap-capture is started with: a change needs a new capture process.
    bool sameCapture(const CollectorConfig& other) const {
        return enabled == other.enabled && listen == other.listen &&
               maxSnaplen == other.maxSnaplen && tls == other.tls && clients == other.clients;
    }
};

inline constexpr std::uint32_t MAX_SNAPLEN_LIMIT = 262144;
inline constexpr std::uint32_t DEFAULT_COLLECTOR_PORT = 54321;

// "" if `text` is an IPv4 or IPv6 address, optionally with /BITS; else why not.
std::string addressProblem(const std::string& text);

// "" if `text` is "ADDR:PORT" or "[V6]:PORT" with PORT 0..65535; else why not.
std::string listenProblem(const std::string& text);

// "" if `name` can be a client name (it ends up in file names and is the ring source name).
std::string clientNameProblem(const std::string& name);

// "" if `mode` is an octal file mode such as "0440"; else why not.
std::string fileModeProblem(const std::string& mode);

// "ADDR:PORT", bracketing an IPv6 address.
std::string listenAddress(const std::string& ip, std::uint32_t port);

// Problems with the files the collector reads (missing, unreadable, a directory where one file
// is needed), named by their configuration key. Empty when all is well.
std::vector<std::string> collectorFileProblems(const CollectorConfig& collector);

}  // namespace pushcap::supervisor
