// When a target starts a new file. Rules combine; each is optional:
//   - split-time NS: files hold packet times in [k*NS, (k+1)*NS) since the UTC epoch; a packet
//     time that jumps back by more than a period also starts a new file;
//   - split-byte N and max-file-size N: a new file before a packet that would take the file past
//     N bytes (a single larger packet still gets a file of its own);
//   - rotate-localtime: periods of local time (localtime_rotation.hpp).
// needsNewFile() is on the per-packet path: a few compares, nothing else.
#pragma once

#include <cstdint>
#include <optional>

#include "workers/localtime_rotation.hpp"

namespace pushcap::workers {

struct SplitConfig {
    std::uint64_t splitTimeNs = 0;   // 0: off
    std::uint64_t splitBytes = 0;    // 0: off
    std::uint64_t maxFileBytes = 0;  // 0: off
    std::optional<LocaltimeRotation> localtime;
};

class SplitPolicy {
  public:
    explicit SplitPolicy(SplitConfig config);

    bool hasTimeRule() const { return m_config.splitTimeNs != 0 || m_config.localtime.has_value(); }
    std::uint64_t splitTimeNs() const { return m_config.splitTimeNs; }

    // `fileBytes` includes the 24-byte PCAP header; `period` is the open file's.
    bool needsNewFile(std::uint64_t fileBytes, std::uint64_t filePackets, const Period& period,
                      std::uint64_t tsNs, std::uint32_t recordBytes) const {
        if (filePackets == 0)
            return false;
        if (m_byteLimit != 0 && fileBytes + recordBytes > m_byteLimit)
            return true;
        if (period.endNs != 0) {
            if (tsNs >= period.endNs)
                return true;
            const std::uint64_t length = period.endNs - period.startNs;
            if (tsNs + length < period.startNs)
                return true;
        }
        return false;
    }

    // The time period of a file whose first packet is at `tsNs` ({0,0}: no time rule).
    Period periodFor(std::uint64_t tsNs) const;

  private:
    SplitConfig m_config;
    std::uint64_t m_byteLimit = 0;
};

}  // namespace pushcap::workers
