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

// Arguments for the capture process: stored files (offline) or interfaces (live).
std::vector<std::string> captureArguments(const PushConfig& config, const std::string& segment,
                                          const std::vector<std::string>& files,
                                          const std::vector<std::string>& interfaces,
                                          bool quiet = false);

// Maps a target's Source names to ring source ids: an interface name gives its position among
// `interfaces`; a number is taken as an id. Throws ConfigError naming the target for others.
std::vector<int> sourceIdsFor(const TargetConfig& target,
                              const std::vector<std::string>& interfaces);

// A command line as a shell would show it (for --check and logs).
std::string shellQuoted(const std::string& program, const std::vector<std::string>& args);

}  // namespace pushcap::supervisor
