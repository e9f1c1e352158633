// File names: every FMADIO FileName mode, strftime, and osmo-pcap's trace-<source>-<time>.
// `Path` is a directory plus a prefix, joined to the name with '_' unless it ends in '/'.
// Time-string modes use local time (TZ) at the file's start time T; `_TZ` prints the offset in
// force at T. Called once per file, never per packet.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::workers {

enum class NameMode {
    EpochSecStartEnd,
    EpochSec,
    EpochMsec,
    EpochUsec,
    EpochNsec,
    TstrHHMM,
    TstrHHMMSS,
    TstrHHMMSS_TZ,
    TstrHHMMSS_NS,
    TstrHHMMSS_SUB,
    Strftime,
    Osmo,
};

struct NamingConfig {
    NameMode mode = NameMode::TstrHHMMSS;
    std::string strftimeFormat;  // NameMode::Strftime
    std::string osmoSource;      // NameMode::Osmo: the client/source name
    std::string path;            // directory + prefix
    std::string suffix = ".pcap";
};

class FileNamer {
  public:
    explicit FileNamer(NamingConfig config);

    // The name part for a file starting at `startNs` and (for start-end names) ending at `endNs`.
    std::string name(std::uint64_t startNs, std::uint64_t endNs) const;
    // Full path without suffix: directory + prefix + joiner + name. The sink adds a clash counter
    // and then the suffix.
    std::string stem(std::uint64_t startNs, std::uint64_t endNs) const;

    const std::string& suffix() const { return m_config.suffix; }
    // Directory part of Path ("." if none) and the file-name prefix every file of this target
    // starts with (used to find this target's leftover .pending files).
    const std::string& directory() const { return m_directory; }
    const std::string& filePrefix() const { return m_filePrefix; }

  private:
    NamingConfig m_config;
    std::string m_directory;
    std::string m_filePrefix;
};

}  // namespace pushcap::workers
