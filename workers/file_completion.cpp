#include "workers/file_completion.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "router/ring_layout.hpp"
#include "workers/pcap_format.hpp"
#include "workers/pcapng_format.hpp"

namespace pushcap::workers {
namespace {

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// rename(2) that never replaces an existing file. 0 or errno.
int renameNoReplace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    // Filesystems without RENAME_NOREPLACE (some NFS): link refuses an existing name too.
    if (::link(from.c_str(), to.c_str()) != 0)
        return errno;
    ::unlink(from.c_str());
    return 0;
}

std::string dirOf(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseOf(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A rename is only on disk once its directory is: without this a power cut can bring back the
// `.pending` name (or neither) after a reader already saw the final one. 0 or an errno.
int fsyncDir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = ::fsync(fd) == 0 ? 0 : errno;
    // Filesystems that cannot sync a directory say so with EINVAL: nothing more can be done.
    if (rc == EINVAL)
        rc = 0;
    ::close(fd);
    return rc;
}

// Moves `from` into place under `stem`[_N]`suffix`, trying counters on a clash.
int placeUnique(const std::string& from, const std::string& stem, const std::string& suffix,
                std::string& location) {
    for (unsigned counter = 0; counter < 100000; ++counter) {
        const std::string to = withCounter(stem, counter, suffix);
        const int rc = renameNoReplace(from, to);
        if (rc == 0) {
            location = to;
            return 0;
        }
        if (rc != EEXIST)
            return rc;
    }
    return EEXIST;
}

int copyFile(const std::string& from, const std::string& to, bool durable, std::byte* scratch,
             std::size_t n) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    struct stat st;
    if (::fstat(in, &st) != 0) {
        const int e = errno;
        ::close(in);
        return e;
    }
    // A copy interrupted by a crash is simply redone (unlinked first: it may be read-only).
    ::unlink(to.c_str());
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        const int e = errno;
        ::close(in);
        return e;
    }
    // The copy gets the mode the worker gave the file it copies.
    int rc = ::fchmod(out, st.st_mode & 07777) == 0 ? 0 : errno;
    while (rc == 0) {
        const ssize_t got = ::read(in, scratch, n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            break;
        }
        if (got == 0)
            break;
        ssize_t done = 0;
        while (done < got) {
            const ssize_t put = ::write(out, scratch + done, static_cast<std::size_t>(got - done));
            if (put < 0) {
                if (errno == EINTR)
                    continue;
                rc = errno;
                break;
            }
            done += put;
        }
        if (rc != 0)
            break;
    }
    if (rc == 0 && durable && ::fsync(out) != 0)
        rc = errno;
    ::close(in);
    if (::close(out) != 0 && rc == 0)
        rc = errno;
    if (rc != 0)
        ::unlink(to.c_str());
    return rc;
}

}  // namespace

std::string withCounter(const std::string& stem, unsigned counter, const std::string& suffix) {
    if (counter == 0)
        return stem + suffix;
    return stem + "_" + std::to_string(counter) + suffix;
}

