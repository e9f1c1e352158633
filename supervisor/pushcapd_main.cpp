// pushcapd: capture once, push to many targets. Thin main over pushcap::supervisor.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "router/ring_segment.hpp"
#include "supervisor/child_commands.hpp"
#include "supervisor/child_process.hpp"
#include "supervisor/collector_outputs.hpp"
#include "supervisor/config_check.hpp"
#include "supervisor/config_error.hpp"
#include "supervisor/delivery_policy.hpp"
#include "supervisor/osmo_config.hpp"
#include "supervisor/supervisor.hpp"
#include "workers/slot_counters.hpp"

using namespace pushcap;
using namespace pushcap::supervisor;

namespace {

const char* const USAGE = R"(usage: pushcapd -c CONFIG [options] [--offline FILE...]
       pushcapd --osmo-config OSMO_PCAP_SERVER_CFG [options]

Captures packets once and pushes them, filtered and split into PCAP files, to every target of
CONFIG (a push_realtime.lua; FMADIO's format works unchanged). One worker process per target;
a crashed worker is restarted, the others never notice.

  -c, --config FILE         the Lua configuration
      --osmo-config FILE    instead of -c: an osmo-pcap-server configuration (VTY syntax), run
                            as the same collector with the same per-client trace files
                            (docs/config.md); with --instance, --status, --log-dir, -D, --check
      --check               validate everything (Lua, keys, filters, paths, sources), print what
                            would run, and exit: 0 if it would run, 78 if not
      --offline FILE...     push stored captures (pcap/pcapng) through every target, lossless,
                            and exit when all files are complete (0) or a target failed (1)
  -i, --interface IFACE     capture from IFACE (repeatable; overrides Config.Interface)
      --instance NAME       instance name (shared-memory and log names; default Config.Instance)
      --status ENDPOINT     ZeroMQ status endpoint (default Config.StatusEndpoint,
                            tcp://127.0.0.1:5577)
      --log-dir DIR         per-target log files (default Config.LogDir)
      --no-progress         no progress line in --offline mode
      --status-linger MS    --offline: the longest pushcapd stays after the push, until every
                            subscriber it has seen has fetched what it missed from the replay
                            (default 5000; 0: exit at once). Not needed for a short push: a
                            subscriber started first gets every message, live or by replay
  -D, --daemonize           run in the background, logging to LOG_DIR/pushcapd.log
  -v, --verbose             debug logging
  -h, --help                this text
  -V, --version             the version

Signals: SIGTERM/SIGINT stop cleanly (capture stops, workers complete their files);
SIGHUP reloads CONFIG (unchanged targets keep running; a bad file is rejected, the old one stays).
Exit codes: 0 success, 1 runtime failure, 2 usage, 78 configuration error.
Watch it with: pushcap-status [--endpoint ENDPOINT]
)";

int usageError(const std::string& message) {
    std::fprintf(stderr, "pushcapd: %s\n(see pushcapd --help)\n", message.c_str());
    return workers::EXIT_USAGE;
}

// One line: where the collector listens and whom it accepts.
std::string describeCollector(const CollectorConfig& c) {
    std::string text = "collector: listening on";
    for (const std::string& l : c.listen)
        text += " " + l;
    text += "; max-snaplen " + std::to_string(c.maxSnaplen) + "; clients:";
    for (const CollectorClient& client : c.clients) {
        text += " " + client.name + "=" + client.address;
        if (!client.store || client.tls)
            text += std::string(" (") + (client.store ? "" : "no-store") +
                    (!client.store && client.tls ? ", " : "") + (client.tls ? "tls" : "") + ")";
    }
    if (!c.output.basePath.empty())
        text += "; trace files in " + c.output.basePath;
    return text;
}

// What a target's delivery means for it in this ring, for --check.
std::string describeDelivery(router::Delivery delivery, router::RingMode mode) {
    if (delivery == router::Delivery::BestEffort)
        return "best-effort (never waited for: if it falls a ring behind, it skips ahead and "
               "counts what it lost)";
    return mode == router::RingMode::Backpressured
               ? "lossless (while it has no room, the collector stops reading its sockets)"
               : "lossless (the capture waits for it when it has no room)";
}

int check(const PushConfig& config, const SupervisorOptions& options) {
    CheckInput in{options.offlineFiles,
                  options.interfaces.empty() ? config.interfaces : options.interfaces,
                  options.instance.empty() ? config.instance : options.instance};
    std::vector<std::string> problems = checkEnvironment(config, in);
    const std::string segment = router::segmentName(in.instance, "capture");
    const RingPlan ring = planRing(config.ringMode, !in.offlineFiles.empty(), in.interfaces);
    const std::uint64_t ringBytes =
        ringCapacity(ring.mode, config.ringBytes, config.ringBytesSet, OFFLINE_RING_BYTES);
    std::printf(
        "configuration %s\n  instance %s, ring %s (%llu MiB, %s), status on %s, logs in %s\n",
        config.file.c_str(), in.instance.c_str(), segment.c_str(),
        (unsigned long long)(ringBytes >> 20), ringModeName(ring.mode),
        options.statusEndpoint.empty() ? config.statusEndpoint.c_str()
                                       : options.statusEndpoint.c_str(),
        config.logDir.c_str());
    if (config.collector.enabled)
        std::printf("  %s\n", describeCollector(config.collector).c_str());
    std::string worker;
    try {
        worker = siblingProgram("pushcap-worker");
        std::printf("  capture: %s\n",
                    shellQuoted(siblingProgram("pushcap-capture"),
                                captureArguments(config, segment, in.offlineFiles, in.interfaces))
                        .c_str());
    } catch (const std::exception& e) {
        problems.push_back(e.what());
    }
    const std::vector<std::string> sources = sourceNames(in.interfaces, config.collector);
    const std::vector<TargetConfig> targets = allTargets(config);
    std::vector<std::string> deliveryNotices;
    for (const TargetConfig& t : targets) {
        std::vector<int> ids;
        try {
            ids = sourceIdsFor(t, sources);
        } catch (const std::exception&) {
            continue;  // already reported by checkEnvironment
        }
        const std::string name = t.collectorClient.empty()
                                     ? "target " + std::to_string(t.index) + " \"" + t.desc + "\""
                                     : "client \"" + t.desc + "\" output";
        std::printf("  %s: %s\n", name.c_str(),
                    shellQuoted(worker.empty() ? "pushcap-worker" : worker,
                                workerArguments(t, segment, config.logDir, ids))
                        .c_str());
        const DeliveryDecision d = resolveDelivery(t.delivery, t.label(), ring);
        std::printf("    delivery: %s\n", describeDelivery(d.delivery, ring.mode).c_str());
        if (!d.notice.empty())
            deliveryNotices.push_back(d.notice);
    }
    for (const std::string& n : config.notices)
        std::printf("  note: %s\n", n.c_str());
    for (const std::string& n : deliveryNotices)
        std::printf("  note: %s\n", n.c_str());
    if (!problems.empty()) {
        std::fprintf(stderr, "pushcapd: %s: %zu problem(s):\n", config.file.c_str(),
                     problems.size());
        for (const std::string& p : problems)
            std::fprintf(stderr, "  %s\n", p.c_str());
        return workers::EXIT_BAD_CONFIG;
    }
    std::printf("OK: %zu target(s) would run\n", targets.size());
    return workers::EXIT_OK;
}

}  // namespace

int main(int argc, char** argv) {
    SupervisorOptions options;
    bool checkOnly = false, daemonize = false, verbose = false, progress = true, osmo = false;
    std::string luaConfig;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](std::string& out) -> bool {
            if (i + 1 >= argc)
                return false;
            out = argv[++i];
            return true;
        };
        std::string v;
        if (a == "-h" || a == "--help") {
            std::fputs(USAGE, stdout);
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::printf("pushcapd %s\n", PUSHCAP_VERSION);
            return 0;
        } else if (a == "-c" || a == "--config") {
            if (!value(luaConfig))
                return usageError(a + " needs a file");
        } else if (a == "--osmo-config") {
            if (!value(options.configPath))
                return usageError(a + " needs an osmo-pcap-server configuration file");
            osmo = true;
        } else if (a == "--check") {
            checkOnly = true;
        } else if (a == "--offline") {
            while (i + 1 < argc && argv[i + 1][0] != '-')
                options.offlineFiles.push_back(argv[++i]);
            if (options.offlineFiles.empty())
                return usageError("--offline needs at least one file");
        } else if (a == "-i" || a == "--interface") {
            if (!value(v))
                return usageError(a + " needs an interface name");
            options.interfaces.push_back(v);
        } else if (a == "--instance") {
            if (!value(options.instance))
                return usageError("--instance needs a name");
        } else if (a == "--status") {
            if (!value(options.statusEndpoint))
                return usageError("--status needs an endpoint");
        } else if (a == "--log-dir") {
            if (!value(options.logDir))
                return usageError("--log-dir needs a directory");
        } else if (a == "--no-progress") {
            progress = false;
        } else if (a == "--status-linger") {
            char* end = nullptr;
            const long ms = value(v) ? std::strtol(v.c_str(), &end, 10) : -1;
            if (end == nullptr || *end != '\0' || ms < 0 || ms > 600'000)
                return usageError("--status-linger needs milliseconds (0..600000), got '" + v +
                                  "'");
            options.statusLinger = std::chrono::milliseconds(ms);
        } else if (a == "-D" || a == "--daemonize") {
            daemonize = true;
        } else if (a == "-v" || a == "--verbose") {
            verbose = true;
        } else {
            return usageError("unknown argument '" + a + "'");
        }
    }
    if (osmo && !luaConfig.empty())
        return usageError("give -c CONFIG or --osmo-config FILE, not both");
    if (osmo && (!options.offlineFiles.empty() || !options.interfaces.empty())) {
        return usageError(
            "--osmo-config runs a collector (live): --offline and -i do not apply (use -c CONFIG "
            "with Config.Collector to combine a collector with interfaces)");
    }
    if (!osmo)
        options.configPath = luaConfig;
    if (options.configPath.empty())
        return usageError("no configuration: give -c CONFIG or --osmo-config FILE");
    if (!options.offlineFiles.empty() && !options.interfaces.empty()) {
        return usageError("--offline and -i are exclusive: push stored files or capture live");
    }
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e pushcapd %^%l%$: %v");
    if (verbose)
        spdlog::set_level(spdlog::level::debug);
    try {
        PushConfig config =
            osmo ? loadOsmoConfig(options.configPath) : loadConfig(options.configPath);
        if (!options.logDir.empty())
            config.logDir = options.logDir;
        if (checkOnly)
            return check(config, options);
        std::filesystem::create_directories(options.logDir.empty() ? config.logDir
                                                                   : options.logDir);
        if (daemonize) {
            if (::daemon(1, 0) != 0)
                throw std::runtime_error(std::string("daemon: ") + std::strerror(errno));
            auto file = spdlog::basic_logger_mt("pushcapd", config.logDir + "/pushcapd.log");
            spdlog::set_default_logger(file);
            spdlog::flush_every(std::chrono::seconds(1));
        }
        options.showProgress = progress && !daemonize && ::isatty(2);
        // The progress line is the interface then; child start/stop chatter would break it up.
        if (options.showProgress && !verbose)
            spdlog::set_level(spdlog::level::warn);
        Supervisor supervisor(options, config);
        return supervisor.run();
    } catch (const ConfigError& e) {
        spdlog::error("{}", e.what());
        return workers::EXIT_BAD_CONFIG;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return workers::EXIT_RUNTIME_ERROR;
    }
}
