// pushcapd: capture once, push to many targets. Thin main over pushcap::supervisor.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "router/ring_segment.hpp"
#include "supervisor/child_commands.hpp"
#include "supervisor/child_process.hpp"
#include "supervisor/config_check.hpp"
#include "supervisor/config_error.hpp"
#include "supervisor/supervisor.hpp"
#include "workers/slot_counters.hpp"

using namespace pushcap;
using namespace pushcap::supervisor;

namespace {

const char* const USAGE = R"(usage: pushcapd -c CONFIG [options] [--offline FILE...]

Captures packets once and pushes them, filtered and split into PCAP files, to every target of
CONFIG (a push_realtime.lua; FMADIO's format works unchanged). One worker process per target;
a crashed worker is restarted, the others never notice.

  -c, --config FILE         the Lua configuration (required)
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

int check(const PushConfig& config, const SupervisorOptions& options) {
    CheckInput in{options.offlineFiles,
                  options.interfaces.empty() ? config.interfaces : options.interfaces,
                  options.instance.empty() ? config.instance : options.instance};
    std::vector<std::string> problems = checkEnvironment(config, in);
    const std::string segment = router::segmentName(in.instance, "capture");
    std::printf("configuration %s\n  instance %s, ring %s (%llu MiB), status on %s, logs in %s\n",
                config.file.c_str(), in.instance.c_str(), segment.c_str(),
                (unsigned long long)(config.ringBytes >> 20),
                options.statusEndpoint.empty() ? config.statusEndpoint.c_str()
                                               : options.statusEndpoint.c_str(),
                config.logDir.c_str());
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
    for (const TargetConfig& t : config.targets) {
        std::vector<int> ids;
        try {
            ids = sourceIdsFor(t, in.interfaces);
        } catch (const std::exception&) {
            continue;  // already reported by checkEnvironment
        }
        std::printf("  target %d \"%s\": %s\n", t.index, t.desc.c_str(),
                    shellQuoted(worker.empty() ? "pushcap-worker" : worker,
                                workerArguments(t, segment, config.logDir, ids))
                        .c_str());
    }
    for (const std::string& n : config.notices)
        std::printf("  note: %s\n", n.c_str());
    if (!problems.empty()) {
        std::fprintf(stderr, "pushcapd: %s: %zu problem(s):\n", config.file.c_str(),
                     problems.size());
        for (const std::string& p : problems)
            std::fprintf(stderr, "  %s\n", p.c_str());
        return workers::EXIT_BAD_CONFIG;
    }
    std::printf("OK: %zu target(s) would run\n", config.targets.size());
    return workers::EXIT_OK;
}

}  // namespace

int main(int argc, char** argv) {
    SupervisorOptions options;
    bool checkOnly = false, daemonize = false, verbose = false, progress = true;
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
            if (!value(options.configPath))
                return usageError(a + " needs a file");
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
        } else if (a == "-D" || a == "--daemonize") {
            daemonize = true;
        } else if (a == "-v" || a == "--verbose") {
            verbose = true;
        } else {
            return usageError("unknown argument '" + a + "'");
        }
    }
    if (options.configPath.empty())
        return usageError("no configuration: give -c CONFIG");
    if (!options.offlineFiles.empty() && !options.interfaces.empty()) {
        return usageError("--offline and -i are exclusive: push stored files or capture live");
    }
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e pushcapd %^%l%$: %v");
    if (verbose)
        spdlog::set_level(spdlog::level::debug);
    try {
        PushConfig config = loadConfig(options.configPath);
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
