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
    // RCLONE targets (0 for others).
    WORKER_UPLOADS_COMPLETED = router::COUNTER_FIRST_APP + 5,
    WORKER_UPLOAD_FAILURES = router::COUNTER_FIRST_APP + 6,  // failed attempts, retried or not
    WORKER_UPLOAD_PENDING = router::COUNTER_FIRST_APP + 7,   // packed: see packUploadPending
};
static_assert(WORKER_UPLOAD_PENDING < router::CONSUMER_COUNTERS);

// The slot has room for one more counter only, and pending uploads are a (files, bytes) gauge
// that must move together: files in the top 16 bits (saturating), bytes in the low 48 (256 TiB).
inline constexpr std::uint64_t packUploadPending(std::uint64_t files, std::uint64_t bytes) {
    constexpr std::uint64_t BYTE_MASK = (1ULL << 48) - 1;
    return (files < 0xffff ? files : 0xffff) << 48 | (bytes < BYTE_MASK ? bytes : BYTE_MASK);
}
inline constexpr std::uint64_t uploadPendingFiles(std::uint64_t packed) {
    return packed >> 48;
}
inline constexpr std::uint64_t uploadPendingBytes(std::uint64_t packed) {
    return packed & ((1ULL << 48) - 1);
}

// Exit codes of pushcap-worker and pushcap-capture that the supervisor acts on.
inline constexpr int EXIT_OK = 0;
inline constexpr int EXIT_RUNTIME_ERROR = 1;   // retried with backoff
inline constexpr int EXIT_USAGE = 2;           // bad command line: permanent
inline constexpr int EXIT_INPUT_DAMAGED = 65;  // EX_DATAERR: a stored capture is truncated or
                                               // corrupt; what was readable was delivered
inline constexpr int EXIT_BAD_CONFIG = 78;     // EX_CONFIG: bad filter/path/option: permanent

}  // namespace pushcap::workers
