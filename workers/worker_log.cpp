#include "workers/worker_log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "workers/clocks.hpp"
#include "workers/config_error.hpp"
#include "workers/file_completion.hpp"

namespace pushcap::workers {
std::string formatTimestamp(std::uint64_t unixNs) {
    const std::time_t t = static_cast<std::time_t>(unixNs / 1'000'000'000ULL);
    std::tm tm{};
    localtime_r(&t, &tm);
    char text[64];
    const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
    std::snprintf(text + n, sizeof text - n, ".%09llu",
                  static_cast<unsigned long long>(unixNs % 1'000'000'000ULL));
    return text;
}

WorkerLog::WorkerLog(const std::string& target, const std::string& logDir, bool quietConsole)
    : m_startNs(wallNs()) {
    // Several workers in one process only happen in tests: the names must stay unique.
    static int instance = 0;
    const std::string id = target + "#" + std::to_string(++instance);
    auto stderrSink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    m_console = std::make_shared<spdlog::logger>("worker:" + id, stderrSink);
    m_console->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] pushcap-worker[" + target + "]: %v");
    // Quiet only with a log file: then the file holds every line and stderr (the journal under
    // pushcapd) only what needs attention.
    if (quietConsole && !logDir.empty())
        m_console->set_level(spdlog::level::warn);
    if (!logDir.empty()) {
        if (const int rc = makeDirectories(logDir); rc != 0) {
            throw ConfigError("target '" + target + "': cannot create --log-dir " + logDir);
        }
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M", &tm);
        m_filePath = logDir + "/push_" + target + "_" + stamp;
        try {
            auto fileSink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(m_filePath, false);
            m_file = std::make_shared<spdlog::logger>("file:" + id, fileSink);
            m_file->set_pattern("%v");
            m_file->flush_on(spdlog::level::info);
        } catch (const spdlog::spdlog_ex& e) {
            throw ConfigError("target '" + target + "': cannot open log file " + m_filePath + ": " +
                              e.what());
        }
    }
}

std::string WorkerLog::prefix() const {
    const std::uint64_t now = wallNs();
    const double hours = static_cast<double>(now - m_startNs) / 3.6e12;
    const std::time_t t = static_cast<std::time_t>(now / 1'000'000'000ULL);
    std::tm tm{};
    localtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    char text[96];
    std::snprintf(text, sizeof text, "[%.3f H][%s] ", hours, stamp);
    return text;
}

void WorkerLog::info(const std::string& message) {
    m_console->info(message);
    if (m_file)
        m_file->info(prefix() + message);
}

void WorkerLog::warn(const std::string& message) {
    m_console->warn(message);
    if (m_file)
        m_file->warn(prefix() + "WARNING " + message);
}

void WorkerLog::error(const std::string& message) {
    m_console->error(message);
    if (m_file)
        m_file->error(prefix() + "ERROR " + message);
}

void WorkerLog::progress(const std::string& file, std::uint64_t totalBytes, double gbps,
                         const char* note) {
    char text[160];
    std::snprintf(text, sizeof text, " : Total Bytes %.3f GB Speed: %.3fGbps%s%s",
                  static_cast<double>(totalBytes) / 1e9, gbps, note ? " : " : "", note ? note : "");
    const std::string line = prefix() + file + text;
    if (m_file) {
        m_file->info(line);
    } else {
        m_console->debug(line);
    }
}

}  // namespace pushcap::workers
