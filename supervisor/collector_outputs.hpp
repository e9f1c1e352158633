// osmo-pcap-server's default output as pushcap targets: every client that stores
// (Collector.Output set, Store = true) gets a File target named after it, writing
// <BasePath>/trace-<name>-YYYYMMDD_HHMMSS.pcap from that client's source only. They run,
// restart, reload and report like the targets of Config.Target.
#pragma once

#include <vector>

#include "supervisor/config.hpp"

namespace pushcap::supervisor {

TargetConfig clientOutputTarget(const CollectorOutput& output, const CollectorClient& client);

// Config.Target, then the clients' default outputs.
std::vector<TargetConfig> allTargets(const PushConfig& config);

}  // namespace pushcap::supervisor
