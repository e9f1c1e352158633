// Config.Collector in the Lua configuration: read and validated into a CollectorConfig.
#pragma once

#include <vector>

#include "supervisor/collector_config.hpp"

namespace pushcap::supervisor {

class LuaReader;
struct TargetConfig;

// Reads the table at stack index `idx`. Every problem goes to `r`, naming the key and value.
CollectorConfig readCollector(LuaReader& r, int idx);

// Problems between the collector and Config.Target: a target whose Desc is a client's name.
void checkCollectorTargets(LuaReader& r, const CollectorConfig& collector,
                           const std::vector<TargetConfig>& targets);

}  // namespace pushcap::supervisor
