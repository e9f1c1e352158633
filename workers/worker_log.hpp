// A target's log: FMADIO's per-target file `push_<Desc>_YYYYMMDD_HHMM` in the log directory, with
// its progress-line format, plus stderr for the supervisor. Called from the batch loop and
// control paths only, never per packet.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <string>

namespace pushcap::workers {

class WorkerLog {
  public:
    // `logDir` empty: stderr only. Throws ConfigError if the file cannot be created.
    WorkerLog(const std::string& target, const std::string& logDir, bool quietConsole = false);

    const std::string& filePath() const { return m_filePath; }

    void info(const std::string& message);
    void warn(const std::string& message);
    void error(const std::string& message);

    // `[0.001 H][2021-05-24 18:51:04] <file> : Total Bytes 0.080 GB Speed: 0.256Gbps`
    void progress(const std::string& file, std::uint64_t totalBytes, double gbps,
                  const char* note = nullptr);

    // "[h H][time] " for the current moment.
    std::string prefix() const;

  private:
    std::shared_ptr<spdlog::logger> m_file;     // raw FMADIO lines
    std::shared_ptr<spdlog::logger> m_console;  // stderr, with level
    std::string m_filePath;
    std::uint64_t m_startNs;
};

// "2021-05-24 18:51:04.123456789" in local time.
std::string formatTimestamp(std::uint64_t unixNs);

}  // namespace pushcap::workers
