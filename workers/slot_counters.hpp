// What a worker keeps in the application part of its ring slot's counters
// (router::ConsumerCommit::counters, committed with each batch), so that status survives worker
// restarts. Shared contract between pushcap-worker (writes) and pushcapd (reads).
#pragma once

#include <cstdint>

#include "router/ring_layout.hpp"

namespace pushcap::workers {

enum WorkerCounter : std::uint32_t {
    WORKER_PACKETS_MATCHED = router::COUNTER_FIRST_APP + 0,
    WORKER_BYTES_WRITTEN = router::COUNTER_FIRST_APP + 1,  // PCAP bytes in completed + open files
    WORKER_FILES_COMPLETED = router::COUNTER_FIRST_APP + 2,
    WORKER_WRITE_ERRORS = router::COUNTER_FIRST_APP + 3,
    WORKER_PACKETS_WRITTEN = router::COUNTER_FIRST_APP + 4,
};

// Exit codes of pushcap-worker and pushcap-capture that the supervisor acts on.
inline constexpr int EXIT_OK = 0;
inline constexpr int EXIT_RUNTIME_ERROR = 1;   // retried with backoff
inline constexpr int EXIT_USAGE = 2;           // bad command line: permanent
inline constexpr int EXIT_INPUT_DAMAGED = 65;  // EX_DATAERR: a stored capture is truncated or
                                               // corrupt; what was readable was delivered
inline constexpr int EXIT_BAD_CONFIG = 78;     // EX_CONFIG: bad filter/path/option: permanent

}  // namespace pushcap::workers
