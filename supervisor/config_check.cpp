#include "supervisor/config_check.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "supervisor/child_commands.hpp"
#include "supervisor/collector_outputs.hpp"
#include "supervisor/config_error.hpp"
#include "workers/rclone_remote.hpp"

namespace fs = std::filesystem;

namespace pushcap::supervisor {
namespace {

// A directory is usable if it exists and is writable, or if its nearest existing ancestor is a
// writable directory (pushcap creates the rest). Nothing is created by the check.
std::string directoryProblem(const std::string& dir) {
    fs::path p = fs::absolute(dir);
    std::error_code ec;
    while (!fs::exists(p, ec)) {
        if (!p.has_parent_path() || p.parent_path() == p)
            return "no existing parent directory";
        p = p.parent_path();
    }
    if (!fs::is_directory(p, ec))
        return p.string() + " exists and is not a directory";
    if (::access(p.c_str(), W_OK | X_OK) != 0)
        return p.string() + ": " + std::strerror(errno);
    return "";
}

}  // namespace

std::string targetDirectory(const std::string& path) {
    if (!path.empty() && path.back() == '/')
        return path;
    fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "." : parent.string();
}

std::vector<std::string> captureSourceProblems(const PushConfig& config,
                                               const std::vector<std::string>& offlineFiles,
                                               const std::vector<std::string>& interfaces) {
    std::vector<std::string> problems;
    const bool collector = config.collector.enabled;
    const std::string collectorKey =
        config.osmoFormat ? "the osmo-pcap-server configuration" : "Config.Collector";
    if (collector && !offlineFiles.empty()) {
        problems.push_back(collectorKey +
                           ": a collector receives live traffic and cannot run with --offline "
                           "(push stored files with a configuration without a collector)");
    }
    if (offlineFiles.empty() && interfaces.empty() && !collector) {
        problems.push_back(
            "no capture source: give -i IFACE, --offline FILE..., or set Config.Interface or "
            "Config.Collector");
    }
    if (collector) {
        for (const CollectorClient& c : config.collector.clients) {
            if (std::find(interfaces.begin(), interfaces.end(), c.name) != interfaces.end()) {
                problems.push_back(collectorKey + ": client \"" + c.name +
                                   "\" has the name of a captured interface; Source could not "
                                   "tell them apart: rename the client");
            }
        }
    }
    return problems;
}

std::vector<std::string> checkEnvironment(const PushConfig& config, const CheckInput& input) {
    std::vector<std::string> problems;
    for (const std::string& f : input.offlineFiles) {
        if (::access(f.c_str(), R_OK) != 0)
            problems.push_back("--offline " + f + ": " + std::strerror(errno));
    }
    for (const std::string& i : input.interfaces) {
        if (!fs::exists("/sys/class/net/" + i))
            problems.push_back("interface " + i + ": no such network interface");
    }
    for (std::string& p : captureSourceProblems(config, input.offlineFiles, input.interfaces))
        problems.push_back(std::move(p));
    for (std::string& p : collectorFileProblems(config.collector))
        problems.push_back(std::move(p));
    const std::vector<std::string> sources = sourceNames(input.interfaces, config.collector);
    for (const TargetConfig& t : allTargets(config)) {
        const std::string where = t.label() + ": ";
        if (t.mode == TargetMode::Rclone) {
            if (std::string why = directoryProblem(t.spoolDir); !why.empty()) {
                problems.push_back(where + "SpoolDir: " + t.spoolDir +
                                   ": cannot create or write: " + why);
            }
            const workers::RcloneSettings rclone{t.rclonePath.empty() ? "rclone" : t.rclonePath,
                                                 t.rcloneConfig};
            if (std::string why = workers::rcloneProblem(rclone, t.path); !why.empty())
                problems.push_back(where + "Path: " + t.path + ": " + why);
        } else if (t.mode == TargetMode::Remote) {
            // A network target: nothing on disk to check; the worker reports connection problems.
        } else if (std::string why = directoryProblem(targetDirectory(t.path)); !why.empty()) {
            problems.push_back(where + "Path: " + t.path + ": cannot create or write: " + why);
        }
        if (!t.completedPath.empty()) {
            if (std::string why = directoryProblem(t.completedPath); !why.empty()) {
                problems.push_back(where + "CompletedPath: " + t.completedPath +
                                   ": cannot create or write: " + why);
            }
        }
        try {
            sourceIdsFor(t, sources);
        } catch (const ConfigError& e) {
            problems.push_back(e.what());
        }
    }
    if (std::string why = directoryProblem(config.logDir); !why.empty()) {
        problems.push_back("Config.LogDir: " + config.logDir + ": " + why);
    }
    return problems;
}

}  // namespace pushcap::supervisor
