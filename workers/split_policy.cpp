#include "workers/split_policy.hpp"

#include <algorithm>

namespace pushcap::workers {

SplitPolicy::SplitPolicy(SplitConfig config) : m_config(std::move(config)) {
    const std::uint64_t a = m_config.splitBytes;
    const std::uint64_t b = m_config.maxFileBytes;
    m_byteLimit = a == 0 ? b : (b == 0 ? a : std::min(a, b));
}

Period SplitPolicy::periodFor(std::uint64_t tsNs) const {
    Period p;
    if (m_config.splitTimeNs != 0) {
        p.startNs = tsNs - tsNs % m_config.splitTimeNs;
        p.endNs = p.startNs + m_config.splitTimeNs;
    }
    if (m_config.localtime) {
        const Period local = m_config.localtime->periodFor(tsNs);
        if (p.endNs == 0) {
            p = local;
        } else {
            // Both rules: the file ends at whichever boundary comes first.
            p.startNs = std::max(p.startNs, local.startNs);
            p.endNs = std::min(p.endNs, local.endNs);
        }
    }
    return p;
}

}  // namespace pushcap::workers
