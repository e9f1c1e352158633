#include "tools/gen_traffic.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pushcap::tools {
namespace {

constexpr std::size_t POOL_BYTES = 1 << 16;

// splitmix64: tiny, fast, and identical on every platform (std distributions are not).
std::uint64_t splitmix(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void put16(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v);
}
void put32(std::byte* p, std::uint32_t v) {
    p[0] = std::byte(v >> 24);
    p[1] = std::byte(v >> 16);
    p[2] = std::byte(v >> 8);
    p[3] = std::byte(v);
}
void storeSum(std::byte* p, std::uint16_t folded) {
    // The sum was taken in memory order, so it is stored in memory order too (RFC 1071 2.B).
    const std::uint16_t v = static_cast<std::uint16_t>(~folded);
    std::memcpy(p, &v, 2);
}

constexpr std::uint8_t V4_POOLS[][2] = {{203, 0}, {198, 51}, {93, 184}, {142, 250}, {151, 101},
                                        {10, 20}, {172, 16}, {104, 16}, {185, 199}};

}  // namespace

std::uint64_t checksumAdd(std::uint64_t sum, const std::byte* data, std::size_t len) {
    std::size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        std::uint32_t w;
        std::memcpy(&w, data + i, 4);
        sum += w;
    }
    if (i + 2 <= len) {
        std::uint16_t w;
        std::memcpy(&w, data + i, 2);
        sum += w;
        i += 2;
    }
    if (i < len) {
        const std::byte tail[2] = {data[i], std::byte{0}};
        std::uint16_t w;
        std::memcpy(&w, tail, 2);
        sum += w;
    }
    return sum;
}

