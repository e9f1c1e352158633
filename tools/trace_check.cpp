#include "tools/trace_check.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "workers/pcap_format.hpp"

namespace pushcap::tools {
namespace {

constexpr std::size_t OSMO_MESSAGE_HEADER = 4;
constexpr std::size_t RECORD_HEADER = 16;

struct RecordHeader {
    std::uint32_t sec, frac, caplen, len;
};

RecordHeader headerAt(const char* p) {
    RecordHeader h;
    std::memcpy(&h, p, sizeof h);
    return h;
}

// Where each record of the sender's body starts (its 16-byte pcap record header).
std::vector<std::size_t> recordOffsets(const Stream& s) {
    std::vector<std::size_t> out;
    for (std::size_t at = 0; at < s.body.size();) {
        const std::size_t len =
            (std::size_t(std::uint8_t(s.body[at + 2])) << 8) | std::uint8_t(s.body[at + 3]);
        out.push_back(at + OSMO_MESSAGE_HEADER);
        at += OSMO_MESSAGE_HEADER + len;
    }
    return out;
}

// A file mapped read-only for one pass.
class MappedFile {
  public:
    explicit MappedFile(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || ::fstat(fd, &st) != 0) {
            const int error = errno;
            if (fd >= 0)
                ::close(fd);
            throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
        }
        m_size = std::size_t(st.st_size);
        if (m_size > 0) {
            void* p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                ::close(fd);
                throw std::runtime_error("cannot map " + path + ": " + std::strerror(errno));
            }
            ::madvise(p, m_size, MADV_SEQUENTIAL);
            m_data = static_cast<const char*>(p);
        }
        ::close(fd);
    }
    ~MappedFile() {
        if (m_data)
            ::munmap(const_cast<char*>(m_data), m_size);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const char* data() const { return m_data; }
    std::size_t size() const { return m_size; }

  private:
    const char* m_data = nullptr;
    std::size_t m_size = 0;
};

// Walks the stored records and the sent ones side by side.
class TraceComparer {
  public:
    TraceComparer(const Stream& sent, std::uint64_t sentPackets)
        : m_sent(sent), m_sentPackets(sentPackets), m_offsets(recordOffsets(sent)) {}

    void file(const std::string& path) {
        const MappedFile f(path);
        ++m_trace.files;
        workers::PcapFileHeader h;
        if (f.size() < sizeof h) {
            problem(path + ": " + std::to_string(f.size()) + " bytes, no pcap file header");
            return;
        }
        std::memcpy(&h, f.data(), sizeof h);
        if (h.magic != workers::PCAP_MAGIC_NS && h.magic != workers::PCAP_MAGIC_US) {
            problem(path + ": not a little-endian pcap file");
            return;
        }
        const std::uint32_t fracPerMicro = h.magic == workers::PCAP_MAGIC_NS ? 1000 : 1;
        std::size_t at = sizeof h;
        while (f.size() - at >= RECORD_HEADER) {
            const RecordHeader r = headerAt(f.data() + at);
            if (f.size() - at - RECORD_HEADER < r.caplen)
                break;
            record(r, f.data() + at + RECORD_HEADER, fracPerMicro);
            at += RECORD_HEADER + r.caplen;
        }
        if (at != f.size())
            problem(path + ": ends inside a record (" + std::to_string(f.size() - at) +
                    " bytes after the last whole one)");
    }

    StoredTrace finish() {
        if (m_matching && m_trace.packets != m_sentPackets) {
            m_matching = false;
            m_trace.firstDifference = std::min(m_trace.packets, m_sentPackets);
        }
        m_trace.exact = m_matching && m_trace.problem.empty();
        return m_trace;
    }

  private:
    void record(const RecordHeader& got, const char* data, std::uint32_t fracPerMicro) {
        const std::uint64_t index = m_trace.packets++;
        m_trace.dataBytes += got.caplen;
        m_trace.bytes += OSMO_MESSAGE_HEADER + RECORD_HEADER + got.caplen;
        if (m_matching && !sameAsSent(index, got, data, fracPerMicro)) {
            m_matching = false;
            m_trace.firstDifference = index;
        }
    }

    bool sameAsSent(std::uint64_t index, const RecordHeader& got, const char* data,
                    std::uint32_t fracPerMicro) const {
        if (index >= m_sentPackets)
            return false;  // more stored than sent
        const char* sent = m_sent.body.data() + m_offsets[index % m_offsets.size()];
        const RecordHeader want = headerAt(sent);
        return got.sec == want.sec &&
               std::uint64_t(got.frac) == std::uint64_t(want.frac) * fracPerMicro &&
               got.caplen == want.caplen && got.len == want.len &&
               std::memcmp(data, sent + RECORD_HEADER, got.caplen) == 0;
    }

    void problem(const std::string& what) {
        if (m_trace.problem.empty())
            m_trace.problem = what;
    }

    const Stream& m_sent;
    const std::uint64_t m_sentPackets;
    const std::vector<std::size_t> m_offsets;
    StoredTrace m_trace;
    bool m_matching = true;
};

}  // namespace

StoredTrace checkTrace(const std::vector<std::string>& files, const Stream& sent,
                       std::uint64_t sentPackets) {
    TraceComparer c(sent, sentPackets);
    for (const std::string& f : files)
        c.file(f);
    return c.finish();
}

}  // namespace pushcap::tools
