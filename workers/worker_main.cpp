// pushcap-worker: one push target. Thin over pushcap::workers; see worker_config.cpp for the
// command line and slot_counters.hpp for the exit codes the supervisor acts on.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "router/ring_error.hpp"
#include "workers/config_error.hpp"
#include "workers/slot_counters.hpp"
#include "workers/worker.hpp"
#include "workers/worker_config.hpp"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_newFile{false};

void onSignal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

void onNewFile(int) {
    g_newFile.store(true, std::memory_order_relaxed);
}

void installSignals() {
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a futex wait returns at once
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sa.sa_handler = onNewFile;
    sigaction(SIGUSR1, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace pushcap::workers;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (const std::string& a : args) {
        if (a == "--help" || a == "-h") {
            std::fputs(workerUsage().c_str(), stdout);
            return EXIT_OK;
        }
    }
    std::string target = "?";
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--name")
            target = args[i + 1];
    }
    try {
        const WorkerConfig config = parseWorkerArgs(args);
        if (config.check) {
            Worker::check(config);
            std::fprintf(stderr, "pushcap-worker[%s]: configuration OK\n", target.c_str());
            return EXIT_OK;
        }
        installSignals();
        Worker worker(config);
        return worker.run(g_stop, &g_newFile);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "pushcap-worker[%s]: %s\n%s", target.c_str(), e.what(),
                     workerUsage().c_str());
        return EXIT_USAGE;
    } catch (const ConfigError& e) {
        const std::string message = e.what();
        const std::string prefix = "target '" + target + "'";
        std::fprintf(stderr, "pushcap-worker[%s]: configuration error: %s%s\n", target.c_str(),
                     message.rfind(prefix, 0) == 0 ? "" : (prefix + ": ").c_str(), message.c_str());
        return EXIT_BAD_CONFIG;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pushcap-worker[%s]: error: %s\n", target.c_str(), e.what());
        return EXIT_RUNTIME_ERROR;
    }
}
