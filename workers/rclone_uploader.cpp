#include "workers/rclone_uploader.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>

#include "workers/clocks.hpp"
#include "workers/file_completion.hpp"

namespace pushcap::workers {
namespace {

const std::string TEMP_SUFFIX = ".pushcap-upload";
constexpr int HTTP_BAD_REQUEST = 400;

bool endsWith(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string baseOf(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dirPartOf(const std::string& relative) {
    const std::size_t slash = relative.rfind('/');
    return slash == std::string::npos ? "" : relative.substr(0, slash + 1);
}

std::string parentOf(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

RcloneUploader::RcloneUploader(UploaderConfig config, WorkerLog& log,
                               proto::ChildEventWriter& events, std::uint64_t completedBase,
                               std::uint64_t failuresBase)
    : m_config(std::move(config)),
      m_log(log),
      m_events(events),
      m_completed(completedBase),
      m_failures(failuresBase) {
    m_config.uploads = std::max(1u, m_config.uploads);
}

RcloneUploader::~RcloneUploader() {
    stop();
}

std::size_t RcloneUploader::scanSpool() {
    DIR* dir = ::opendir(m_config.spoolDir.c_str());
    if (dir == nullptr)
        return 0;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
        const std::string n = e->d_name;
        if (n.empty() || n[0] == '.' || n.rfind(m_config.filePrefix, 0) != 0 ||
            !endsWith(n, m_config.suffix)) {
            continue;
        }
        names.push_back(n);
    }
    ::closedir(dir);
    // Oldest first: names sort by time for every time-based naming mode.
    std::sort(names.begin(), names.end());
    std::size_t queued = 0;
    for (const std::string& n : names) {
        const std::string path = m_config.spoolDir + "/" + n;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        addJob(Job{path, n, static_cast<std::uint64_t>(st.st_size), 0, 0});
        ++queued;
    }
    return queued;
}

void RcloneUploader::start() {
    for (unsigned i = 0; i < m_config.uploads; ++i)
        m_daemons.push_back(std::make_unique<RcloneDaemon>(m_config.rclone));
    for (unsigned i = 0; i < m_config.uploads; ++i) {
        RcloneDaemon* rclone = m_daemons[i].get();
        m_threads.emplace_back([this, rclone] { threadMain(*rclone); });
    }
}

void RcloneUploader::enqueue(const std::string& path, std::uint64_t bytes) {
    const std::string root = m_config.spoolDir + "/";
    const std::string relative = path.rfind(root, 0) == 0 ? path.substr(root.size()) : baseOf(path);
    addJob(Job{path, relative, bytes, 0, 0});
}

void RcloneUploader::addJob(Job job) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (!m_known.insert(job.path).second)
            return;
        m_pendingBytes.fetch_add(job.bytes, std::memory_order_relaxed);
        m_pendingFiles.fetch_add(1, std::memory_order_relaxed);
        m_queue.push_back(std::move(job));
    }
    m_wake.notify_one();
}

UploaderStats RcloneUploader::stats() const {
    UploaderStats s;
    s.completed = m_completed.load(std::memory_order_relaxed);
    s.failures = m_failures.load(std::memory_order_relaxed);
    s.pendingFiles = m_pendingFiles.load(std::memory_order_relaxed);
    s.pendingBytes = m_pendingBytes.load(std::memory_order_relaxed);
    s.lastSuccessUnixNs = m_lastSuccessUnixNs.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(m_mutex);
    s.parkedFiles = m_parked.size();
    return s;
}

bool RcloneUploader::drained() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_queue.empty() && m_running == 0;
}

void RcloneUploader::stop() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    // Fails the transfers in flight; the threads see m_stopping and leave their files alone.
    for (const std::unique_ptr<RcloneDaemon>& d : m_daemons)
        d->stop();
    for (std::thread& t : m_threads) {
        if (t.joinable())
            t.join();
    }
    m_threads.clear();
}

