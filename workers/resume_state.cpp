#include "workers/resume_state.hpp"

#include <cstring>
#include <stdexcept>

#include "router/ring_layout.hpp"

namespace pushcap::workers {
namespace {

constexpr std::uint32_t BLOB_MAGIC = 0x57484350;  // "PCHW"
// 2 added the pcapng flag and the source session; 1 is still read.
constexpr std::uint32_t BLOB_VERSION = 2;

class Out {
  public:
    template <typename T>
    void put(T value) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
        m_bytes.insert(m_bytes.end(), p, p + sizeof value);
    }
    void putString(const std::string& s) {
        put(static_cast<std::uint32_t>(s.size()));
        m_bytes.insert(m_bytes.end(), s.begin(), s.end());
    }
    std::vector<std::uint8_t> take() { return std::move(m_bytes); }

  private:
    std::vector<std::uint8_t> m_bytes;
};

class In {
  public:
    explicit In(std::span<const std::uint8_t> bytes) : m_bytes(bytes) {}
    template <typename T>
    T get() {
        T value;
        need(sizeof value);
        std::memcpy(&value, m_bytes.data() + m_at, sizeof value);
        m_at += sizeof value;
        return value;
    }
    std::string getString() {
        const std::uint32_t n = get<std::uint32_t>();
        need(n);
        std::string s(reinterpret_cast<const char*>(m_bytes.data() + m_at), n);
        m_at += n;
        return s;
    }

  private:
    void need(std::size_t n) const {
        if (m_at + n > m_bytes.size())
            throw std::runtime_error("resume blob is truncated");
    }
    std::span<const std::uint8_t> m_bytes;
    std::size_t m_at = 0;
};

}  // namespace

std::vector<std::uint8_t> encodeResumeState(const ResumeState& s) {
    Out out;
    out.put(BLOB_MAGIC);
    out.put(BLOB_VERSION);
    out.put(s.skipPosition);
    out.put(s.skipPackets);
    const OpenFileState& f = s.file;
    out.put(static_cast<std::uint8_t>((f.open ? 1 : 0) | (f.completing ? 2 : 0) |
                                      (f.format.pcapng ? 4 : 0)));
    out.putString(f.name);
    out.put(f.format.linkType);
    out.put(f.format.snaplen);
    out.put(f.bytes);
    out.put(f.packets);
    out.put(f.firstTsNs);
    out.put(f.lastTsNs);
    out.put(f.period.startNs);
    out.put(f.period.endNs);
    out.put(f.openedUnixNs);
    out.put(f.session);
    std::vector<std::uint8_t> blob = out.take();
    if (blob.size() > router::CONSUMER_BLOB_BYTES) {
        throw std::runtime_error("resume state of " + std::to_string(blob.size()) +
                                 " bytes does not fit in the ring slot (file name too long)");
    }
    return blob;
}

std::optional<ResumeState> decodeResumeState(std::span<const std::uint8_t> blob) {
    if (blob.empty())
        return std::nullopt;
    In in(blob);
    const std::uint32_t magic = in.get<std::uint32_t>();
    const std::uint32_t version = in.get<std::uint32_t>();
    if (magic != BLOB_MAGIC || version == 0 || version > BLOB_VERSION)
        throw std::runtime_error("resume blob has an unknown format");
    ResumeState s;
    s.skipPosition = in.get<std::uint64_t>();
    s.skipPackets = in.get<std::uint32_t>();
    OpenFileState& f = s.file;
    const auto flags = in.get<std::uint8_t>();
    f.open = (flags & 1) != 0;
    f.completing = (flags & 2) != 0;
    f.format.pcapng = (flags & 4) != 0;
    f.name = in.getString();
    f.format.linkType = in.get<std::uint32_t>();
    f.format.snaplen = in.get<std::uint32_t>();
    f.bytes = in.get<std::uint64_t>();
    f.packets = in.get<std::uint64_t>();
    f.firstTsNs = in.get<std::uint64_t>();
    f.lastTsNs = in.get<std::uint64_t>();
    f.period.startNs = in.get<std::uint64_t>();
    f.period.endNs = in.get<std::uint64_t>();
    f.openedUnixNs = in.get<std::uint64_t>();
    if (version >= 2)
        f.session = in.get<std::uint16_t>();
    return s;
}

}  // namespace pushcap::workers
