// pushcap-worker's command line. The supervisor passes FMADIO's Split and FileName strings
// through unchanged as these flags (see worker_main.cpp for the full synopsis).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <vector>
#include "workers/remote_sink.hpp"

#include "workers/file_naming.hpp"
#include "workers/split_policy.hpp"

namespace pushcap::workers {

// What files hold: nanosecond PCAP, pcapng, or whichever the source streams (pcapng for
// collector clients in pcapng mode, as osmo-pcap-server stores them).
enum class OutputFormat { Pcap, Pcapng, Auto };

struct WorkerConfig {
    std::string ring;  // segment name
    std::string name;  // Desc: consumer name, log name
    std::string mode = "file";
    std::string filter;
    SplitConfig split;
    NamingConfig naming;
    std::string completedPath;
    std::uint64_t idleGraceNs = 5'000'000'000ULL;
    OutputFormat format = OutputFormat::Pcap;
    // Complete the file when the source's connection ends or is replaced (collector clients).
    bool filePerConnection = false;
    unsigned fileMode = 0644;  // of complete files
    bool fsync = true;         // --no-fsync: complete files are not synced (NFS speed)
    std::string logDir;
    bool quietConsole = false;  // stderr gets warnings and errors only (the log file has all)
    int readyFd = -1;
    int eventsFd = -1;  // file and error events for pushcapd (proto/child_events.hpp)
    std::vector<std::uint16_t> sources;  // empty: every source
    bool check = false;

    // --mode rclone: files are written to `spoolDir` (naming.path points there) and uploaded to
    // `remotePath` (the --path given, "remote:bucket/dir/prefix").
    std::string remotePath;
    std::string spoolDir;
    std::uint64_t spoolMaxBytes = 0;  // 0: unlimited; reached: stop taking packets
    unsigned uploads = 2;
    bool keepLocal = false;
    std::string rclonePath = "rclone";
    std::string rcloneConfig;
    unsigned uploadRetries = 0;  // 0: forever
    std::uint64_t uploadBackoffMaxMs = 60000;

    // --mode remote: --path is the collector's HOST:PORT; packets stream there (remote_sink.hpp).
    RemoteSinkOptions remote;

    bool rclone() const { return mode == "rclone"; }
    bool streaming() const { return mode == "remote"; }
};

// Thrown for a malformed command line (unknown flag, missing value): exit EXIT_USAGE.
class UsageError : public std::runtime_error {
  public:
    explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

// Throws UsageError or ConfigError.
WorkerConfig parseWorkerArgs(const std::vector<std::string>& args);

std::string workerUsage();

}  // namespace pushcap::workers
