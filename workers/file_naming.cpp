#include "workers/file_naming.hpp"

#include <cstdio>
#include <ctime>

#include "workers/config_error.hpp"

namespace pushcap::workers {
namespace {

constexpr std::uint64_t NS = 1'000'000'000ULL;

std::string formatLocal(const char* format, std::uint64_t tsNs) {
    const std::time_t t = static_cast<std::time_t>(tsNs / NS);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buffer[256];
    const std::size_t n = std::strftime(buffer, sizeof buffer, format, &tm);
    return std::string(buffer, n);
}

}  // namespace

FileNamer::FileNamer(NamingConfig config) : m_config(std::move(config)) {
    if (m_config.path.empty())
        throw ConfigError("--path: must not be empty");
    if (m_config.mode == NameMode::Strftime && m_config.strftimeFormat.empty()) {
        throw ConfigError("--filename-strftime: empty format");
    }
    const std::string& p = m_config.path;
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) {
        m_directory = ".";
        m_filePrefix = p + "_";
    } else {
        m_directory = slash == 0 ? "/" : p.substr(0, slash);
        m_filePrefix = p.substr(slash + 1);
        if (!m_filePrefix.empty())
            m_filePrefix += "_";
    }
    // Part of the prefix, not of the name: targets sharing a directory (one per collector client)
    // then never take each other's .pending files for their own leftovers.
    if (m_config.mode == NameMode::Osmo)
        m_filePrefix += "trace-" + m_config.osmoSource + "-";
}

std::string FileNamer::name(std::uint64_t startNs, std::uint64_t endNs) const {
    const std::uint64_t sec = startNs / NS;
    const std::uint64_t sub = startNs % NS;
    char buffer[96];
    switch (m_config.mode) {
        case NameMode::EpochSecStartEnd:
            std::snprintf(buffer, sizeof buffer, "%llu-%llu", static_cast<unsigned long long>(sec),
                          static_cast<unsigned long long>(endNs / NS));
            return buffer;
        case NameMode::EpochSec:
            return std::to_string(sec);
        case NameMode::EpochMsec:
            return std::to_string(startNs / 1'000'000ULL);
        case NameMode::EpochUsec:
            return std::to_string(startNs / 1'000ULL);
        case NameMode::EpochNsec:
            return std::to_string(startNs);
        case NameMode::TstrHHMM:
            return formatLocal("%Y%m%d_%H%M", startNs);
        case NameMode::TstrHHMMSS:
            return formatLocal("%Y%m%d_%H%M%S", startNs);
        case NameMode::TstrHHMMSS_TZ: {
            const std::time_t t = static_cast<std::time_t>(sec);
            std::tm tm{};
            localtime_r(&t, &tm);
            const long offset = tm.tm_gmtoff;
            const long a = offset < 0 ? -offset : offset;
            std::snprintf(buffer, sizeof buffer, "%s%c%02ld:%02ld",
                          formatLocal("%Y-%m-%d_%H:%M:%S", startNs).c_str(), offset < 0 ? '-' : '+',
                          a / 3600, (a % 3600) / 60);
            return buffer;
        }
        case NameMode::TstrHHMMSS_NS:
            std::snprintf(buffer, sizeof buffer, "%s.%03u.%03u.%03u",
                          formatLocal("%Y%m%d_%H%M%S", startNs).c_str(),
                          static_cast<unsigned>(sub / 1'000'000),
                          static_cast<unsigned>(sub / 1000 % 1000),
                          static_cast<unsigned>(sub % 1000));
            return buffer;
        case NameMode::TstrHHMMSS_SUB:
            std::snprintf(buffer, sizeof buffer, "%s.%09u",
                          formatLocal("%Y%m%d_%H-%M-%S", startNs).c_str(),
                          static_cast<unsigned>(sub));
            return buffer;
        case NameMode::Strftime:
            return formatLocal(m_config.strftimeFormat.c_str(), startNs);
        case NameMode::Osmo:
            return formatLocal("%Y%m%d_%H%M%S", startNs);  // "trace-<source>-" is in the prefix
    }
    return std::to_string(sec);
}

std::string FileNamer::stem(std::uint64_t startNs, std::uint64_t endNs) const {
    const std::string dir = m_directory == "/" ? "" : m_directory;
    return dir + "/" + m_filePrefix + name(startNs, endNs);
}

}  // namespace pushcap::workers
