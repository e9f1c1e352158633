// The capture process: command line, attach to the ring as its producer, open the sources, push
// until the files end or SIGTERM/SIGINT, finish the ring. pushcap-capture's main() is a thin call
// to runCapture().
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace pushcap::capture {

struct CaptureOptions {
    std::string ring;                     // segment name ("/pushcap.<instance>.<source>")
    std::vector<std::string> files;       // --file, pushed in order
    std::vector<std::string> interfaces;  // -i, source id = position
    std::vector<std::string> listen;      // --listen: collector addresses
    std::vector<std::string> clients;     // --client: allow list, source ids after the interfaces
    std::uint32_t maxSnaplen = 9000;
    std::string tlsCert, tlsKey, tlsCa, tlsCrl, tlsPriority = "NORMAL";
    bool tlsRequireClientCert = true;  // --tls-client-auth x509 (default) | anonymous
    std::uint32_t snaplen = 262144;
    bool promisc = true;
    std::uint64_t bufferBytes = 32 << 20;
    bool immediate = false;
    std::uint64_t flushUs = 1000;
    double realtime = 0;  // 0: as fast as the ring takes it; X: X times the original speed
    std::string user;
    int readyFd = -1;
    int eventsFd = -1;          // progress and errors for pushcapd (proto/child_events.hpp)
    bool quiet = false;         // warnings and errors only on stderr
    std::uint64_t statsMs = 0;  // 0: no periodic stats line
};

// A bad command line (exit EXIT_USAGE).
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};
// A valid command line naming something unusable: a file, an interface, a user (EXIT_BAD_CONFIG).
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws UsageError. Returns false if --help was printed.
bool parseCaptureArgs(int argc, char** argv, CaptureOptions& out);
const char* captureUsage();

// Runs to the end; returns the process exit code (workers/slot_counters.hpp). Logs its errors.
int runCapture(const CaptureOptions& options);

}  // namespace pushcap::capture
