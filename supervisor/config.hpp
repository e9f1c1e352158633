// pushcapd's configuration: a superset of FMADIO's push_realtime.lua (Config.Target entries with
// Desc, Mode, Path, Split, FileName, FilterBPF, ...) plus pushcap's top-level keys. Loading
// validates every key and value; errors name the file and line, or the target and key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/collector_config.hpp"
#include "supervisor/delivery_policy.hpp"

namespace pushcap::supervisor {

enum class TargetMode { File, Rclone, Remote };

struct TargetConfig {
    int index = 0;  // 1-based position in Config.Target, for messages
    std::string desc;
    TargetMode mode = TargetMode::File;
    std::string path;
    std::uint64_t splitTimeNs = 0;                        // 0: no time split
    std::uint64_t splitBytes = 0;                         // 0: no size split
    std::string fileNameFlag = "--filename-tstr-HHMMSS";  // a pushcap-worker naming flag
    std::string fileNameFormat;                           // with --filename-strftime
    std::string filter;                                   // "" keeps everything
    std::string suffix = ".pcap";
    std::string completedPath;
    std::uint64_t maxFileSize = 0;
    std::string rotateLocaltime;
    std::uint64_t idleGraceMs = 5000;
    std::vector<std::string> sources;  // empty: every source
    // fsync complete files and their directories, so a final name survives a power cut (Fsync).
    bool fsync = true;

    // Mode RCLONE: Path is "remote:bucket/dir/prefix"; files are spooled in spoolDir, then
    // uploaded with rclone (pushcap-worker --mode rclone).
    // Mode Remote: Path is the collector's "HOST:PORT".
    std::string remoteFormat = "pcap";  // or "pcapng"
    std::uint64_t remoteQueue = 0;      // bytes; 0: the worker's default
    bool remoteTls = false;
    bool remoteVerify = true;
    std::string remoteCa, remoteCert, remoteKey, remoteHostname;
    std::string rclonePath;           // empty: "rclone" on PATH
    std::string rcloneConfig;         // empty: rclone's default config (and RCLONE_CONFIG_* env)
    std::string spoolDir;             // empty in the file: StateDir/spool/<Desc>
    std::uint64_t spoolMax = 0;       // bytes waiting for upload at which packets stop; 0: no limit
    std::uint64_t uploads = 2;        // parallel rclone uploads
    bool keepLocal = false;           // keep uploaded files (in SpoolDir/uploaded/)
    std::uint64_t uploadRetries = 0;  // 0: forever

    // Set for the implicit output of a collector client (Collector.Output): the worker keeps the
    // client's format and completes a file per connection, as osmo-pcap-server does.
    std::string collectorClient;
    std::string fileMode;  // octal; empty: the worker's default

    // Delivery: may the capture wait for this target (see delivery_policy.hpp)?
    DeliveryChoice delivery = DeliveryChoice::Default;

    // How messages name it: `Target[2] "x"`, or `Collector client "foo" output`.
    std::string label() const;

    // What identifies this target's behaviour: equal strings mean a reload leaves it running.
    std::string fingerprint() const;
};

struct PushConfig {
    std::string file;
    std::string instance = "default";
    std::vector<std::string> interfaces;
    std::uint32_t snaplen = 262144;
    std::uint64_t ringBytes = 256ULL << 20;          // live default; see offlineRingBytes
    bool ringBytesSet = false;                       // Config.RingSize given: used in every mode
    RingModeChoice ringMode = RingModeChoice::Auto;  // Auto: see planRing
    std::string statusEndpoint = "tcp://127.0.0.1:5577";
    std::uint64_t statusIntervalMs = 1000;
    std::string logDir = "/var/log/pushcap";
    std::string user;  // drop privileges to this user after opening interfaces
    std::string stateDir = "/var/lib/pushcap";  // default RCLONE spools: StateDir/spool/<Desc>
    std::vector<TargetConfig> targets;  // Config.Target; see allTargets() for the collector's
    CollectorConfig collector;          // Config.Collector, or the osmo-pcap-server file's
    bool osmoFormat = false;            // `file` is an osmo-pcap-server file (--osmo-config)
    std::vector<std::string> notices;   // accepted-but-ignored FMADIO keys, to log once
};

// A lossless (offline) push needs no room for bursts, and a ring that stays in the CPU's cache
// lets the capture and every worker share each byte at cache speed: measured 2.4x faster than
// 256 MiB for a 4-target push (pushcap-bench push).
inline constexpr std::uint64_t OFFLINE_RING_BYTES = 4ULL << 20;

// Runs the file in the sandbox and validates it. Throws ConfigError listing every problem found.
PushConfig loadConfig(const std::string& path);

// Parses FMADIO's Split string ("--split-time 60e9", "--split-byte 1e9", or both).
// Throws ConfigError with `where` prefixed.
void parseSplit(const std::string& where, const std::string& split, TargetConfig& target);

// Parses a size or duration written in any way Lua prints numbers ("60e9", "60000000000.0").
bool parseCount(const std::string& text, std::uint64_t& value);

// True for "UNIT" or "UNIT mod N" (osmo-pcap's rotate-localtime).
bool validRotateLocaltime(const std::string& spec);

// The closest of `candidates` to `word` (for "did you mean"), or "" if none is close.
std::string closestWord(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace pushcap::supervisor
