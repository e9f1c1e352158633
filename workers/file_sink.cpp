#include "workers/file_sink.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "workers/config_error.hpp"
#include "workers/file_completion.hpp"
#include "workers/pcap_format.hpp"

namespace pushcap::workers {
namespace {

const std::string PENDING = ".pending";
// Runs at least this long are written from the caller's memory, not through the buffer.
constexpr std::size_t DIRECT_WRITE_BYTES = 64 << 10;

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

bool endsWith(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string baseOf(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

FileSink::FileSink(FileSinkConfig config)
    : m_config(std::move(config)), m_buffer(new std::byte[m_config.bufferBytes]) {}

FileSink::~FileSink() {
    closeFd();
}

void FileSink::closeFd() {
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
}

IoStatus FileSink::fail(const std::string& what, int error) {
    m_lastError = what + ": " + std::strerror(error);
    return IoStatus::Retry;
}

bool FileSink::writeAt(const std::byte* data, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
        const ssize_t put =
            ::pwrite(m_fd, data + done, n - done, static_cast<off_t>(m_written + done));
        if (put < 0) {
            if (errno == EINTR)
                continue;
            const int e = errno;
            // Leave no partial record behind: the caller will retry the whole chunk.
            if (::ftruncate(m_fd, static_cast<off_t>(m_written)) != 0) {
                fail(m_name + PENDING + ": truncate after a failed write", errno);
            }
            fail(m_name + PENDING + ": write", e);
            return false;
        }
        done += static_cast<std::size_t>(put);
    }
    m_written += n;
    return true;
}

// Both before the file takes a name a reader may see: after a power cut that name must not come
// back short, empty, or with the private mode.
int FileSink::settle(int fd) const {
    if (::fchmod(fd, m_config.fileMode) != 0)
        return errno;
    return m_config.fsync && ::fsync(fd) != 0 ? errno : 0;
}

int FileSink::settle(const std::string& path) const {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    const int rc = settle(fd);
    ::close(fd);
    return rc;
}

int FileSink::place(const std::string& pending, const std::string& finalName,
                    const std::string& suffix, std::string& location) {
    return completePending(pending, finalName, suffix, m_config.completedDir, m_config.fsync,
                           m_buffer.get(), m_config.bufferBytes, location);
}

ResumeOutcome FileSink::resume(const OpenFileRef& ref) {
    closeFd();
    m_buffered = 0;
    m_name = ref.name;
    m_suffix = ref.format.pcapng ? m_config.pcapngSuffix : m_config.suffix;
    const std::string pending = ref.name + PENDING;
    // A crash between the final chmod and the rename may have left it read-only.
    ::chmod(pending.c_str(), 0600);
    const int fd = ::open(pending.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            throw std::runtime_error("cannot reopen " + pending + ": " + std::strerror(errno));
        }
        m_lastError = pending + " vanished";
        if (exists(ref.name))
            return ResumeOutcome::AlreadyCompleted;
        if (!m_config.completedDir.empty() &&
            exists(m_config.completedDir + "/" + baseOf(ref.name))) {
            return ResumeOutcome::AlreadyCompleted;
        }
        return ResumeOutcome::Lost;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error("cannot stat " + pending + ": " + std::strerror(e));
    }
    if (static_cast<std::uint64_t>(st.st_size) < ref.bytes) {
        // Only a crash of the machine (no fsync before commit) or another writer does this.
        // Restarting would fail the same way: leave it to recoverLeftovers() and go on.
        ::close(fd);
        m_lastError = pending + " is shorter (" + std::to_string(st.st_size) +
                      " bytes) than its committed size " + std::to_string(ref.bytes);
        return ResumeOutcome::Lost;
    }
    // Bytes after the commit point were written by the run that crashed: they come again.
    if (::ftruncate(fd, static_cast<off_t>(ref.bytes)) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error("cannot truncate " + pending + ": " + std::strerror(e));
    }
    m_fd = fd;
    m_written = ref.bytes;
    return ResumeOutcome::Reopened;
}

std::vector<CompletedFile> FileSink::recoverLeftovers(const std::string& keep) {
    std::vector<CompletedFile> done;
    DIR* dir = ::opendir(m_config.directory.c_str());
    if (dir == nullptr)
        return done;
    std::vector<std::string> names;
    const std::string tail = m_config.suffix + PENDING;
    const std::string pcapngTail =
        m_config.pcapngSuffix.empty() ? tail : m_config.pcapngSuffix + PENDING;
    while (dirent* e = ::readdir(dir)) {
        const std::string n = e->d_name;
        if (n.rfind(m_config.filePrefix, 0) == 0 && (endsWith(n, tail) || endsWith(n, pcapngTail)))
            names.push_back(n);
    }
    ::closedir(dir);
    const std::string keepPending = keep.empty() ? std::string() : keep + PENDING;
    for (const std::string& n : names) {
        const std::string path = m_config.directory + "/" + n;
        if (path == keepPending || (!keepPending.empty() && baseOf(keepPending) == n))
            continue;
        RepairResult r;
        if (const int rc = repairPcap(path, m_buffer.get(), m_config.bufferBytes, r); rc != 0) {
            throw std::runtime_error("cannot repair leftover " + path + ": " + std::strerror(rc));
        }
        if (!r.validHeader && r.bytes > 0) {
            // Not a PCAP file we wrote: leave it for a human.
            done.push_back(CompletedFile{path + " (not a PCAP file, left as is)", r.bytes, 0});
            continue;
        }
        if (r.packets == 0) {
            // A file opened just before a crash: the same name is written again now.
            ::unlink(path.c_str());
            continue;
        }
        CompletedFile c{"", r.bytes, r.packets};
        const std::string finalName = path.substr(0, path.size() - PENDING.size());
        const std::string& suffix =
            endsWith(n, pcapngTail) && !endsWith(n, tail) ? m_config.pcapngSuffix : m_config.suffix;
        int rc = settle(path);
        if (rc == 0)
            rc = place(path, finalName, suffix, c.location);
        if (rc != 0) {
            throw std::runtime_error("cannot complete leftover " + path + ": " + std::strerror(rc));
        }
        done.push_back(c);
    }
    return done;
}

IoStatus FileSink::open(const std::string& stem, const std::string& suffix,
                        const FileFormat& format, std::string& chosenName) {
    closeFd();
    m_buffered = 0;
    m_written = 0;
    if (const int rc = makeDirectories(m_config.directory); rc != 0) {
        return fail("cannot create " + m_config.directory, rc);
    }
    for (unsigned counter = 0; counter < 100000; ++counter) {
        const std::string name = withCounter(stem, counter, suffix);
        if (exists(name))
            continue;
        if (!m_config.completedDir.empty() && exists(m_config.completedDir + "/" + baseOf(name))) {
            continue;
        }
        const std::string pending = name + PENDING;
        const int fd = ::open(pending.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return fail("cannot create " + pending, errno);
        }
        m_fd = fd;
        m_name = name;
        m_suffix = suffix;
        chosenName = name;
        if (format.pcapng) {
            writePcapngFileHeader(m_buffer.get(), format.linkType, format.snaplen);
        } else {
            PcapFileHeader header;
            header.snaplen = format.snaplen;
            header.linkType = format.linkType;
            std::memcpy(m_buffer.get(), &header, sizeof header);
        }
        m_buffered = fileHeaderBytes(format);
        return IoStatus::Ok;
    }
    return fail("no free name for " + stem + suffix, EEXIST);
}

IoStatus FileSink::append(const std::byte* data, std::size_t n) {
    // A large run (a whole unfiltered batch) goes to the kernel from where it is, the ring:
    // copying it into the buffer first would only add a pass over every byte.
    if (n >= DIRECT_WRITE_BYTES || n > m_config.bufferBytes - m_buffered) {
        if (flush() != IoStatus::Ok)
            return IoStatus::Retry;
        if (n >= DIRECT_WRITE_BYTES || n >= m_config.bufferBytes)
            return writeAt(data, n) ? IoStatus::Ok : IoStatus::Retry;
    }
    std::memcpy(m_buffer.get() + m_buffered, data, n);
    m_buffered += n;
    return IoStatus::Ok;
}

IoStatus FileSink::flush() {
    if (m_buffered == 0)
        return IoStatus::Ok;
    if (!writeAt(m_buffer.get(), m_buffered))
        return IoStatus::Retry;
    m_buffered = 0;
    return IoStatus::Ok;
}

IoStatus FileSink::rollBack(std::uint64_t bytes) {
    if (bytes >= m_written) {
        if (bytes - m_written <= m_buffered)
            m_buffered = static_cast<std::size_t>(bytes - m_written);
        return IoStatus::Ok;
    }
    if (::ftruncate(m_fd, static_cast<off_t>(bytes)) != 0)
        return fail(m_name + PENDING + ": cut back a lapped batch", errno);
    m_written = bytes;
    m_buffered = 0;
    return IoStatus::Ok;
}

IoStatus FileSink::complete(CompletedFile& done) {
    const std::string pending = m_name + PENDING;
    if (!m_placedAt.empty())
        return placed(done, finishPlacing(pending, m_placedAt, m_config.fsync), m_placedAt);
    if (flush() != IoStatus::Ok)
        return IoStatus::Retry;
    done.bytes = m_written;
    // No fd: an earlier failed completion could not reopen the file (it may be gone).
    int rc = m_fd >= 0 ? settle(m_fd) : settle(pending);
    std::string location;
    if (rc == 0) {
        closeFd();
        rc = place(pending, m_name, m_suffix, location);
    }
    return placed(done, rc, location);
}

IoStatus FileSink::placed(CompletedFile& done, int rc, const std::string& location) {
    if (rc == 0) {
        m_placedAt.clear();
        done.location = location;
        return IoStatus::Ok;
    }
    if (!location.empty()) {
        // Announcing it now would promise what a power cut could still take back.
        m_placedAt = location;
        return fail("cannot sync the directory of " + location, rc);
    }
    if (rc == ENOENT) {
        // Someone removed the pending file (or its directory): nothing left to complete.
        m_lastError = m_name + PENDING + " vanished before completion";
        done.location.clear();
        return IoStatus::Ok;
    }
    // Reopen so a retry (or a restart) finds the file as it was.
    closeFd();
    m_fd = ::open((m_name + PENDING).c_str(), O_WRONLY | O_CLOEXEC);
    return fail("cannot complete " + m_name, rc);
}

}  // namespace pushcap::workers