void RcloneUploader::threadMain(RcloneDaemon& rclone) {
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        Job job;
        for (;;) {
            if (m_stopping)
                return;
            const std::uint64_t now = steadyNs();
            std::uint64_t earliest = std::numeric_limits<std::uint64_t>::max();
            auto ready = m_queue.end();
            for (auto it = m_queue.begin(); it != m_queue.end(); ++it) {
                if (it->notBeforeNs <= now) {
                    ready = it;
                    break;
                }
                earliest = std::min(earliest, it->notBeforeNs);
            }
            if (ready != m_queue.end()) {
                job = std::move(*ready);
                m_queue.erase(ready);
                ++m_running;
                break;
            }
            if (earliest == std::numeric_limits<std::uint64_t>::max())
                m_wake.wait(lock);
            else
                m_wake.wait_for(lock, std::chrono::nanoseconds(earliest - now));
        }
        lock.unlock();
        std::string error, remoteName;
        const std::uint64_t startNs = steadyNs();
        const Outcome outcome = upload(rclone, job, error, remoteName);
        if (outcome == Outcome::Done)
            finishLocal(job);
        lock.lock();
        --m_running;
        if (outcome == Outcome::Done) {
            m_known.erase(job.path);
            m_pendingBytes.fetch_sub(job.bytes, std::memory_order_relaxed);
            m_pendingFiles.fetch_sub(1, std::memory_order_relaxed);
            m_completed.fetch_add(1, std::memory_order_relaxed);
            m_lastSuccessUnixNs.store(wallNs(), std::memory_order_relaxed);
            lock.unlock();
            char seconds[32];
            std::snprintf(seconds, sizeof seconds, "%.3f",
                          static_cast<double>(steadyNs() - startNs) / 1e9);
            m_log.info("uploaded " + job.path + " -> " + remoteName + " (" +
                       std::to_string(job.bytes) + " bytes, " + seconds + " s)");
            m_events.uploaded(job.path, remoteName, job.bytes);
            lock.lock();
            continue;
        }
        if (m_stopping)
            return;  // killed by stop(): the file stays in the spool for the next run
        m_failures.fetch_add(1, std::memory_order_relaxed);
        ++job.attempts;
        const bool giveUp = outcome == Outcome::Permanent ||
                            (m_config.retries != 0 && job.attempts >= m_config.retries);
        std::string message = "upload of " + job.path + " failed (attempt " +
                              std::to_string(job.attempts) + "): " + error;
        if (giveUp) {
            message += outcome == Outcome::Permanent ? "; permanent failure" : "; no retries left";
            message += ": kept in the spool, retried when the worker restarts";
            m_parked.push_back(std::move(job));
        } else {
            std::uint64_t delay = m_config.backoffMinNs;
            for (unsigned i = 1; i < job.attempts && delay < m_config.backoffMaxNs; ++i)
                delay *= 2;
            delay = std::min(delay, m_config.backoffMaxNs);
            job.notBeforeNs = steadyNs() + delay;
            char retry[48];
            std::snprintf(retry, sizeof retry, "; retrying in %.1f s",
                          static_cast<double>(delay) / 1e9);
            message += retry;
            m_queue.push_back(std::move(job));
        }
        lock.unlock();
        m_log.error(message);
        m_events.error(message);
        lock.lock();
    }
}

std::int64_t RcloneUploader::remoteSize(RcloneDaemon& rclone, const std::string& name,
                                        std::string& error) {
    const RcReply r =
        rclone.call("operations/stat", "{\"fs\":" + jsonQuote(m_config.remoteDirectory) +
                                           ",\"remote\":" + jsonQuote(name) +
                                           ",\"opt\":{\"filesOnly\":true,\"noModTime\":true,"
                                           "\"noMimeType\":true}}");
    const std::string remote = remoteJoin(m_config.remoteDirectory, name);
    if (!r.ok()) {
        error = "rclone stat " + remote + ": " + r.summary();
        return -2;
    }
    const std::optional<std::int64_t> size = statSize(r.body);
    if (!size || *size < -1) {
        error = "rclone stat " + remote + ": no size in its answer";
        return -2;
    }
    return *size;
}

