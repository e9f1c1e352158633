// The command lines pushcapd gives its children, built from the validated configuration.
// The children's CLIs are the contract: pushcap-worker --help, pushcap-capture --help.
#pragma once

#include <string>
#include <vector>

#include "supervisor/config.hpp"

namespace pushcap::supervisor {

// Arguments (without argv[0]) for the worker of `target` reading ring `segment`.
// `sourceIds` are the ring source ids the target keeps (empty: all).
std::vector<std::string> workerArguments(const TargetConfig& target, const std::string& segment,
                                         const std::string& logDir,
                                         const std::vector<int>& sourceIds);

// Arguments for the worker of a collector client's default output (osmo-pcap-server's files):
// the client's format, a file per connection, trace-<name>-<time> names.
std::vector<std::string> clientOutputArguments(const TargetConfig& target,
                                               const std::string& segment,
                                               const std::string& logDir,
                                               const std::vector<int>& sourceIds);

// Arguments for the capture process: stored files (offline), or interfaces and the collector
// (live).
std::vector<std::string> captureArguments(const PushConfig& config, const std::string& segment,
                                          const std::vector<std::string>& files,
                                          const std::vector<std::string>& interfaces,
                                          bool quiet = false);

// The ring's source names in source-id order: the interfaces, then the collector's clients.
std::vector<std::string> sourceNames(const std::vector<std::string>& interfaces,
                                     const CollectorConfig& collector);

// Maps a target's Source names to ring source ids: a name gives its position among `sources`
// (see sourceNames); a number is taken as an id. Throws ConfigError naming the target, with the
// closest known name, for others.
std::vector<int> sourceIdsFor(const TargetConfig& target, const std::vector<std::string>& sources);

// A command line as a shell would show it (for --check and logs).
std::string shellQuoted(const std::string& program, const std::vector<std::string>& args);

}  // namespace pushcap::supervisor
