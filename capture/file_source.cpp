#include "capture/file_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pushcap::capture {
namespace {

constexpr std::uint32_t CURSOR_MAGIC = 0x31464350;  // "PCF1"
constexpr std::size_t CURSOR_BYTES = 40;
constexpr std::size_t CHUNK_BYTES = 4 << 20;
constexpr std::uint32_t MAX_BLOCK = 16 << 20;  // far above any real pcapng block
constexpr unsigned PACKETS_PER_PUMP = 8192;
constexpr unsigned BATCHES_PER_PUMP = 16;

constexpr std::uint32_t PCAP_US = 0xa1b2c3d4, PCAP_NS = 0xa1b23c4d;
constexpr std::uint32_t NG_SHB = 0x0A0D0D0A, NG_IDB = 1, NG_PB = 2, NG_SPB = 3, NG_EPB = 6;
constexpr std::uint32_t NG_BOM = 0x1A2B3C4D;

std::uint32_t load32(const std::byte* p, bool swap) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}
std::uint16_t load16(const std::byte* p, bool swap) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

void putU32(std::uint8_t* p, std::uint32_t v) {
    std::memcpy(p, &v, 4);
}
void putU64(std::uint8_t* p, std::uint64_t v) {
    std::memcpy(p, &v, 8);
}
std::uint32_t getU32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
std::uint64_t getU64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

}  // namespace

