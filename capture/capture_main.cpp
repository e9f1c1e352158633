// pushcap-capture: thin main over pushcap::capture (see capture/capture_run.hpp).
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "capture/capture_run.hpp"
#include "workers/slot_counters.hpp"

int main(int argc, char** argv) {
    auto logger = spdlog::stderr_logger_mt("pushcap-capture");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l pushcap-capture[%P]: %v");
    spdlog::set_default_logger(logger);
    pushcap::capture::CaptureOptions options;
    try {
        if (!pushcap::capture::parseCaptureArgs(argc, argv, options)) {
            std::fputs(pushcap::capture::captureUsage(), stdout);
            return pushcap::workers::EXIT_OK;
        }
    } catch (const pushcap::capture::UsageError& e) {
        std::fprintf(stderr, "pushcap-capture: %s\n", e.what());
        return pushcap::workers::EXIT_USAGE;
    }
    return pushcap::capture::runCapture(options);
}
