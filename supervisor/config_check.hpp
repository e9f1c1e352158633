// `pushcapd --check`: everything that can be known before starting, reported at once.
#pragma once

#include <string>
#include <vector>

#include "supervisor/config.hpp"

namespace pushcap::supervisor {

struct CheckInput {
    std::vector<std::string> offlineFiles;
    std::vector<std::string> interfaces;  // effective (command line or config)
    std::string instance;
};

// Problems that would stop a run: unreadable inputs, missing interfaces, Paths that cannot be
// created or written, sources that do not exist. Empty when all is well.
std::vector<std::string> checkEnvironment(const PushConfig& config, const CheckInput& input);

// Problems with what the capture would read: no source at all, a collector with --offline,
// a client named like an interface. Checked by --check and before a run.
std::vector<std::string> captureSourceProblems(const PushConfig& config,
                                               const std::vector<std::string>& offlineFiles,
                                               const std::vector<std::string>& interfaces);

// The directory a target writes to: Path itself if it ends in '/', else its parent.
std::string targetDirectory(const std::string& path);

}  // namespace pushcap::supervisor
