#include "supervisor/collector_outputs.hpp"

namespace pushcap::supervisor {

TargetConfig clientOutputTarget(const CollectorOutput& output, const CollectorClient& client) {
    TargetConfig t;
    t.index = 0;
    t.desc = client.name;
    t.mode = TargetMode::File;
    // A Path ending in '/' is the directory with no file-name prefix: <BasePath>/trace-<name>-...
    std::string dir = output.basePath;
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    t.path = dir == "/" ? dir : dir + "/";
    t.fileNameFlag = "--filename-osmo";
    t.completedPath = output.completedPath;
    t.maxFileSize = output.maxFileSize;
    t.rotateLocaltime = output.rotateLocaltime;
    t.idleGraceMs = output.idleGraceMs;
    t.fileMode = output.fileMode;
    // osmo-pcap-server has no such setting: its outputs get the safe default.
    t.fsync = true;
    t.delivery = output.delivery;
    t.sources = {client.name};
    t.collectorClient = client.name;
    return t;
}

std::vector<TargetConfig> allTargets(const PushConfig& config) {
    std::vector<TargetConfig> all = config.targets;
    const CollectorConfig& c = config.collector;
    if (c.enabled && !c.output.basePath.empty()) {
        for (const CollectorClient& client : c.clients) {
            if (client.store)
                all.push_back(clientOutputTarget(c.output, client));
        }
    }
    return all;
}

}  // namespace pushcap::supervisor
