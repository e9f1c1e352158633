#include "supervisor/collector_config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace pushcap::supervisor {
namespace {

bool allDigits(const std::string& s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// 4 for IPv4, 6 for IPv6, 0 for neither.
int addressFamily(const std::string& ip) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, ip.c_str(), buf) == 1)
        return 4;
    if (::inet_pton(AF_INET6, ip.c_str(), buf) == 1)
        return 6;
    return 0;
}

}  // namespace

std::string addressProblem(const std::string& text) {
    const std::size_t slash = text.find('/');
    const std::string ip = text.substr(0, slash);
    const int family = addressFamily(ip);
    if (family == 0)
        return "is not an IPv4 or IPv6 address (optionally with /BITS)";
    if (slash != std::string::npos) {
        const std::string bits = text.substr(slash + 1);
        const int limit = family == 4 ? 32 : 128;
        if (!allDigits(bits) || std::stoi(bits) > limit)
            return "has a bad prefix length (/0../" + std::to_string(limit) + ")";
    }
    return "";
}

std::string listenProblem(const std::string& text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return "is not ADDR:PORT (e.g. \"0.0.0.0:54321\" or \"[::]:54321\")";
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed)
        host = host.substr(1, host.size() - 2);
    const int family = addressFamily(host);
    if (family == 0 || (family == 6) != bracketed)
        return "is not ADDR:PORT with an IP address (IPv6 in brackets: \"[::]:54321\")";
    if (!allDigits(port) || std::stoul(port) > 65535)
        return "has a bad port (0..65535; 0: any free port)";
    return "";
}

std::string clientNameProblem(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 63 && name != "." && name != "..";
    for (char c : name)
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    if (!ok)
        return "must be 1-63 letters, digits, '_', '-' or '.' (it is part of file names)";
    if (name == "capture")
        return "is reserved (the capture process is named so in status)";
    return "";
}

std::string fileModeProblem(const std::string& mode) {
    const bool ok =
        !mode.empty() && mode.size() <= 5 &&
        std::all_of(mode.begin(), mode.end(), [](char c) { return c >= '0' && c <= '7'; });
    if (!ok || std::stoul(mode, nullptr, 8) > 07777)
        return "is not an octal file mode such as \"0440\"";
    return "";
}

std::string listenAddress(const std::string& ip, std::uint32_t port) {
    const bool v6 = ip.find(':') != std::string::npos;
    return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::vector<std::string> collectorFileProblems(const CollectorConfig& collector) {
    std::vector<std::string> problems;
    if (!collector.enabled)
        return problems;
    for (const NamedPath* f :
         {&collector.tls.cert, &collector.tls.key, &collector.tls.ca, &collector.tls.crl}) {
        if (f->path.empty())
            continue;
        std::error_code ec;
        if (std::filesystem::is_directory(f->path, ec)) {
            // osmo-pcap's `tls capath` may name a directory; GnuTLS needs one file here.
            problems.push_back(f->key + ": " + f->path +
                               " is a directory; pushcap needs one PEM file (for CAs: cat " +
                               f->path + "/*.pem > ca.pem)");
        } else if (::access(f->path.c_str(), R_OK) != 0) {
            problems.push_back(f->key + ": " + f->path + ": " + std::strerror(errno));
        }
    }
    return problems;
}

}  // namespace pushcap::supervisor
