// The upload half of an RCLONE target. The worker writes files into a local spool directory
// exactly as a File target does (FileSink: `.pending`, complete on close); each complete file is
// handed here and uploaded by `uploads` threads, so a slow or dead remote grows the spool and
// never blocks packet processing. Each thread runs one upload at a time through its own
// `rclone rcd` (rclone_rcd.hpp): one daemon per thread, not one shared, because rclone paces
// the calls of one backend instance (e.g. WebDAV: 10 ms between requests), which would
// serialise the parallel uploads; separate daemons behave like the separate rclone processes
// of a parallel `rclone copyto`.
//
// One upload, never a partial object under a final name:
//   1. stat FINAL:          already there with the local size -> done (an earlier run uploaded it
//                           and died before removing the local copy); there with another size ->
//                           try FINAL_1, _2, ...
//   2. copyfile LOCAL TEMP  TEMP = ".<name>.pushcap-upload" next to FINAL (fixed per file, so a
//                           redone upload overwrites a stale one instead of leaking it)
//   3. stat TEMP            its size must equal the local size
//   4. movefile TEMP FINAL  server-side move on remotes that have one (S3, SFTP, WebDAV, ...)
//   5. the local file is removed, or moved to `<spool>/uploaded/` with keepLocal.
// (operations/stat, copyfile, movefile of rclone's remote control API: the same code paths as
// `rclone lsjson --stat`, `copyto` and `moveto`.)
// Any failure: logged with rclone's message and HTTP status, sent as an `error` event, counted,
// retried with exponential backoff (forever unless `retries`). A permanent failure (access
// denied, forbidden, a request rclone rejects as invalid) or exhausted retries parks the file: it
// stays in the spool, counted as pending, and is tried again when the worker restarts.
//
// Threads: enqueue()/stats()/spoolBytes() are called by the worker thread; spoolBytes() is one
// relaxed atomic load, cheap enough for once per batch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/child_events.hpp"
#include "workers/rclone_rcd.hpp"
#include "workers/rclone_remote.hpp"
#include "workers/worker_log.hpp"

namespace pushcap::workers {

struct UploaderConfig {
    RcloneSettings rclone;
    std::string remoteDirectory;  // "remote:bucket/dir"
    std::string spoolDir;         // where complete files wait
    std::string filePrefix;       // this target's files: prefix*suffix in spoolDir
    std::string suffix = ".pcap";
    unsigned uploads = 2;  // parallel uploads (threads, each with its rclone rcd)
    bool keepLocal = false;
    unsigned retries = 0;  // 0: retry forever
    std::uint64_t backoffMinNs = 500'000'000ULL;
    std::uint64_t backoffMaxNs = 60'000'000'000ULL;
};

struct UploaderStats {
    std::uint64_t completed = 0;  // uploads done (cumulative, incl. earlier runs)
    std::uint64_t failures = 0;   // failed attempts (cumulative)
    std::uint64_t pendingFiles = 0;
    std::uint64_t pendingBytes = 0;
    std::uint64_t parkedFiles = 0;  // given up until restart (included in pending)
    std::uint64_t lastSuccessUnixNs = 0;
};

class RcloneUploader {
  public:
    // `completedBase`/`failuresBase`: the cumulative counters of earlier runs (ring slot).
    RcloneUploader(UploaderConfig config, WorkerLog& log, proto::ChildEventWriter& events,
                   std::uint64_t completedBase, std::uint64_t failuresBase);
    ~RcloneUploader();  // stop()

    // Queues every complete file of this target already in the spool (after a restart); call
    // once, after the sink recovered its leftovers. Returns how many.
    std::size_t scanSpool();
    void start();
    // A file just completed in the spool.
    void enqueue(const std::string& path, std::uint64_t bytes);
    // Bytes of complete files not yet uploaded (the spool limit's measure).
    std::uint64_t spoolBytes() const { return m_pendingBytes.load(std::memory_order_relaxed); }
    UploaderStats stats() const;
    // Nothing queued or uploading except parked files.
    bool drained() const;
    // Stops taking new uploads, stops the rclone rcd daemons (failing the transfers running),
    // joins the threads. Files not uploaded stay in the spool for the next run.
    void stop();

  private:
    struct Job {
        std::string path;      // in the spool
        std::string relative;  // name relative to the spool = name relative to the remote dir
        std::uint64_t bytes = 0;
        unsigned attempts = 0;
        std::uint64_t notBeforeNs = 0;  // steady clock
    };
    enum class Outcome { Done, Retry, Permanent };

    void threadMain(RcloneDaemon& rclone);
    Outcome upload(RcloneDaemon& rclone, const Job& job, std::string& error,
                   std::string& remoteName);
    // Size of `name` under the remote directory: -1 not found, -2 error (`error` says why).
    std::int64_t remoteSize(RcloneDaemon& rclone, const std::string& name, std::string& error);
    void finishLocal(const Job& job);
    void addJob(Job job);

    UploaderConfig m_config;
    WorkerLog& m_log;
    proto::ChildEventWriter& m_events;

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Job> m_queue;
    std::set<std::string> m_known;  // paths queued, running or parked
    std::vector<Job> m_parked;
    std::size_t m_running = 0;
    bool m_stopping = false;

    std::vector<std::unique_ptr<RcloneDaemon>> m_daemons;  // one per thread
    std::vector<std::thread> m_threads;

    std::atomic<std::uint64_t> m_pendingBytes{0};
    std::atomic<std::uint64_t> m_pendingFiles{0};
    std::atomic<std::uint64_t> m_completed{0};
    std::atomic<std::uint64_t> m_failures{0};
    std::atomic<std::uint64_t> m_lastSuccessUnixNs{0};
};

}  // namespace pushcap::workers