std::uint16_t checksumFold(std::uint64_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

TrafficGenerator::TrafficGenerator(const TrafficOptions& options)
    : m_state(options.seed * 0x2545F4914F6CDD1DULL + 0x1234567ULL), m_options(options) {
    m_pool.resize(POOL_BYTES + MAX_FRAME);
    for (std::size_t i = 0; i < m_pool.size(); i += 8) {
        const std::uint64_t r = random();
        std::memcpy(m_pool.data() + i, &r, std::min<std::size_t>(8, m_pool.size() - i));
    }
    m_flows.resize(512);
    for (Flow& f : m_flows) {
        std::memset(&f, 0, sizeof f);
        const std::uint64_t r = random();
        f.ipv6 = r % 100 < 22;
        const unsigned p = (r >> 8) % 100;
        f.proto = p < 60 ? 6 : p < 93 ? 17 : (f.ipv6 ? 58 : 1);
        static constexpr std::uint16_t VLANS[] = {10, 20, 100, 200, 4000};
        f.vlan = (r >> 16) % 100 < options.vlanPercent ? VLANS[(r >> 24) % 5] : 0;
        const std::uint64_t m1 = random(), m2 = random();
        std::memcpy(f.srcMac, &m1, 6);
        std::memcpy(f.dstMac, &m2, 6);
        f.srcMac[0] = (f.srcMac[0] & 0xfe) | 0x02;  // unicast, locally administered
        f.dstMac[0] = (f.dstMac[0] & 0xfe) | 0x02;
        const std::uint64_t a = random(), b = random();
        if (f.ipv6) {
            const std::uint8_t prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
            std::memcpy(f.srcIp, prefix, 4);
            std::memcpy(f.dstIp, prefix, 4);
            std::memcpy(f.srcIp + 4, &a, 8);
            std::memcpy(f.dstIp + 4, &b, 8);
            const std::uint64_t c = random();
            std::memcpy(f.srcIp + 12, &c, 4);
            std::memcpy(f.dstIp + 12, reinterpret_cast<const std::uint8_t*>(&c) + 4, 4);
        } else {
            const auto& ps = V4_POOLS[a % std::size(V4_POOLS)];
            const auto& pd = V4_POOLS[b % std::size(V4_POOLS)];
            const std::uint8_t s[4] = {ps[0], ps[1], std::uint8_t(a >> 8),
                                       std::uint8_t(1 + (a >> 16) % 254)};
            const std::uint8_t d[4] = {pd[0], pd[1], std::uint8_t(b >> 8),
                                       std::uint8_t(1 + (b >> 16) % 254)};
            std::memcpy(f.srcIp, s, 4);
            std::memcpy(f.dstIp, d, 4);
            if ((a >> 32) % 100 < 35) {  // a local host talking to the outside
                const std::uint8_t local[4] = {192, 168, 1, std::uint8_t(1 + (a >> 40) % 254)};
                std::memcpy(f.srcIp, local, 4);
            }
        }
        const std::uint64_t q = random();
        f.srcPort = static_cast<std::uint16_t>(32768 + q % 28000);
        const unsigned pick = (q >> 20) % 100;
        if (f.proto == 6) {
            f.dstPort = pick < 45   ? 443
                        : pick < 65 ? 80
                        : pick < 72 ? 22
                        : pick < 80 ? 993
                                    : std::uint16_t(1024 + (q >> 32) % 40000);
        } else if (f.proto == 17) {
            f.dstPort = pick < 45   ? 53
                        : pick < 62 ? 443
                        : pick < 70 ? 4500
                                    : std::uint16_t(1024 + (q >> 32) % 40000);
        }
        f.seqA = static_cast<std::uint32_t>(q >> 7);
        f.seqB = static_cast<std::uint32_t>(random());
        f.ipId = static_cast<std::uint16_t>(q >> 48);
    }
}

std::uint64_t TrafficGenerator::random() {
    return splitmix(m_state);
}

std::uint32_t TrafficGenerator::pickSize() {
    if (!m_options.imix)
        return m_options.fixedSize;
    const unsigned r = static_cast<unsigned>(random() % 12);
    return r < 7 ? 64 : r < 11 ? 576 : 1500;
}

std::uint32_t TrafficGenerator::next(std::byte* out) {
    const std::uint64_t r = random();
    const std::uint32_t size = pickSize();
    m_lastArp = r % 100 < 2;
    if (m_lastArp)
        return buildArp(out, size);
    return buildIp(out, m_flows[(r >> 8) % m_flows.size()], size);
}

std::uint32_t TrafficGenerator::buildArp(std::byte* out, std::uint32_t size) {
    const std::uint64_t r = random();
    const bool reply = r & 1;
    std::uint8_t sender[6], target[6];
    std::memcpy(sender, &r, 6);
    sender[0] = (sender[0] & 0xfe) | 0x02;
    const std::uint64_t r2 = random();
    std::memcpy(target, &r2, 6);
    target[0] = (target[0] & 0xfe) | 0x02;
    std::byte* p = out;
    if (reply) {
        std::memcpy(p, target, 6);
    } else {
        std::memset(p, 0xff, 6);
    }
    std::memcpy(p + 6, sender, 6);
    put16(p + 12, 0x0806);
    p += 14;
    put16(p, 1);  // Ethernet
    put16(p + 2, 0x0800);
    p[4] = std::byte{6};
    p[5] = std::byte{4};
    put16(p + 6, reply ? 2 : 1);
    std::memcpy(p + 8, sender, 6);
    const std::uint8_t spa[4] = {192, 168, 1, std::uint8_t(1 + (r >> 48) % 254)};
    const std::uint8_t tpa[4] = {192, 168, 1, std::uint8_t(1 + (r2 >> 48) % 254)};
    std::memcpy(p + 14, spa, 4);
    if (reply) {
        std::memcpy(p + 18, target, 6);
    } else {
        std::memset(p + 18, 0, 6);
    }
    std::memcpy(p + 24, tpa, 4);
    const std::uint32_t len = std::clamp<std::uint32_t>(size, 60, 60);
    std::memset(out + 42, 0, len - 42);
    m_lastL2 = 14;
    return len;
}

std::uint32_t TrafficGenerator::buildIp(std::byte* out, Flow& flow, std::uint32_t size) {
    const std::uint64_t r = random();
    const bool reverse = r & 1;
    const std::uint8_t* srcMac = reverse ? flow.dstMac : flow.srcMac;
    const std::uint8_t* dstMac = reverse ? flow.srcMac : flow.dstMac;
    const std::uint8_t* srcIp = reverse ? flow.dstIp : flow.srcIp;
    const std::uint8_t* dstIp = reverse ? flow.srcIp : flow.dstIp;
    const std::uint16_t srcPort = reverse ? flow.dstPort : flow.srcPort;
    const std::uint16_t dstPort = reverse ? flow.srcPort : flow.dstPort;
    const bool dns = flow.proto == 17 && flow.dstPort == 53;

    std::byte* p = out;
    std::memcpy(p, dstMac, 6);
    std::memcpy(p + 6, srcMac, 6);
    p += 12;
    if (flow.vlan != 0) {
        put16(p, 0x8100);
        put16(p + 2, flow.vlan);
        p += 4;
    }
    put16(p, flow.ipv6 ? 0x86DD : 0x0800);
    p += 2;
    const std::uint32_t l2 = static_cast<std::uint32_t>(p - out);
    const std::uint32_t l3 = flow.ipv6 ? 40 : 20;
    const std::uint32_t l4 = flow.proto == 6 ? 20 : 8;
    const std::uint32_t dnsBytes = dns ? 29 : 0;
    const std::uint32_t minimum = l2 + l3 + l4 + dnsBytes;
    const std::uint32_t len = std::clamp<std::uint32_t>(size, minimum, MAX_FRAME);
    const std::uint32_t l4Len = len - l2 - l3;

    std::byte* ip = p;
    if (flow.ipv6) {
        put32(ip, 0x60000000u | static_cast<std::uint32_t>((r >> 8) & 0xfffff));
        put16(ip + 4, static_cast<std::uint16_t>(l4Len));
        ip[6] = std::byte(flow.proto);
        ip[7] = std::byte{64};
        std::memcpy(ip + 8, srcIp, 16);
        std::memcpy(ip + 24, dstIp, 16);
    } else {
        ip[0] = std::byte{0x45};
        ip[1] = std::byte{0};
        put16(ip + 2, static_cast<std::uint16_t>(l3 + l4Len));
        put16(ip + 4, flow.ipId++);
        put16(ip + 6, 0x4000);  // DF
        ip[8] = std::byte(reverse ? 57 : 64);
        ip[9] = std::byte(flow.proto);
        put16(ip + 10, 0);
        std::memcpy(ip + 12, srcIp, 4);
        std::memcpy(ip + 16, dstIp, 4);
        storeSum(ip + 10, checksumFold(checksumAdd(0, ip, 20)));
    }

    std::byte* l4p = ip + l3;
    std::byte* payload = l4p + l4;
    const std::uint32_t payloadLen = l4Len - l4;
    std::memcpy(payload, m_pool.data() + (r >> 16) % POOL_BYTES, payloadLen);
    if (flow.proto == 6) {
        std::uint32_t& seq = reverse ? flow.seqB : flow.seqA;
        const std::uint32_t ack = reverse ? flow.seqA : flow.seqB;
        put16(l4p, srcPort);
        put16(l4p + 2, dstPort);
        put32(l4p + 4, seq);
        put32(l4p + 8, ack);
        l4p[12] = std::byte{0x50};
        l4p[13] = std::byte(payloadLen ? 0x18 : 0x10);
        put16(l4p + 14, static_cast<std::uint16_t>(8192 + (r >> 40) % 57000));
        put16(l4p + 16, 0);
        put16(l4p + 18, 0);
        seq += payloadLen;
    } else if (flow.proto == 17) {
        put16(l4p, srcPort);
        put16(l4p + 2, dstPort);
        put16(l4p + 4, static_cast<std::uint16_t>(l4Len));
        put16(l4p + 6, 0);
        if (dns) {
            // A well-formed query (or empty answer) for example.com, then zero padding.
            std::memset(payload, 0, payloadLen);
            put16(payload, static_cast<std::uint16_t>(r >> 32));
            put16(payload + 2, reverse ? 0x8180 : 0x0100);
            put16(payload + 4, 1);
            static constexpr char QNAME[] =
                "\x07"
                "example"
                "\x03"
                "com";
            std::memcpy(payload + 12, QNAME, sizeof QNAME);  // includes the root label's 0
            put16(payload + 25, 1);
            put16(payload + 27, 1);
        }
    } else {
        const bool v6 = flow.ipv6;
        l4p[0] = std::byte(v6 ? (reverse ? 129 : 128) : (reverse ? 0 : 8));
        l4p[1] = std::byte{0};
        put16(l4p + 2, 0);
        put16(l4p + 4, flow.srcPort);
        put16(l4p + 6, flow.icmpSeq++);
    }

    // Transport checksum over the pseudo header (RFC 768/793/8200) and the whole segment.
    std::uint64_t sum = 0;
    if (flow.ipv6) {
        if (flow.proto != 1) {
            std::byte pseudo[40];
            std::memcpy(pseudo, ip + 8, 32);
            put32(pseudo + 32, l4Len);
            put32(pseudo + 36, flow.proto);
            sum = checksumAdd(sum, pseudo, 40);
        }
    } else if (flow.proto != 1) {
        std::byte pseudo[12];
        std::memcpy(pseudo, ip + 12, 8);
        pseudo[8] = std::byte{0};
        pseudo[9] = std::byte(flow.proto);
        put16(pseudo + 10, static_cast<std::uint16_t>(l4Len));
        sum = checksumAdd(sum, pseudo, 12);
    }
    sum = checksumAdd(sum, l4p, l4Len);
    std::uint16_t folded = checksumFold(sum);
    const std::size_t sumAt = flow.proto == 6 ? 16 : flow.proto == 17 ? 6 : 2;
    if (flow.proto == 17 && folded == 0xffff)
        folded = 0;  // UDP sends 0 as 0xffff
    storeSum(l4p + sumAt, folded);
    m_lastL2 = l2;
    return len;
}

namespace {

class ChunkedWriter {
  public:
    ChunkedWriter(const std::string& path, bool bigEndian) : m_path(path), m_big(bigEndian) {
        m_fd = path == "-" ? STDOUT_FILENO
                           : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (m_fd < 0)
            throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
        m_buffer.resize(8 << 20);
    }
    ~ChunkedWriter() {
        if (m_fd > STDOUT_FILENO)
            ::close(m_fd);
    }
    std::byte* reserve(std::size_t n) {
        if (m_used + n > m_buffer.size())
            flush();
        return m_buffer.data() + m_used;
    }
    void commit(std::size_t n) { m_used += n; }
    void u16(std::byte* p, std::uint16_t v) const {
        if (m_big)
            v = __builtin_bswap16(v);
        std::memcpy(p, &v, 2);
    }
    void u32(std::byte* p, std::uint32_t v) const {
        if (m_big)
            v = __builtin_bswap32(v);
        std::memcpy(p, &v, 4);
    }
    void u64(std::byte* p, std::uint64_t v) const {
        if (m_big)
            v = __builtin_bswap64(v);
        std::memcpy(p, &v, 8);
    }
    void flush() {
        std::size_t done = 0;
        while (done < m_used) {
            const ssize_t n = ::write(m_fd, m_buffer.data() + done, m_used - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw std::runtime_error(m_path + ": write failed: " + std::strerror(errno));
            done += static_cast<std::size_t>(n);
        }
        m_total += m_used;
        m_used = 0;
    }
    void close() {
        flush();
        if (m_fd > STDOUT_FILENO && ::close(m_fd) != 0) {
            m_fd = -1;
            throw std::runtime_error(m_path + ": close failed: " + std::strerror(errno));
        }
        m_fd = -1;
    }
    std::uint64_t total() const { return m_total; }

  private:
    std::string m_path;
    bool m_big;
    int m_fd = -1;
    std::vector<std::byte> m_buffer;
    std::size_t m_used = 0;
    std::uint64_t m_total = 0;
};

constexpr std::uint32_t LINK_ETHERNET = 1, LINK_RAW = 101, LINK_SLL = 113;
constexpr std::uint32_t GEN_SNAPLEN = 262144;

}  // namespace

std::uint64_t writeTrafficFile(const std::string& path, const TrafficFileOptions& o) {
    if (o.interfaces < 1 || o.interfaces > 3)
        throw std::runtime_error("--interfaces: expected 1..3");
    ChunkedWriter w(path, o.bigEndian);
    const bool ng = o.format == TrafficFormat::Pcapng;
    if (!ng) {
        std::byte* h = w.reserve(24);
        w.u32(h, o.microseconds ? 0xa1b2c3d4 : 0xa1b23c4d);
        w.u16(h + 4, 2);
        w.u16(h + 6, 4);
        w.u32(h + 8, 0);
        w.u32(h + 12, 0);
        w.u32(h + 16, GEN_SNAPLEN);
        w.u32(h + 20, LINK_ETHERNET);
        w.commit(24);
    } else {
        std::byte* s = w.reserve(28);
        w.u32(s, 0x0A0D0D0A);
        w.u32(s + 4, 28);
        w.u32(s + 8, 0x1A2B3C4D);
        w.u16(s + 12, 1);
        w.u16(s + 14, 0);
        w.u64(s + 16, ~0ULL);
        w.u32(s + 24, 28);
        w.commit(28);
        const std::uint32_t links[3] = {LINK_ETHERNET, LINK_RAW, LINK_SLL};
        for (unsigned i = 0; i < o.interfaces; ++i) {
            std::byte* b = w.reserve(32);
            w.u32(b, 1);
            w.u32(b + 4, 32);
            w.u16(b + 8, static_cast<std::uint16_t>(links[i]));
            w.u16(b + 10, 0);
            w.u32(b + 12, GEN_SNAPLEN);
            w.u16(b + 16, 9);  // if_tsresol
            w.u16(b + 18, 1);
            b[20] = std::byte(o.microseconds ? 6 : 9);
            b[21] = b[22] = b[23] = std::byte{0};
            w.u32(b + 24, 0);  // opt_endofopt
            w.u32(b + 28, 32);
            w.commit(32);
        }
    }

    TrafficGenerator gen(o.traffic);
    std::uint64_t tsState = o.traffic.seed ^ 0x7473746174650000ULL;
    std::uint64_t ifState = o.traffic.seed ^ 0x6966616365730000ULL;
    const auto durationNs = static_cast<std::uint64_t>(o.durationSec * 1e9);
    const std::uint64_t stepNs = o.count ? durationNs / o.count : 0;
    const std::uint64_t startNs = o.startSec * 1'000'000'000ULL;
    alignas(8) std::byte frame[TrafficGenerator::MAX_FRAME];
    for (std::uint64_t i = 0; i < o.count; ++i) {
        const std::uint32_t len = gen.next(frame);
        const std::uint64_t jitter = stepNs > 1 ? splitmix(tsState) % stepNs : 0;
        const auto offset = static_cast<std::uint64_t>((unsigned __int128)i * durationNs / o.count);
        std::uint64_t ts = startNs + offset + jitter;
        if (o.microseconds)
            ts -= ts % 1000;
        if (!ng) {
            std::byte* rec = w.reserve(16 + len);
            w.u32(rec, static_cast<std::uint32_t>(ts / 1'000'000'000ULL));
            const auto frac = static_cast<std::uint32_t>(ts % 1'000'000'000ULL);
            w.u32(rec + 4, o.microseconds ? frac / 1000 : frac);
            w.u32(rec + 8, len);
            w.u32(rec + 12, len);
            std::memcpy(rec + 16, frame, len);
            w.commit(16 + len);
            continue;
        }
        unsigned iface = 0;
        if (o.interfaces > 1) {
            iface = static_cast<unsigned>(splitmix(ifState) % o.interfaces);
            if (gen.lastWasArp())
                iface = 0;
        }
        const std::byte* data = frame;
        std::uint32_t capLen = len;
        std::byte sll[16 + TrafficGenerator::MAX_FRAME];
        if (iface == 1) {
            data = frame + gen.lastL2Bytes();
            capLen = len - gen.lastL2Bytes();
        } else if (iface == 2) {
            std::memset(sll, 0, 16);
            put16(sll + 2, 1);
            put16(sll + 4, 6);
            std::memcpy(sll + 6, frame + 6, 6);
            std::memcpy(sll + 14, frame + gen.lastL2Bytes() - 2, 2);
            std::memcpy(sll + 16, frame + gen.lastL2Bytes(), len - gen.lastL2Bytes());
            data = sll;
            capLen = 16 + len - gen.lastL2Bytes();
        }
        const std::uint32_t padded = (capLen + 3) & ~3u;
        const std::uint32_t blockLen = 32 + padded;
        std::byte* b = w.reserve(blockLen);
        const std::uint64_t units = o.microseconds ? ts / 1000 : ts;
        w.u32(b, 6);
        w.u32(b + 4, blockLen);
        w.u32(b + 8, iface);
        w.u32(b + 12, static_cast<std::uint32_t>(units >> 32));
        w.u32(b + 16, static_cast<std::uint32_t>(units));
        w.u32(b + 20, capLen);
        w.u32(b + 24, capLen);
        std::memcpy(b + 28, data, capLen);
        std::memset(b + 28 + capLen, 0, padded - capLen);
        w.u32(b + 28 + padded, blockLen);
        w.commit(blockLen);
    }
    w.close();
    return w.total();
}

}  // namespace pushcap::tools
