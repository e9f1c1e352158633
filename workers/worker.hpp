// One target: ring batch -> source/link-type match -> BPF -> split policy -> name -> sink ->
// commit. Runs in pushcap-worker's main thread; one Worker per process.
//
// Exactly once: the ring position is committed only after the bytes of everything before it are
// written to the sink (flush), together with the open file's committed size and split state
// (resume_state.hpp). A restarted worker cuts its open file back to that size and continues;
// SIGKILL at any instant loses and duplicates nothing.
//
// Write errors pause only this target: the failing operation is rolled back and retried with
// backoff while nothing more is read from the ring (lossless: the producer waits; live: the ring
// counts what is lost).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/child_events.hpp"
#include "router/batch_records.hpp"
#include "router/ring_reader.hpp"
#include "workers/file_naming.hpp"
#include "workers/packet_filter.hpp"
#include "workers/rclone_uploader.hpp"
#include "workers/resume_state.hpp"
#include "workers/sink.hpp"
#include "workers/split_policy.hpp"
#include "workers/worker_config.hpp"
#include "workers/worker_log.hpp"

namespace pushcap::workers {

class Worker {
  public:
    // Validates the configuration (filter, names); throws ConfigError.
    explicit Worker(WorkerConfig config);
    ~Worker();

    // --check: filter compiles for Ethernet, Path (and CompletedPath, log dir) can be created and
    // written. Throws ConfigError.
    static void check(const WorkerConfig& config);

    // Attaches, resumes, and processes until end of stream or `stop`. Returns the exit code.
    // `newFile` (SIGUSR1 in pushcap-worker) completes the open file; the next packet starts a new
    // one (osmo-pcap-server starts new files on SIGHUP; pushcapd passes that on).
    int run(const std::atomic<bool>& stop, std::atomic<bool>* newFile = nullptr);

  private:
    struct Counters {
        std::uint64_t matched = 0;
        std::uint64_t bytesWritten = 0;
        std::uint64_t filesCompleted = 0;
        std::uint64_t writeErrors = 0;
        std::uint64_t packetsWritten = 0;
    };

    void resume();
    bool handleBatch(const router::BatchView& view);
    bool processRecords(const router::BatchView& view, const std::byte* payload,
                        std::uint32_t skip);
    bool appendRun(const std::byte* data, std::size_t bytes);
    // A best-effort batch processed in place was overwritten: restore the state it started
    // from, cut its bytes out of the open file, count its loss.
    bool takeBackLappedBatch(const router::BatchView& view);
    bool lappedNow(const router::BatchView& view) const;
    // One packet as a pcapng Enhanced Packet Block.
    bool appendPcapng(const router::PacketRef& packet, std::uint64_t tsNs);
    bool pcapngFor(const router::BatchView& view) const;
    // A batch that only says a source connection ended (router BATCH_FLAG_SESSION_END).
    bool handleSessionEnd(const router::BatchView& view);
    bool rollFile(const router::BatchView& view, std::uint64_t tsNs, std::uint32_t index);
    bool openFile(const router::BatchView& view, std::uint64_t tsNs, std::uint32_t index);
    bool completeFile(std::uint64_t skipPosition, std::uint32_t skipPackets);
    bool commitNow(std::uint64_t skipPosition, std::uint32_t skipPackets);
    bool maybeCommit();
    void onIdle();
    void maybeProgress(bool force = false);
    // Waits before retrying a failed sink operation; false if the worker must stop instead.
    bool backoff(const char* what);
    void logCompleted(const CompletedFile& done, const OpenFileState& file);
    // RCLONE: true while the spool holds SpoolMax bytes or more (then no packet is taken).
    bool spoolFull();
    // RCLONE, end of stream: waits until every file is uploaded (or parked) or `stop`.
    bool drainUploads();
    std::uint64_t uploadSignature() const;

    WorkerConfig m_config;
    std::unique_ptr<WorkerLog> m_log;
    PacketFilter m_filter;
    SplitPolicy m_policy;
    FileNamer m_namer;
    proto::ChildEventWriter m_events;
    std::unique_ptr<Sink> m_sink;
    std::string m_pcapngSuffix;  // of pcapng files (--format pcapng|auto)
    std::unique_ptr<router::RingReader> m_reader;
    std::unique_ptr<RcloneUploader> m_uploader;  // RCLONE targets only
    std::uint64_t m_uploadsCompletedBase = 0;    // resumed counters, used until the uploader runs
    std::uint64_t m_uploadFailuresBase = 0;
    std::uint64_t m_committedUploadSignature = 0;
    bool m_spoolFull = false;
    const std::atomic<bool>* m_stop = nullptr;
    bool m_mayBeLapped = false;  // live ring or best-effort slot: a batch may be overwritten
    bool m_liveData = false;     // packet times follow the wall clock: idle files close on time

    OpenFileState m_file;
    std::uint64_t m_skipPosition = 0;
    std::uint32_t m_skipPackets = 0;
    Counters m_counters;

    std::vector<std::byte> m_staging;  // lapped sinks that cannot roll back: a private copy
    // The state before the batch being processed in place (best-effort), or after the last file
    // roll inside it; `kept*`: its records already in a completed file.
    struct BatchGuard {
        bool active = false;
        OpenFileState file;
        Counters counters;
        std::uint32_t keptPackets = 0;
        std::uint64_t keptBytes = 0;
    };
    BatchGuard m_guard;
    bool m_batchLapped = false;  // stopped early: found overwritten before a file roll
    bool m_batchMalformed = false;
    std::uint64_t m_lastCommitPos = 0;
    std::uint64_t m_lastCommitNs = 0;
    std::uint32_t m_batchesSinceCommit = 0;
    std::uint64_t m_commitSpan = 0;

    std::uint64_t m_lastProgressNs = 0;
    std::uint64_t m_bytesAtProgress = 0;
    std::uint64_t m_backoffNs = 0;
    std::uint64_t m_malformedBatches = 0;
};

}  // namespace pushcap::workers