int makeDirectories(const std::string& dir) {
    if (dir.empty() || dir == "." || dir == "/")
        return 0;
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    const int parent = makeDirectories(dirOf(dir));
    if (parent != 0)
        return parent;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

int completePending(const std::string& pending, const std::string& finalName,
                    const std::string& suffix, const std::string& completedDir, bool durable,
                    std::byte* scratch, std::size_t scratchBytes, std::string& location) {
    location.clear();
    if (!exists(pending))
        return ENOENT;
    std::string stem = finalName;
    std::string sfx;
    if (!suffix.empty() && finalName.size() >= suffix.size() &&
        finalName.compare(finalName.size() - suffix.size(), suffix.size(), suffix) == 0) {
        stem = finalName.substr(0, finalName.size() - suffix.size());
        sfx = suffix;
    }
    std::string destStem = stem;
    if (!completedDir.empty()) {
        if (const int rc = makeDirectories(completedDir); rc != 0)
            return rc;
        destStem = completedDir + "/" + baseOf(stem);
    }
    int rc = placeUnique(pending, destStem, sfx, location);
    if (rc == 0)
        return finishPlacing(pending, location, durable);
    if (rc != EXDEV || completedDir.empty())
        return rc;
    // Another filesystem: the copy is complete (and synced) before it gets a final name.
    const std::string temp = completedDir + "/" + baseOf(finalName) + ".pending";
    if ((rc = copyFile(pending, temp, durable, scratch, scratchBytes)) != 0)
        return rc;
    if ((rc = placeUnique(temp, destStem, sfx, location)) != 0)
        return rc;
    return finishPlacing(pending, location, durable);
}

int finishPlacing(const std::string& pending, const std::string& location, bool durable) {
    if (durable) {
        if (const int rc = fsyncDir(dirOf(location)); rc != 0)
            return rc;
    }
    // Still there after a cross-filesystem copy: it goes only once the copy's name is durable.
    if (exists(pending))
        ::unlink(pending.c_str());
    if (!durable || dirOf(pending) == dirOf(location))
        return 0;
    return fsyncDir(dirOf(pending));
}

namespace {

// Walks whole records from `good` on, `headBytes` at a time through `scratch`; `lengthOf` gives a
// record's full length from its head (0: not a record). Returns 0 or an errno; `good` ends after
// the last whole record.
template <typename LengthOf>
int walkRecords(int fd, std::uint64_t size, std::size_t headBytes, LengthOf lengthOf,
                std::byte* scratch, std::size_t scratchBytes, std::uint64_t& good,
                std::uint64_t& records) {
    std::uint64_t chunkStart = 0;
    std::uint64_t chunkLen = 0;
    while (good + headBytes <= size) {
        if (good < chunkStart || good + headBytes > chunkStart + chunkLen) {
            const ssize_t got = ::pread(fd, scratch, scratchBytes, static_cast<off_t>(good));
            if (got < 0)
                return errno;
            chunkStart = good;
            chunkLen = static_cast<std::uint64_t>(got);
            if (chunkLen < headBytes)
                break;
        }
        const std::uint64_t length = lengthOf(scratch + (good - chunkStart));
        if (length == 0 || good + length > size)
            break;
        good += length;
        ++records;
    }
    return 0;
}

}  // namespace

int repairPcap(const std::string& path, std::byte* scratch, std::size_t scratchBytes,
               RepairResult& result) {
    result = RepairResult{};
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return e;
    }
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    std::byte head[PCAPNG_FILE_HEADER_BYTES];
    const ssize_t headLen = size < PCAP_FILE_HEADER_BYTES ? 0 : ::pread(fd, head, sizeof head, 0);
    std::uint32_t magic = 0;
    if (headLen >= 4)
        std::memcpy(&magic, head, sizeof magic);
    std::uint64_t good = 0;
    int rc = 0;
    if (magic == PCAP_MAGIC_NS || magic == PCAP_MAGIC_US) {
        good = PCAP_FILE_HEADER_BYTES;
        rc = walkRecords(
            fd, size, sizeof(router::PcapRecordHeader),
            [](const std::byte* p) -> std::uint64_t {
                router::PcapRecordHeader rec;
                std::memcpy(&rec, p, sizeof rec);
                return rec.caplen > router::MAX_CAPLEN ? 0 : sizeof rec + rec.caplen;
            },
            scratch, scratchBytes, good, result.packets);
    } else if (magic == PCAPNG_SHB_TYPE && headLen == static_cast<ssize_t>(sizeof head)) {
        // Only the files this worker writes: SHB + IDB, then Enhanced Packet Blocks.
        good = PCAPNG_FILE_HEADER_BYTES;
        rc = walkRecords(
            fd, size, 8,
            [](const std::byte* p) -> std::uint64_t {
                std::uint32_t type, length;
                std::memcpy(&type, p, 4);
                std::memcpy(&length, p + 4, 4);
                const bool whole = type == PCAPNG_EPB_TYPE && length % 4 == 0 &&
                                   length >= pcapngPacketBytes(0) &&
                                   length <= pcapngPacketBytes(router::MAX_CAPLEN);
                return whole ? length : 0;
            },
            scratch, scratchBytes, good, result.packets);
    } else {
        ::close(fd);
        result.bytes = size;
        return 0;
    }
    result.validHeader = true;
    if (rc == 0 && good != size && ::ftruncate(fd, static_cast<off_t>(good)) != 0)
        rc = errno;
    ::close(fd);
    result.bytes = good;
    return rc;
}

}  // namespace pushcap::workers