RcloneUploader::Outcome RcloneUploader::upload(RcloneDaemon& rclone, const Job& job,
                                               std::string& error, std::string& remoteName) {
    auto failed = [&](const std::string& what, const RcReply& r) {
        error = what + ": " + r.summary();
        const std::string text = lower(r.error);
        // 400: rclone rejected the request itself; sending it again cannot help.
        const bool permanent = r.status == HTTP_BAD_REQUEST ||
                               text.find("permission denied") != std::string::npos ||
                               text.find("access denied") != std::string::npos ||
                               text.find("accessdenied") != std::string::npos ||
                               text.find("forbidden") != std::string::npos;
        return permanent ? Outcome::Permanent : Outcome::Retry;
    };
    struct stat st;
    if (::stat(job.path.c_str(), &st) != 0) {
        error = job.path + ": " + std::strerror(errno);
        return errno == ENOENT ? Outcome::Permanent : Outcome::Retry;
    }
    const std::uint64_t localBytes = static_cast<std::uint64_t>(st.st_size);
    const std::string dirPart = dirPartOf(job.relative);
    const std::string tempName = dirPart + "." + baseOf(job.relative) + TEMP_SUFFIX;
    const std::string temp = remoteJoin(m_config.remoteDirectory, tempName);
    const std::string dirFs = jsonQuote(m_config.remoteDirectory);

    // Never replace someone else's object; recognise our own from a run that died after the move.
    std::string stem = job.relative;
    std::string suffix;
    if (endsWith(stem, m_config.suffix) && !m_config.suffix.empty()) {
        stem.resize(stem.size() - m_config.suffix.size());
        suffix = m_config.suffix;
    }
    std::string finalName;
    for (unsigned counter = 0; counter < 1000 && finalName.empty(); ++counter) {
        const std::string candidate = withCounter(stem, counter, suffix);
        const std::int64_t size = remoteSize(rclone, candidate, error);
        if (size == -2)
            return Outcome::Retry;
        if (size == -1) {
            finalName = candidate;
        } else if (static_cast<std::uint64_t>(size) == localBytes) {
            // A leftover temporary, if any; usually absent (404), which is fine.
            rclone.call("operations/deletefile",
                        "{\"fs\":" + dirFs + ",\"remote\":" + jsonQuote(tempName) + "}");
            remoteName = remoteJoin(m_config.remoteDirectory, candidate);
            return Outcome::Done;
        }
    }
    if (finalName.empty()) {
        error = "no free remote name for " + job.relative;
        return Outcome::Permanent;
    }
    const std::string finalRemote = remoteJoin(m_config.remoteDirectory, finalName);
    RcReply r =
        rclone.call("operations/copyfile", "{\"srcFs\":" + jsonQuote(parentOf(job.path)) +
                                               ",\"srcRemote\":" + jsonQuote(baseOf(job.path)) +
                                               ",\"dstFs\":" + dirFs +
                                               ",\"dstRemote\":" + jsonQuote(tempName) + "}");
    if (!r.ok())
        return failed("rclone copyfile " + job.path + " " + temp, r);
    const std::int64_t size = remoteSize(rclone, tempName, error);
    if (size < 0) {
        if (size == -1)
            error = "rclone copyfile succeeded but " + temp + " is not there";
        return Outcome::Retry;
    }
    if (static_cast<std::uint64_t>(size) != localBytes) {
        error = temp + " has " + std::to_string(size) + " bytes on the remote, " +
                std::to_string(localBytes) + " locally";
        return Outcome::Retry;
    }
    r = rclone.call("operations/movefile",
                    "{\"srcFs\":" + dirFs + ",\"srcRemote\":" + jsonQuote(tempName) +
                        ",\"dstFs\":" + dirFs + ",\"dstRemote\":" + jsonQuote(finalName) + "}");
    if (!r.ok())
        return failed("rclone movefile " + temp + " " + finalRemote, r);
    remoteName = finalRemote;
    return Outcome::Done;
}

void RcloneUploader::finishLocal(const Job& job) {
    if (!m_config.keepLocal) {
        if (::unlink(job.path.c_str()) != 0 && errno != ENOENT)
            m_log.error("cannot remove uploaded " + job.path + ": " + std::strerror(errno));
        return;
    }
    // Out of the spool's top level, so a restart does not queue it again.
    const std::string dest = m_config.spoolDir + "/uploaded/" + job.relative;
    const std::size_t slash = dest.rfind('/');
    if (const int rc = makeDirectories(dest.substr(0, slash));
        rc != 0 || ::rename(job.path.c_str(), dest.c_str()) != 0) {
        m_log.error("cannot move uploaded " + job.path + " to " + dest + ": " +
                    std::strerror(rc != 0 ? rc : errno));
    }
}

}  // namespace pushcap::workers