// Sequential reads in large chunks; records are parsed in place. need() compacts and refills,
// so a record that straddles two chunks is still contiguous. The chunk buffer is allocated on the
// first need(): a pcap file pushed in bulk (readInto) never needs it.
class ChunkReader {
  public:
    explicit ChunkReader(const std::string& path) : m_path(path) {
        m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0)
            throw std::runtime_error("file " + path + ": cannot open: " + std::strerror(errno));
        struct stat st {};
        if (::fstat(m_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(m_fd);
            throw std::runtime_error("file " + path + ": not a regular file");
        }
        ::posix_fadvise(m_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    ~ChunkReader() { ::close(m_fd); }
    ChunkReader(const ChunkReader&) = delete;
    ChunkReader& operator=(const ChunkReader&) = delete;

    // True if `n` bytes are available at the current position; false at end of file (or on a
    // read error, see readError()).
    bool need(std::size_t n) noexcept {
        if (m_end - m_pos >= n)
            return true;
        if (m_eof)
            return false;
        if (m_pos != 0) {
            std::memmove(m_buf.data(), m_buf.data() + m_pos, m_end - m_pos);
            m_base += m_pos;
            m_end -= m_pos;
            m_pos = 0;
        }
        if (m_buf.size() < std::max(n, CHUNK_BYTES))
            m_buf.resize(std::max(n, CHUNK_BYTES));  // n: only for blocks above CHUNK_BYTES
        while (m_end < n) {
            const std::size_t got = readSome(m_buf.data() + m_end, m_buf.size() - m_end);
            if (got == 0)
                return false;
            m_end += got;
        }
        return true;
    }
    // Copies up to `n` bytes from the current position to `dst`, bytes already buffered first, the
    // rest read(2) straight into `dst`: the bulk path's only copy. Fewer than `n` only at the end
    // of the file or on a read error (then see readError()).
    std::size_t readInto(std::byte* dst, std::size_t n) noexcept {
        std::size_t done = std::min(n, m_end - m_pos);
        if (done != 0)
            std::memcpy(dst, m_buf.data() + m_pos, done);
        m_pos += done;
        if (m_pos == m_end) {
            m_base += m_end;
            m_pos = m_end = 0;
        }
        while (done < n && !m_eof) {
            const std::size_t got = readSome(dst + done, n - done);
            if (got == 0)
                break;
            done += got;
            m_base += got;
        }
        return done;
    }
    // Gives back the last `n` bytes readInto() handed out (`src` holds them), so the position is
    // right after what the caller took.
    void unread(const std::byte* src, std::size_t n) {
        if (n == 0)
            return;
        if (m_end != 0) {
            m_pos -= n;  // they all came from the buffer, which still holds them
            return;
        }
        if (n > m_buf.size())
            m_buf.resize(std::max(n, CHUNK_BYTES));
        std::memcpy(m_buf.data(), src, n);
        m_end = n;
        m_base -= n;
    }
    // The file's magic (first 4 bytes, file byte order) without moving the position; false if the
    // file is shorter.
    bool magic(std::uint32_t& out) const noexcept { return ::pread(m_fd, &out, 4, 0) == 4; }
    const std::byte* data() const { return m_buf.data() + m_pos; }
    std::size_t available() const { return m_end - m_pos; }
    void advance(std::size_t n) { m_pos += n; }
    std::uint64_t offset() const { return m_base + m_pos; }
    int readError() const { return m_readError; }

    void seek(std::uint64_t offset) {
        if (::lseek(m_fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
            throw std::runtime_error("file " + m_path + ": cannot seek to " +
                                     std::to_string(offset));
        }
        m_base = offset;
        m_pos = m_end = 0;
        m_eof = false;
    }

  private:
    // One read(2), retried on EINTR; 0 at the end of the file or on an error (kept for
    // readError()), after which the reader is at its end.
    std::size_t readSome(std::byte* dst, std::size_t n) noexcept {
        for (;;) {
            const ssize_t got = ::read(m_fd, dst, n);
            if (got > 0)
                return static_cast<std::size_t>(got);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                m_readError = errno;
            m_eof = true;
            return 0;
        }
    }

    std::string m_path;
    int m_fd = -1;
    std::vector<std::byte> m_buf;
    std::size_t m_pos = 0, m_end = 0;
    std::uint64_t m_base = 0;  // file offset of m_buf[0]
    bool m_eof = false;
    int m_readError = 0;
};

std::uint64_t FileSource::bytesDone() const {
    if (m_index >= m_files.size())
        return bytesTotal();  // past the last file
    std::uint64_t done = m_doneOffset;
    for (std::size_t i = 0; i < m_index && i < m_fileSizes.size(); ++i)
        done += m_fileSizes[i];
    return done;
}

std::uint64_t FileSource::bytesTotal() const {
    std::uint64_t total = 0;
    for (std::uint64_t size : m_fileSizes)
        total += size;
    return total;
}

FileSource::FileSource(std::vector<std::string> files, std::span<const std::uint8_t> cursor,
                       double realtime, const std::atomic<bool>& stop)
    : m_files(std::move(files)), m_realtime(realtime), m_stop(stop) {
    if (m_files.empty())
        throw std::runtime_error("no --file given");
    m_listHash = 0xcbf29ce484222325ULL;
    for (const std::string& f : m_files)
        m_listHash = fnv1a(m_listHash, f.c_str(), f.size() + 1);
    // Fail at start-up, not halfway through the push, if a later file is unusable.
    for (const std::string& f : m_files) {
        struct stat st {};
        m_fileSizes.push_back(::stat(f.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size)
                                                          : 0);
        const ChunkReader r(f);
        std::uint32_t magic = 0;
        if (!r.magic(magic))
            throw std::runtime_error("file " + f + ": empty or shorter than a file header");
        const bool known = magic == PCAP_US || magic == PCAP_NS ||
                           magic == __builtin_bswap32(PCAP_US) ||
                           magic == __builtin_bswap32(PCAP_NS) || magic == NG_SHB;
        if (!known) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "0x%08x", magic);
            throw std::runtime_error("file " + f + ": not a pcap or pcapng file (magic " + hex +
                                     ")");
        }
    }
    std::size_t index = 0;
    std::uint64_t offset = 0, inFile = 0;
    if (!cursor.empty()) {
        if (cursor.size() != CURSOR_BYTES || getU32(cursor.data()) != CURSOR_MAGIC) {
            throw std::runtime_error("the ring's resume cursor was not written by a file push");
        }
        if (getU64(cursor.data() + 8) != m_listHash) {
            throw std::runtime_error(
                "the ring holds a push of another file list; use a fresh ring or the same --file "
                "list");
        }
        index = getU32(cursor.data() + 4);
        offset = getU64(cursor.data() + 16);
        inFile = getU64(cursor.data() + 24);
        m_totalPackets = getU64(cursor.data() + 32);
        if (index > m_files.size())
            throw std::runtime_error("the ring's resume cursor names file index " +
                                     std::to_string(index));
        m_resumed = true;
    }
    m_index = index;
    if (m_index < m_files.size())
        openFile(m_index, offset, inFile);
}

FileSource::~FileSource() = default;

std::string FileSource::describe() const {
    return m_index < m_files.size() ? "file " + m_files[m_index] : "files (done)";
}

std::size_t FileSource::writeCursor(std::span<std::uint8_t> out) const {
    if (out.size() < CURSOR_BYTES)
        return 0;
    putU32(out.data(), CURSOR_MAGIC);
    putU32(out.data() + 4, static_cast<std::uint32_t>(m_index));
    putU64(out.data() + 8, m_listHash);
    putU64(out.data() + 16, m_doneOffset);
    putU64(out.data() + 24, m_filePackets);
    putU64(out.data() + 32, m_totalPackets);
    return CURSOR_BYTES;
}

void FileSource::openFile(std::size_t index, std::uint64_t offset, std::uint64_t packetsInFile) {
    const std::string& path = m_files[index];
    m_reader = std::make_unique<ChunkReader>(path);
    m_filePackets = 0;
    m_skipUntil = 0;
    m_skipPackets = 0;
    m_skippedSoFar = 0;
    m_haveSection = false;
    m_ifaces.clear();
    std::uint32_t magic = 0;
    if (!m_reader->magic(magic))
        throw std::runtime_error("file " + path + ": empty");
    if (magic == NG_SHB) {
        m_format = Format::Pcapng;
        m_doneOffset = 0;
        // pcapng must be re-read from the start to know the sections and interfaces; packets
        // before the cursor are parsed but not delivered again.
        m_skipUntil = offset;
        m_skipPackets = packetsInFile;
        return;
    }
    m_format = Format::Pcap;
    std::byte h[24];
    if (m_reader->readInto(h, sizeof h) != sizeof h)
        throw std::runtime_error("file " + path + ": truncated pcap file header");
    m_swap = magic == __builtin_bswap32(PCAP_US) || magic == __builtin_bswap32(PCAP_NS);
    const std::uint32_t native = m_swap ? __builtin_bswap32(magic) : magic;
    m_nanos = native == PCAP_NS;
    const std::uint16_t major = load16(h + 4, m_swap);
    if (major != 2)
        throw std::runtime_error("file " + path + ": unsupported pcap version " +
                                 std::to_string(major));
    m_pcapIface = Interface{};
    m_pcapIface.snaplen = load32(h + 16, m_swap);
    m_pcapIface.linkType = load32(h + 20, m_swap) & 0xffff;  // upper bits: FCS length flags
    m_doneOffset = 24;
    if (offset > 24) {
        m_reader->seek(offset);
        m_doneOffset = offset;
        m_filePackets = packetsInFile;
    }
}

PumpStatus FileSource::damage(const char* what, std::uint64_t offset, std::uint64_t value) {
    m_error = "file " + m_files[m_index] + ": " + what;
    if (value != ~0ULL)
        m_error += " (" + std::to_string(value) + ")";
    m_error += " at byte offset " + std::to_string(offset);
    if (m_reader && m_reader->readError() != 0)
        m_error += std::string(": ") + std::strerror(m_reader->readError());
    m_error +=
        "; " + std::to_string(m_filePackets) + " packets of this file were delivered before it";
    return PumpStatus::Failed;
}

PumpStatus FileSource::pump(Batcher& batcher) {
    if (m_index >= m_files.size())
        return PumpStatus::End;
    const PumpStatus st = m_format == Format::Pcap ? pumpPcap(batcher) : pumpPcapng(batcher);
    if (st != PumpStatus::End)
        return st;
    if (m_format == Format::Pcapng && m_doneOffset < m_skipUntil) {
        return damage("file ends before the ring's resume offset", m_reader->offset(), m_skipUntil);
    }
    // Next file. The cursor moves to it only with the next published packet, which is exact:
    // the rest of this file held no packet.
    ++m_index;
    if (m_index >= m_files.size()) {
        m_reader.reset();
        return PumpStatus::End;
    }
    try {
        openFile(m_index, 0, 0);
    } catch (const std::exception& e) {
        m_error = e.what();
        return PumpStatus::Failed;
    }
    return PumpStatus::Progress;
}

bool FileSource::pace(Batcher& batcher, std::uint64_t tsNs) {
    const std::uint64_t now = monotonicNowNs();
    if (!m_paceStarted) {
        m_paceStarted = true;
        m_paceTs = tsNs;
        m_paceWall = now;
        return true;
    }
    const std::uint64_t delta = tsNs > m_paceTs ? tsNs - m_paceTs : 0;
    const std::uint64_t due = m_paceWall + static_cast<std::uint64_t>(double(delta) / m_realtime);
    if (due <= now + 50'000)
        return true;
    batcher.flush();  // what is due now must not wait behind the pause
    for (std::uint64_t t = now; t < due; t = monotonicNowNs()) {
        if (m_stop.load(std::memory_order_relaxed))
            return false;
        const std::uint64_t until = std::min(due, t + 50'000'000);
        timespec ts{static_cast<time_t>(until / 1'000'000'000ULL),
                    static_cast<long>(until % 1'000'000'000ULL)};
        ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
    return true;
}

router::BatchMeta FileSource::metaFor(const Interface& iface, std::uint16_t sourceId) {
    return router::BatchMeta{iface.linkType,
                             iface.snaplen == 0 || iface.snaplen > router::MAX_CAPLEN
                                 ? router::MAX_CAPLEN
                                 : iface.snaplen,
                             sourceId};
}

PumpStatus FileSource::emit(Batcher& batcher, std::uint16_t sourceId, const Interface& iface,
                            std::uint64_t tsNs, const std::byte* data, std::uint32_t captured,
                            std::uint32_t wire, std::uint64_t endOffset) {
    if (m_realtime > 0 && !pace(batcher, tsNs))
        return PumpStatus::Stopped;
    const router::BatchMeta meta = metaFor(iface, sourceId);
    std::uint32_t cap = captured;
    std::byte* dst = batcher.reserve(meta, cap);
    if (dst == nullptr)
        return PumpStatus::Stopped;
    const router::PcapRecordHeader h{static_cast<std::uint32_t>(tsNs / 1'000'000'000ULL),
                                     static_cast<std::uint32_t>(tsNs % 1'000'000'000ULL), cap,
                                     wire};
    std::memcpy(dst, &h, sizeof h);
    std::memcpy(dst + sizeof h, data, cap);
    batcher.commit(cap);
    m_doneOffset = endOffset;
    ++m_filePackets;
    ++m_totalPackets;
    return PumpStatus::Progress;
}

// A pcap record header's time stamp in nanoseconds (fraction not yet normalised).
std::uint64_t FileSource::pcapTimeNs(const std::byte* h) const {
    const std::uint32_t sec = load32(h, m_swap);
    const std::uint32_t frac = load32(h + 4, m_swap);
    return std::uint64_t(sec) * 1'000'000'000ULL + (m_nanos ? frac : std::uint64_t(frac) * 1000);
}

// A pcap record's header as the ring holds it: nanoseconds, normalised, native byte order (what
// emit() writes).
void FileSource::ringHeader(std::byte* h) const {
    const std::uint64_t ts = pcapTimeNs(h);
    const router::PcapRecordHeader out{static_cast<std::uint32_t>(ts / 1'000'000'000ULL),
                                       static_cast<std::uint32_t>(ts % 1'000'000'000ULL),
                                       load32(h + 8, m_swap), load32(h + 12, m_swap)};
    std::memcpy(h, &out, sizeof out);
}

// A pcap file's records are already the ring's records (16-byte header, then the data), so
// without pacing they are read(2) straight into the open batch and walked in place; only headers
// that differ (microseconds, the other byte order) are rewritten there. That is one copy of each
// byte instead of two (into a buffer, then into the ring), and no per-record copy call.
// What the walk cannot take whole (the end of the file, a read error, damage, a record larger
// than a batch) goes back to the reader for the per-record path, which reports it as before.
FileSource::Bulk FileSource::pumpPcapBulk(Batcher& batcher) {
    ChunkReader& r = *m_reader;
    const router::BatchMeta meta = metaFor(m_pcapIface, 0);
    const bool rewrite = m_swap || !m_nanos;
    for (unsigned batch = 0; batch < BATCHES_PER_PUMP; ++batch) {
        const std::span<std::byte> space = batcher.space(meta);
        if (space.empty())
            return Bulk::Stopped;
        std::byte* const base = space.data();
        const std::size_t got = r.readInto(base, space.size());
        std::size_t at = 0;
        std::uint32_t packets = 0;
        std::uint64_t captured = 0;
        bool damaged = false;
        while (got - at >= 16) {
            std::byte* const h = base + at;
            const std::uint32_t caplen = load32(h + 8, m_swap);
            if (caplen > router::MAX_CAPLEN) {
                damaged = true;
                break;
            }
            if (got - at - 16 < caplen)
                break;
            if (rewrite || load32(h + 4, false) >= 1'000'000'000u)
                ringHeader(h);
            at += 16 + std::size_t(caplen);
            ++packets;
            captured += caplen;
        }
        r.unread(base + at, got - at);
        if (packets != 0) {
            batcher.commitRecords(static_cast<std::uint32_t>(at), packets, captured);
            m_doneOffset = r.offset();
            m_filePackets += packets;
            m_totalPackets += packets;
        }
        if (damaged || got < space.size())
            return Bulk::Fallback;
        // The batch is full up to a record that does not fit in the rest of it.
        if (packets == 0 && !batcher.pending())
            return Bulk::Fallback;  // larger than a whole batch: the per-record path cuts it
        batcher.flush();
    }
    return Bulk::Delivered;
}

PumpStatus FileSource::pumpPcap(Batcher& batcher) {
    if (m_realtime <= 0) {
        const Bulk b = pumpPcapBulk(batcher);
        if (b == Bulk::Delivered)
            return PumpStatus::Progress;
        if (b == Bulk::Stopped)
            return PumpStatus::Stopped;
    }
    ChunkReader& r = *m_reader;
    for (unsigned n = 0; n < PACKETS_PER_PUMP; ++n) {
        if (!r.need(16)) {
            if (r.available() == 0 && r.readError() == 0)
                return PumpStatus::End;
            return damage("truncated record header", r.offset());
        }
        const std::byte* p = r.data();
        const std::uint32_t caplen = load32(p + 8, m_swap);
        const std::uint32_t wire = load32(p + 12, m_swap);
        if (caplen > router::MAX_CAPLEN)
            return damage("impossible record length", r.offset(), caplen);
        if (!r.need(16 + std::size_t(caplen)))
            return damage("truncated packet data", r.offset(), caplen);
        p = r.data();
        const std::uint64_t ts = pcapTimeNs(p);
        const std::uint64_t end = r.offset() + 16 + caplen;
        const PumpStatus st = emit(batcher, 0, m_pcapIface, ts, p + 16, caplen, wire, end);
        if (st != PumpStatus::Progress)
            return st;
        r.advance(16 + std::size_t(caplen));
    }
    return PumpStatus::Progress;
}

bool FileSource::parseInterface(const std::byte* body, std::uint32_t bodyLen, Interface& out) {
    if (bodyLen < 8)
        return false;
    out = Interface{};
    out.linkType = load16(body, m_swap);
    out.snaplen = load32(body + 4, m_swap);
    out.factor = 1000;  // default resolution: microseconds
    std::uint32_t at = 8;
    while (at + 4 <= bodyLen) {
        const std::uint16_t code = load16(body + at, m_swap);
        const std::uint16_t len = load16(body + at + 2, m_swap);
        if (code == 0)
            break;
        if (at + 4 + len > bodyLen)
            return false;
        const std::byte* v = body + at + 4;
        if (code == 9 && len >= 1) {
            const auto res = static_cast<unsigned>(v[0]);
            if (res & 0x80) {
                if ((res & 0x7f) > 63)
                    return false;
                out.mode = 2;
                out.shift = res & 0x7f;
            } else {
                if (res > 19)
                    return false;
                std::uint64_t f = 1;
                for (unsigned i = 0; i < (res <= 9 ? 9 - res : res - 9); ++i)
                    f *= 10;
                out.mode = res <= 9 ? 0 : 1;
                out.factor = f;
            }
        } else if (code == 14 && len >= 8) {
            std::uint64_t off;
            std::memcpy(&off, v, 8);
            out.offsetSec = static_cast<std::int64_t>(m_swap ? __builtin_bswap64(off) : off);
        }
        at += 4 + ((len + 3u) & ~3u);
    }
    return true;
}

PumpStatus FileSource::pumpPcapng(Batcher& batcher) {
    ChunkReader& r = *m_reader;
    for (unsigned n = 0; n < PACKETS_PER_PUMP; ++n) {
        if (!r.need(12)) {
            if (r.available() == 0 && r.readError() == 0)
                return PumpStatus::End;
            return damage("truncated block header", r.offset());
        }
        const std::uint64_t at = r.offset();
        const std::byte* p = r.data();
        std::uint32_t type = load32(p, m_swap);
        if (type == NG_SHB) {
            const std::uint32_t bom = load32(p + 8, false);
            if (bom == NG_BOM) {
                m_swap = false;
            } else if (bom == __builtin_bswap32(NG_BOM)) {
                m_swap = true;
            } else {
                return damage("bad section byte-order magic", at);
            }
        } else if (!m_haveSection) {
            return damage("pcapng data before the first section header", at);
        }
        const std::uint32_t len = load32(p + 4, m_swap);
        if (len < 12 || len % 4 != 0 || len > MAX_BLOCK)
            return damage("impossible block length", at, len);
        if (!r.need(len))
            return damage("truncated block", at, len);
        p = r.data();
        if (load32(p + len - 4, m_swap) != len)
            return damage("block trailer does not match its length", at, len);
        const std::byte* body = p + 8;
        const std::uint32_t bodyLen = len - 12;
        const std::uint64_t end = at + len;

        if (type == NG_SHB) {
            if (bodyLen < 16 || load16(body + 4, m_swap) != 1)
                return damage("unsupported section header", at);
            m_haveSection = true;
            m_ifaces.clear();
        } else if (type == NG_IDB) {
            Interface iface;
            if (!parseInterface(body, bodyLen, iface) || m_ifaces.size() >= 65535) {
                return damage("bad interface description block", at);
            }
            m_ifaces.push_back(iface);
        } else if (type == NG_EPB || type == NG_PB || type == NG_SPB) {
            std::uint32_t ifIndex = 0, caplen = 0, wire = 0, dataAt = 0;
            std::uint64_t units = 0;
            if (type == NG_SPB) {
                if (bodyLen < 4)
                    return damage("short simple packet block", at);
                wire = load32(body, m_swap);
                dataAt = 4;
                caplen = std::min(wire, bodyLen - 4);
            } else {
                if (bodyLen < 20)
                    return damage("short packet block", at);
                ifIndex = type == NG_EPB ? load32(body, m_swap) : load16(body, m_swap);
                units = (std::uint64_t(load32(body + 4, m_swap)) << 32) | load32(body + 8, m_swap);
                caplen = load32(body + 12, m_swap);
                wire = load32(body + 16, m_swap);
                dataAt = 20;
                if (caplen > bodyLen - 20)
                    return damage("packet length exceeds its block", at, caplen);
            }
            if (ifIndex >= m_ifaces.size())
                return damage("packet names an undeclared interface", at, ifIndex);
            const Interface& iface = m_ifaces[ifIndex];
            if (type == NG_SPB && iface.snaplen != 0)
                caplen = std::min(caplen, iface.snaplen);
            if (caplen > router::MAX_CAPLEN)
                return damage("impossible packet length", at, caplen);
            if (at < m_skipUntil) {
                if (end > m_skipUntil)
                    return damage("the ring's resume offset is inside a block", at, m_skipUntil);
                ++m_skippedSoFar;
                ++m_filePackets;
                m_doneOffset = end;
                r.advance(len);
                continue;
            }
            if (m_skippedSoFar != m_skipPackets) {
                return damage("the file does not match the ring's resume cursor (packet count)", at,
                              m_skipPackets);
            }
            std::uint64_t ns;
            if (iface.mode == 0) {
                ns = units * iface.factor;
            } else if (iface.mode == 1) {
                ns = units / iface.factor;
            } else {
                ns = static_cast<std::uint64_t>(((unsigned __int128)units * 1'000'000'000ULL) >>
                                                iface.shift);
            }
            ns += static_cast<std::uint64_t>(iface.offsetSec * 1'000'000'000LL);
            const PumpStatus st = emit(batcher, static_cast<std::uint16_t>(ifIndex), iface, ns,
                                       body + dataAt, caplen, wire, end);
            if (st != PumpStatus::Progress)
                return st;
        }
        r.advance(len);
    }
    return PumpStatus::Progress;
}

}  // namespace pushcap::capture
