#include "workers/worker.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "router/atomic_field.hpp"
#include "router/batch_records.hpp"
#include "workers/clocks.hpp"
#include "workers/config_error.hpp"
#include "workers/file_completion.hpp"
#include "workers/file_sink.hpp"
#include "workers/pcap_format.hpp"
#include "workers/remote_sink.hpp"
#include "workers/slot_counters.hpp"

namespace pushcap::workers {
namespace {

constexpr std::uint64_t NS = 1'000'000'000ULL;
constexpr std::uint64_t IDLE_WAIT_NS = 100'000'000ULL;
// Commit policy: often enough that a lossless producer never waits long for space and a restart
// redoes little work, rarely enough that commits (one write(2) + a slot update) stay cheap.
constexpr std::uint64_t COMMIT_EVERY_NS = 50'000'000ULL;
constexpr std::uint32_t COMMIT_EVERY_BATCHES = 64;
constexpr std::uint64_t BACKOFF_MIN_NS = 10'000'000ULL;
constexpr std::uint64_t BACKOFF_MAX_NS = 2'000'000'000ULL;

std::string targetPrefix(const std::string& name) {
    return "target '" + name + "': ";
}

}  // namespace

Worker::Worker(WorkerConfig config)
    : m_config(std::move(config)),
      m_filter(m_config.name, m_config.filter),
      m_policy(m_config.split),
      m_namer(m_config.naming),
      m_events(m_config.eventsFd) {
    m_filter.validate(DLT_EN10MB);
    m_log = std::make_unique<WorkerLog>(m_config.name, m_config.logDir, m_config.quietConsole);
    if (m_config.streaming()) {
        m_sink = std::make_unique<RemoteSink>(m_config.remote);
    } else {
        if (m_config.format != OutputFormat::Pcap)
            m_pcapngSuffix = m_namer.suffix() == ".pcap" ? ".pcapng" : m_namer.suffix();
        FileSinkConfig sc;
        sc.directory = m_namer.directory();
        sc.filePrefix = m_namer.filePrefix();
        sc.suffix = m_namer.suffix();
        sc.pcapngSuffix = m_pcapngSuffix;
        sc.completedDir = m_config.completedPath;
        sc.fileMode = m_config.fileMode;
        sc.fsync = m_config.fsync;
        m_sink = std::make_unique<FileSink>(sc);
    }
    if (m_config.rclone() && m_config.eventsFd >= 0) {
        // rclone children must not hold pushcapd's event pipe open after this worker is gone.
        ::fcntl(m_config.eventsFd, F_SETFD, ::fcntl(m_config.eventsFd, F_GETFD) | FD_CLOEXEC);
    }
}

Worker::~Worker() = default;

void Worker::check(const WorkerConfig& config) {
    PacketFilter filter(config.name, config.filter);
    filter.validate(DLT_EN10MB);
    const FileNamer namer(config.naming);
    auto writable = [&](const std::string& what, const std::string& dir) {
        if (dir.empty())
            return;
        if (const int rc = makeDirectories(dir); rc != 0) {
            throw ConfigError(targetPrefix(config.name) + "cannot create " + what + " " + dir +
                              ": " + std::strerror(rc));
        }
        if (::access(dir.c_str(), W_OK | X_OK) != 0) {
            throw ConfigError(targetPrefix(config.name) + what + " " + dir +
                              " is not writable: " + std::strerror(errno));
        }
    };
    writable("Path directory", namer.directory());
    writable("CompletedPath", config.completedPath);
    writable("log directory", config.logDir);
    if (config.rclone()) {
        writable("SpoolDir", config.spoolDir);
        const std::string problem = rcloneProblem(
            RcloneSettings{config.rclonePath, config.rcloneConfig}, config.remotePath);
        if (!problem.empty())
            throw ConfigError(targetPrefix(config.name) + problem);
    }
}

int Worker::run(const std::atomic<bool>& stop, std::atomic<bool>* newFile) {
    m_stop = &stop;
    m_reader = std::make_unique<router::RingReader>(m_config.ring, m_config.name,
                                                    router::RingReader::StartAt::Oldest,
                                                    router::Delivery::Lossless, m_config.sources);
    m_mayBeLapped = m_reader->mayBeLapped();
    m_liveData = router::liveData(m_reader->mode());
    m_commitSpan = std::max<std::uint64_t>(m_reader->segment().capacity() / 8, 1);
    m_staging.resize(m_reader->segment().header().max_batch_bytes);
    resume();
    if (m_config.rclone()) {
        UploaderConfig uc;
        uc.rclone = RcloneSettings{m_config.rclonePath, m_config.rcloneConfig};
        uc.remoteDirectory = splitRemotePath(m_config.remotePath).directory;
        uc.spoolDir = m_namer.directory();
        uc.filePrefix = m_namer.filePrefix();
        uc.suffix = m_namer.suffix();
        uc.uploads = m_config.uploads;
        uc.keepLocal = m_config.keepLocal;
        uc.retries = m_config.uploadRetries;
        uc.backoffMaxNs = std::max<std::uint64_t>(m_config.uploadBackoffMaxMs, 1) * 1'000'000ULL;
        uc.backoffMinNs = std::min(uc.backoffMinNs, uc.backoffMaxNs);
        m_uploader = std::make_unique<RcloneUploader>(uc, *m_log, m_events, m_uploadsCompletedBase,
                                                      m_uploadFailuresBase);
        // Files completed by earlier runs (and the leftovers resume() just completed).
        if (const std::size_t n = m_uploader->scanSpool(); n != 0) {
            m_log->info(std::to_string(n) + " complete file(s) of earlier runs in the spool " +
                        uc.spoolDir + ": uploading them");
        }
        m_uploader->start();
    }

    if (m_config.readyFd >= 0) {
        const char byte = 'R';
        [[maybe_unused]] const ssize_t n = ::write(m_config.readyFd, &byte, 1);
        ::close(m_config.readyFd);
    }
    const char* delivery = !router::producerMayWait(m_reader->mode()) ? "live ring, best-effort"
                           : m_mayBeLapped                            ? "best-effort"
                                                                      : "lossless";
    m_log->info("attached to " + m_config.ring + " (" + delivery + "), filter \"" +
                m_config.filter + "\", writing " + m_namer.directory() + "/" +
                m_namer.filePrefix() + "*" + m_namer.suffix());

    bool ok = true;
    bool endOfStream = false;
    router::BatchView view;
    while (ok && !stop.load(std::memory_order_relaxed)) {
        if (newFile != nullptr && newFile->exchange(false, std::memory_order_relaxed)) {
            if (m_file.open) {
                m_log->info("asked for a new file: completing " + m_file.name);
                ok = completeFile(m_reader->position(), 0);
                continue;
            }
        }
        if (m_uploader && spoolFull()) {
            onIdle();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        const router::NextStatus status = m_reader->next(view, IDLE_WAIT_NS);
        if (status == router::NextStatus::EndOfStream) {
            endOfStream = true;
            break;
        }
        if (status == router::NextStatus::Timeout) {
            onIdle();
            continue;
        }
        ok = handleBatch(view) && maybeCommit();
        maybeProgress();
    }
    if (!ok) {
        // Stopped while a write kept failing: nothing uncommitted is kept; the ring still has
        // it and a restarted worker writes it.
        m_log->error("stopped while the target could not write (" + m_sink->lastError() +
                     "); uncommitted data will be written again on restart");
        return EXIT_RUNTIME_ERROR;
    }
    const std::uint64_t pos = m_reader->position();
    if (m_file.open) {
        ok = completeFile(pos, 0);
    } else {
        ok = commitNow(pos, 0);
    }
    maybeProgress(true);
    if (!ok)
        return EXIT_RUNTIME_ERROR;
    if (m_uploader) {
        // An offline push is done when its files are on the remote; a stopped worker leaves
        // the rest in the spool for its next run.
        if (endOfStream && !drainUploads())
            endOfStream = false;
        m_uploader->stop();
        commitNow(m_reader->position(), 0);
        const UploaderStats u = m_uploader->stats();
        m_log->info("uploads: " + std::to_string(u.completed) + " done, " +
                    std::to_string(u.failures) + " failed attempts, " +
                    std::to_string(u.pendingFiles) + " file(s) (" + std::to_string(u.pendingBytes) +
                    " bytes) left in the spool");
        if (endOfStream && u.parkedFiles != 0) {
            m_log->error(std::to_string(u.parkedFiles) +
                         " file(s) could not be uploaded and stay in the spool " +
                         m_namer.directory());
            return EXIT_RUNTIME_ERROR;
        }
    }
    m_log->info(std::string(endOfStream ? "end of stream" : "stopped") + ": " +
                std::to_string(m_counters.packetsWritten) + " packets, " +
                std::to_string(m_counters.bytesWritten) + " bytes, " +
                std::to_string(m_counters.filesCompleted) + " files completed, " +
                std::to_string(m_reader->counters().packetsLost) + " packets lost by the ring");
    return EXIT_OK;
}

void Worker::resume() {
    m_counters.matched = m_reader->resumeCounter(WORKER_PACKETS_MATCHED);
    m_counters.bytesWritten = m_reader->resumeCounter(WORKER_BYTES_WRITTEN);
    m_counters.filesCompleted = m_reader->resumeCounter(WORKER_FILES_COMPLETED);
    m_counters.writeErrors = m_reader->resumeCounter(WORKER_WRITE_ERRORS);
    m_counters.packetsWritten = m_reader->resumeCounter(WORKER_PACKETS_WRITTEN);
    m_uploadsCompletedBase = m_reader->resumeCounter(WORKER_UPLOADS_COMPLETED);
    m_uploadFailuresBase = m_reader->resumeCounter(WORKER_UPLOAD_FAILURES);
    m_lastCommitPos = m_reader->resumePosition();
    m_lastCommitNs = steadyNs();
    m_bytesAtProgress = m_counters.bytesWritten;

    std::optional<ResumeState> state;
    try {
        state = decodeResumeState(m_reader->resumeBlob());
    } catch (const std::exception& e) {
        m_log->error(std::string("ignoring the committed resume state: ") + e.what());
    }
    const std::uint64_t pos = m_reader->resumePosition();
    if (state && state->skipPosition == pos) {
        m_skipPosition = pos;
        m_skipPackets = state->skipPackets;
    }
    bool changed = false;
    if (state && state->file.open) {
        const OpenFileState& f = state->file;
        switch (m_sink->resume(OpenFileRef{f.name, f.format, f.bytes})) {
            case ResumeOutcome::Reopened:
                m_file = f;
                m_log->info("resuming " + f.name + ".pending at byte " + std::to_string(f.bytes));
                if (f.completing) {
                    if (!completeFile(pos, m_skipPosition == pos ? m_skipPackets : 0)) {
                        throw std::runtime_error("stopped while completing " + f.name);
                    }
                }
                break;
            case ResumeOutcome::AlreadyCompleted:
                if (f.completing)
                    ++m_counters.filesCompleted;
                m_log->info(f.name + " was completed before the restart");
                changed = true;
                break;
            case ResumeOutcome::Lost:
                ++m_counters.writeErrors;
                m_log->error(
                    m_sink->lastError() + " at restart: its " + std::to_string(f.packets) +
                    " committed packets may be lost (a shorter file is completed as it is)");
                changed = true;
                break;
        }
    }
    for (const CompletedFile& c : m_sink->recoverLeftovers(m_file.open ? m_file.name : "")) {
        ++m_counters.filesCompleted;
        m_log->warn("completed leftover file of an earlier run: " + c.location + " (" +
                    std::to_string(c.bytes) + " bytes, " + std::to_string(c.packets) + " packets)");
        changed = true;
    }
    if (changed && !commitNow(pos, m_skipPosition == pos ? m_skipPackets : 0)) {
        throw std::runtime_error("stopped while committing the resume state");
    }
}

bool Worker::handleBatch(const router::BatchView& view) {
    std::uint32_t skip = 0;
    if (m_skipPackets != 0) {
        if (view.position == m_skipPosition)
            skip = m_skipPackets;
        m_skipPackets = 0;
    }
    if (!m_reader->wants(view.sourceId)) {
        m_reader->finish(view);
        ++m_batchesSinceCommit;
        return true;
    }
    if ((view.flags & router::BATCH_FLAG_SESSION_END) != 0)
        return handleSessionEnd(view);
    const std::byte* payload = view.payload;
    if (m_mayBeLapped && !m_sink->canRollBack()) {
        // The producer may overwrite the batch at any time, and this sink cannot take back what
        // it was given (a stream to a collector): work on a copy that is known whole, so no torn
        // record ever leaves.
        if (view.payloadBytes > m_staging.size())
            m_staging.resize(view.payloadBytes);
        std::memcpy(m_staging.data(), view.payload, view.payloadBytes);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (router::loadAcquire(m_reader->segment().header().tail_pos) > view.position) {
            m_reader->finish(view);  // counts the loss
            return true;
        }
        payload = m_staging.data();
    } else if (m_mayBeLapped) {
        // Written straight from the ring (one copy, or none for large runs). What this batch
        // adds stays in the open .pending file until the batch proves intact (finish()); if the
        // producer lapped it meanwhile, the file is cut back and the state restored.
        m_guard = BatchGuard{true, m_file, m_counters, 0, 0};
    }
    m_batchLapped = false;
    m_batchMalformed = false;
    if (!processRecords(view, payload, skip))
        return false;
    const bool intact = m_reader->finish(view);
    if (m_guard.active) {
        m_guard.active = false;
        if (!intact)
            return takeBackLappedBatch(view);
    }
    if (!intact && !m_mayBeLapped) {
        throw std::runtime_error(
            "a lossless batch was overwritten while being written (was this "
            "worker skipped as dead?)");
    }
    if (intact && m_batchMalformed && m_malformedBatches++ % 1000 == 0) {
        m_log->error("malformed batch at ring position " + std::to_string(view.position) +
                     ": records after the first bad one were dropped (" +
                     std::to_string(m_malformedBatches) + " so far)");
    }
    ++m_batchesSinceCommit;
    return true;
}

bool Worker::takeBackLappedBatch(const router::BatchView& view) {
    // Only uncommitted bytes of the open file are cut: every commit in the batch (a file
    // rolled) came after a check that the records before it were intact.
    m_file = m_guard.file;
    m_counters = m_guard.counters;
    if (m_file.open) {
        while (m_sink->rollBack(m_file.bytes) != IoStatus::Ok) {
            if (!backoff("cut back a lapped batch"))
                return false;
        }
    }
    m_reader->keptBeforeLap(view, m_guard.keptPackets, m_guard.keptBytes);
    ++m_batchesSinceCommit;
    return true;
}

bool Worker::lappedNow(const router::BatchView& view) const {
    std::atomic_thread_fence(std::memory_order_acquire);
    return router::loadAcquire(m_reader->segment().header().tail_pos) > view.position;
}

bool Worker::handleSessionEnd(const router::BatchView& view) {
    // Completing here commits the marker's own position: a restart reads it again and finds no
    // file of that session open.
    if (m_config.filePerConnection && m_file.open && m_file.session == view.session &&
        !completeFile(view.position, 0)) {
        return false;
    }
    m_reader->finish(view);
    ++m_batchesSinceCommit;
    return true;
}

bool Worker::pcapngFor(const router::BatchView& view) const {
    return m_config.format == OutputFormat::Pcapng ||
           (m_config.format == OutputFormat::Auto &&
            (view.flags & router::BATCH_FLAG_PCAPNG_SOURCE) != 0);
}

bool Worker::processRecords(const router::BatchView& view, const std::byte* payload,
                            std::uint32_t skip) {
    const PacketFilter::Program* program = m_filter.programFor(view.linkType);
    const bool pcapng = pcapngFor(view);
    router::BatchView local = view;
    local.payload = payload;
    router::RecordCursor cursor(local);
    router::PacketRef packet;
    const std::byte* runStart = nullptr;
    std::size_t runBytes = 0;
    std::uint32_t index = 0;
    for (; cursor.next(packet); ++index) {
        // Records are found by their lengths, a chain of loads the hardware prefetcher does not
        // follow: the next header's place is known only now, so start fetching it (and the bytes
        // a filter reads) while this record is handled. Fetching the whole payload ahead instead
        // measured no better: most targets never read most of it.
        const std::size_t next =
            static_cast<std::size_t>(packet.record - payload) + packet.recordBytes;
        if (next + 128 <= view.payloadBytes) {
            __builtin_prefetch(payload + next);
            __builtin_prefetch(payload + next + 64);
        }
        if (index < skip)
            continue;
        if (program != nullptr && !PacketFilter::matches(program, packet.header, packet.data)) {
            continue;
        }
        ++m_counters.matched;
        const std::uint64_t ts = std::uint64_t(packet.header.ts_sec) * NS + packet.header.ts_nsec;
        const std::uint32_t outBytes =
            pcapng ? pcapngPacketBytes(packet.header.caplen) : packet.recordBytes;
        if (!m_file.open || m_file.format.linkType != view.linkType ||
            m_file.format.snaplen != view.snaplen || m_file.format.pcapng != pcapng ||
            (m_config.filePerConnection && m_file.session != view.session) ||
            m_policy.needsNewFile(m_file.bytes, m_file.packets, m_file.period, ts, outBytes)) {
            if (runBytes != 0 && !appendRun(runStart, runBytes))
                return false;
            runBytes = 0;
            // A roll commits: the records before it must be known intact first.
            if (m_guard.active && lappedNow(view)) {
                m_batchLapped = true;
                return true;
            }
            if (!rollFile(view, ts, index))
                return false;
            if (m_guard.active) {
                const auto offset = static_cast<std::uint64_t>(packet.record - payload);
                m_guard =
                    BatchGuard{true, m_file, m_counters, index,
                               offset - std::uint64_t(index) * sizeof(router::PcapRecordHeader)};
            }
        }
        if (pcapng) {
            if (!appendPcapng(packet, ts))
                return false;
        } else if (runBytes != 0 && runStart + runBytes == packet.record) {
            runBytes += packet.recordBytes;
        } else {
            if (runBytes != 0 && !appendRun(runStart, runBytes))
                return false;
            runStart = packet.record;
            runBytes = packet.recordBytes;
        }
        if (m_file.packets == 0)
            m_file.firstTsNs = ts;
        m_file.lastTsNs = ts;
        ++m_file.packets;
        m_file.bytes += outBytes;
        ++m_counters.packetsWritten;
        m_counters.bytesWritten += outBytes;
    }
    if (runBytes != 0 && !appendRun(runStart, runBytes))
        return false;
    m_batchMalformed = cursor.malformed();
    return true;
}

bool Worker::backoff(const char* what) {
    ++m_counters.writeErrors;
    if (m_backoffNs == 0 || m_backoffNs >= BACKOFF_MAX_NS || m_counters.writeErrors % 50 == 1) {
        m_log->error(std::string(what) + " failed: " + m_sink->lastError() + "; retrying (" +
                     std::to_string(m_counters.writeErrors) + " write errors)");
        m_events.error(std::string(what) + " failed: " + m_sink->lastError());
    }
    m_backoffNs = m_backoffNs == 0 ? BACKOFF_MIN_NS : std::min(m_backoffNs * 2, BACKOFF_MAX_NS);
    const std::uint64_t until = steadyNs() + m_backoffNs;
    while (steadyNs() < until) {
        if (m_stop->load(std::memory_order_relaxed))
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return !m_stop->load(std::memory_order_relaxed);
}

bool Worker::appendRun(const std::byte* data, std::size_t bytes) {
    while (m_sink->append(data, bytes) != IoStatus::Ok) {
        if (!backoff("write"))
            return false;
    }
    if (m_backoffNs != 0) {
        m_log->info("writing again after errors: " + m_file.name);
        m_backoffNs = 0;
    }
    return true;
}

bool Worker::appendPcapng(const router::PacketRef& packet, std::uint64_t tsNs) {
    const std::uint32_t caplen = packet.header.caplen;
    std::byte head[PCAPNG_EPB_HEAD_BYTES];
    writePcapngPacketHead(head, tsNs, caplen, packet.header.wirelen);
    std::byte tail[8];
    writePcapngPacketTail(tail, caplen);
    return appendRun(head, sizeof head) && appendRun(packet.data, caplen) &&
           appendRun(tail, pcapngPacketTailBytes(caplen));
}

bool Worker::commitNow(std::uint64_t skipPosition, std::uint32_t skipPackets) {
    while (m_sink->flush() != IoStatus::Ok) {
        if (!backoff("flush"))
            return false;
    }
    if (m_backoffNs != 0) {
        m_log->info("writing again after errors");
        m_backoffNs = 0;
    }
    ResumeState state;
    state.file = m_file;
    state.skipPosition = skipPosition;
    state.skipPackets = skipPackets;
    UploaderStats uploads;
    if (m_uploader) {
        uploads = m_uploader->stats();
    } else {
        uploads.completed = m_uploadsCompletedBase;
        uploads.failures = m_uploadFailuresBase;
    }
    const std::uint64_t app[] = {
        m_counters.matched,        m_counters.bytesWritten,
        m_counters.filesCompleted, m_counters.writeErrors,
        m_counters.packetsWritten, uploads.completed,
        uploads.failures,          packUploadPending(uploads.pendingFiles, uploads.pendingBytes)};
    static_assert(std::uint32_t(WORKER_UPLOAD_PENDING) - std::uint32_t(router::COUNTER_FIRST_APP) +
                      1 ==
                  std::size(app));
    m_committedUploadSignature = uploadSignature();
    m_reader->commit(encodeResumeState(state), app);
    m_lastCommitPos = m_reader->position();
    m_lastCommitNs = steadyNs();
    m_batchesSinceCommit = 0;
    return true;
}

bool Worker::maybeCommit() {
    const std::uint64_t pos = m_reader->position();
    if (pos == m_lastCommitPos)
        return true;
    if (pos - m_lastCommitPos >= m_commitSpan || m_batchesSinceCommit >= COMMIT_EVERY_BATCHES ||
        steadyNs() - m_lastCommitNs >= COMMIT_EVERY_NS) {
        return commitNow(pos, 0);
    }
    return true;
}

bool Worker::rollFile(const router::BatchView& view, std::uint64_t tsNs, std::uint32_t index) {
    if (m_file.open && !completeFile(view.position, index))
        return false;
    return openFile(view, tsNs, index);
}

bool Worker::openFile(const router::BatchView& view, std::uint64_t tsNs, std::uint32_t index) {
    const Period period = m_policy.periodFor(tsNs);
    // With a time split a file is named after its aligned start; otherwise after its first packet.
    const std::uint64_t start = m_policy.splitTimeNs() != 0 ? period.startNs : tsNs;
    const std::uint64_t end = period.endNs != 0 ? period.endNs : tsNs;
    const std::string stem = m_namer.stem(start, end);
    const FileFormat format{view.linkType, view.snaplen, pcapngFor(view)};
    const std::string& suffix = format.pcapng ? m_pcapngSuffix : m_namer.suffix();
    std::string chosen;
    while (m_sink->open(stem, suffix, format, chosen) != IoStatus::Ok) {
        if (!backoff("open"))
            return false;
    }
    m_file = OpenFileState{};
    m_file.open = true;
    m_file.name = chosen;
    m_file.format = format;
    m_file.bytes = fileHeaderBytes(format);
    m_file.period = period;
    m_file.openedUnixNs = wallNs();
    m_file.session = view.session;
    m_counters.bytesWritten += m_file.bytes;
    // Committing the new file before any packet goes in means a crash can never leave a file
    // with packets that no commit knows about.
    if (!commitNow(view.position, index))
        return false;
    m_log->progress(chosen, m_counters.bytesWritten, 0.0, "New Split");
    m_events.fileOpened(chosen);
    return true;
}

bool Worker::completeFile(std::uint64_t skipPosition, std::uint32_t skipPackets) {
    m_file.completing = true;
    if (!commitNow(skipPosition, skipPackets))
        return false;
    CompletedFile done;
    while (m_sink->complete(done) != IoStatus::Ok) {
        if (!backoff("complete"))
            return false;
    }
    m_backoffNs = 0;
    if (done.location.empty()) {
        ++m_counters.writeErrors;
        m_log->error(m_sink->lastError() + ": " + std::to_string(m_file.packets) + " packets lost");
        m_events.error(m_sink->lastError());
    } else {
        ++m_counters.filesCompleted;
        logCompleted(done, m_file);
        m_events.fileCompleted(done.location, done.bytes, m_file.packets, m_file.firstTsNs,
                               m_file.lastTsNs);
        if (m_uploader)
            m_uploader->enqueue(done.location, done.bytes);
    }
    m_file = OpenFileState{};
    return commitNow(skipPosition, skipPackets);
}

void Worker::logCompleted(const CompletedFile& done, const OpenFileState& file) {
    const double wallSec = static_cast<double>(wallNs() - file.openedUnixNs) / 1e9;
    char text[128];
    std::snprintf(text, sizeof text, " : Completed Bytes %llu Packets %llu Wall %.3f s",
                  static_cast<unsigned long long>(done.bytes),
                  static_cast<unsigned long long>(file.packets), wallSec);
    m_log->info(done.location + text + " First " + formatTimestamp(file.firstTsNs) + " Last " +
                formatTimestamp(file.lastTsNs));
}

void Worker::onIdle() {
    const std::uint64_t pos = m_reader->position();
    // Idle close on the wall clock applies to live data only: an offline push replays old
    // packet times and must keep filling its files.
    if (m_liveData && m_file.open && m_file.period.endNs != 0 &&
        wallNs() >= m_file.period.endNs + m_config.idleGraceNs) {
        completeFile(pos, 0);
    } else if (pos != m_lastCommitPos ||
               (m_uploader && uploadSignature() != m_committedUploadSignature)) {
        // Upload counters change while no packet comes: the ring has no counters-only update,
        // so an idle commit at the same position publishes them.
        commitNow(pos, 0);
    }
    maybeProgress();
}

std::uint64_t Worker::uploadSignature() const {
    if (!m_uploader)
        return 0;
    const UploaderStats u = m_uploader->stats();
    return u.completed * 1'000'003ULL + u.failures * 7919ULL + u.pendingFiles * 131ULL +
           u.pendingBytes;
}

bool Worker::spoolFull() {
    const bool full =
        m_config.spoolMaxBytes != 0 && m_uploader->spoolBytes() >= m_config.spoolMaxBytes;
    if (full != m_spoolFull) {
        m_spoolFull = full;
        if (full) {
            const std::string text = "spool " + m_namer.directory() + " holds " +
                                     std::to_string(m_uploader->spoolBytes()) +
                                     " bytes waiting for upload (SpoolMax " +
                                     std::to_string(m_config.spoolMaxBytes) +
                                     "): taking no packets until uploads catch up";
            m_log->warn(text);
            m_events.error(text);
        } else {
            m_log->info("spool below SpoolMax again: taking packets");
        }
    }
    return full;
}

bool Worker::drainUploads() {
    const UploaderStats first = m_uploader->stats();
    if (first.pendingFiles > first.parkedFiles) {
        m_log->info("end of stream: waiting for " +
                    std::to_string(first.pendingFiles - first.parkedFiles) +
                    " upload(s) to finish");
    }
    while (!m_uploader->drained()) {
        if (m_stop->load(std::memory_order_relaxed))
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (uploadSignature() != m_committedUploadSignature)
            commitNow(m_reader->position(), 0);
    }
    return true;
}

void Worker::maybeProgress(bool force) {
    const std::uint64_t now = steadyNs();
    if (m_lastProgressNs == 0)
        m_lastProgressNs = now;
    const std::uint64_t elapsed = now - m_lastProgressNs;
    if (!force && elapsed < NS)
        return;
    const std::uint64_t bytes = m_counters.bytesWritten - m_bytesAtProgress;
    if (bytes != 0 || force) {
        const double gbps =
            elapsed == 0 ? 0.0 : static_cast<double>(bytes) * 8.0 / static_cast<double>(elapsed);
        m_log->progress(m_file.open ? m_file.name : std::string("(no open file)"),
                        m_counters.bytesWritten, gbps);
    }
    m_lastProgressNs = now;
    m_bytesAtProgress = m_counters.bytesWritten;
}

}  // namespace pushcap::workers
