// The worker's own BPF runner (DecodedBpf) against libpcap's pcap_offline_filter(), packet by
// packet: the oracle filters and more over generated frames (VLAN and QinQ, IPv6 and its
// extension headers, fragments, IP options, truncated captures, noise), and random programs that
// reach every opcode, including the corner cases (division by zero, large shifts, out-of-bounds and
// overflowing indexed loads).
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "workers/packet_filter.hpp"

using pushcap::router::MAX_CAPLEN;
using pushcap::router::PcapRecordHeader;
using pushcap::workers::DecodedBpf;
using pushcap::workers::PacketFilter;

namespace {

struct Packet {
    std::vector<std::uint8_t> bytes;  // captured bytes
    std::uint32_t wirelen = 0;
};

class FrameMaker {
  public:
    explicit FrameMaker(std::uint32_t seed) : m_rng(seed) {}

    Packet next() {
        std::vector<std::uint8_t> f;
        const unsigned kind = pick(100);
        if (kind < 3) {  // noise
            f.resize(pick(200));
            for (auto& b : f)
                b = byte();
            return finish(std::move(f));
        }
        for (int i = 0; i < 12; ++i)
            f.push_back(pick(4) == 0 ? 0xff : byte());
        const unsigned tags = pick(10) < 2 ? 1 + pick(2) : 0;
        for (unsigned t = 0; t < tags; ++t) {
            put16(f, t == 0 && tags == 2 ? 0x88a8 : 0x8100);
            put16(f, pick(3) == 0 ? 100 : static_cast<std::uint16_t>(pick(4096)));
        }
        if (kind < 50)
            ipv4(f);
        else if (kind < 80)
            ipv6(f);
        else if (kind < 88)
            arp(f);
        else if (kind < 92)
            mpls(f);
        else {
            put16(f, pick(2) ? 0x8864 : static_cast<std::uint16_t>(pick(65536)));
            for (unsigned i = pick(80); i > 0; --i)
                f.push_back(byte());
        }
        return finish(std::move(f));
    }

  private:
    unsigned pick(unsigned n) { return static_cast<unsigned>(m_rng() % n); }
    std::uint8_t byte() { return static_cast<std::uint8_t>(m_rng()); }
    static void put16(std::vector<std::uint8_t>& f, std::uint16_t v) {
        f.push_back(static_cast<std::uint8_t>(v >> 8));
        f.push_back(static_cast<std::uint8_t>(v));
    }
    void addr4(std::vector<std::uint8_t>& f) {
        const unsigned k = pick(4);
        if (k == 0) {
            f.insert(f.end(), {192, 168, 1, byte()});
        } else if (k == 1) {
            f.insert(f.end(), {192, 168, static_cast<std::uint8_t>(pick(3)), byte()});
        } else {
            for (int i = 0; i < 4; ++i)
                f.push_back(byte());
        }
    }
    std::uint16_t port() {
        static constexpr std::uint16_t COMMON[] = {443, 53, 80, 6081, 4789, 22};
        return pick(2) ? COMMON[pick(6)] : static_cast<std::uint16_t>(pick(65536));
    }
    void transport(std::vector<std::uint8_t>& f, unsigned proto) {
        if (proto == 6) {
            put16(f, port());
            put16(f, port());
            for (int i = 0; i < 8; ++i)
                f.push_back(byte());
            f.push_back(static_cast<std::uint8_t>((5 + pick(11)) << 4));
            f.push_back(byte());  // flags
            for (int i = 0; i < 6; ++i)
                f.push_back(byte());
        } else if (proto == 17) {
            const std::uint16_t dst = port();
            put16(f, port());
            put16(f, dst);
            put16(f, static_cast<std::uint16_t>(8 + pick(100)));
            put16(f, 0);
            if (dst == 6081) {  // Geneve: options length, protocol, then an inner frame
                f.push_back(static_cast<std::uint8_t>(pick(3)));
                f.push_back(0);
                put16(f, pick(2) ? 0x6558 : 0x0800);
                for (int i = 0; i < 4; ++i)
                    f.push_back(byte());
            }
        } else if (proto == 1 || proto == 58) {
            f.push_back(pick(2) ? 8 : byte());
            f.push_back(byte());
            put16(f, 0);
        }
        for (unsigned i = pick(pick(4) == 0 ? 1400 : 60); i > 0; --i)
            f.push_back(byte());
    }
    unsigned proto() {
        static constexpr unsigned COMMON[] = {6, 17, 1, 132, 47, 58};
        return pick(5) ? COMMON[pick(6)] : pick(256);
    }
    void ipv4(std::vector<std::uint8_t>& f) {
        put16(f, 0x0800);
        const unsigned ihl = pick(4) == 0 ? 5 + pick(11) : 5;
        const unsigned p = proto();
        f.push_back(static_cast<std::uint8_t>(0x40 | ihl));
        f.push_back(byte());
        put16(f, static_cast<std::uint16_t>(20 + pick(1500)));
        put16(f, static_cast<std::uint16_t>(pick(65536)));
        // fragments: more-fragments and offsets, sometimes
        const unsigned frag = pick(5) == 0 ? pick(65536) : (pick(2) ? 0x4000 : 0);
        put16(f, static_cast<std::uint16_t>(frag));
        f.push_back(byte());
        f.push_back(static_cast<std::uint8_t>(p));
        put16(f, 0);
        addr4(f);
        addr4(f);
        for (unsigned i = 5; i < ihl; ++i)
            for (int j = 0; j < 4; ++j)
                f.push_back(byte());
        transport(f, p);
    }
    void ipv6(std::vector<std::uint8_t>& f) {
        put16(f, 0x86dd);
        f.insert(f.end(), {0x60, 0, 0, 0});
        put16(f, static_cast<std::uint16_t>(pick(1500)));
        const unsigned ext = pick(4) == 0 ? (pick(2) ? 44 : (pick(2) ? 0 : 60)) : 0xffff;
        const unsigned p = proto();
        f.push_back(static_cast<std::uint8_t>(ext != 0xffff ? ext : p));
        f.push_back(64);
        for (int i = 0; i < 32; ++i)
            f.push_back(pick(3) == 0 ? 0 : byte());
        if (ext != 0xffff) {
            f.push_back(static_cast<std::uint8_t>(p));
            f.push_back(0);
            for (int i = 0; i < 6; ++i)
                f.push_back(ext == 44 && i < 2 && pick(2) ? 0 : byte());
        }
        transport(f, p);
    }
    void arp(std::vector<std::uint8_t>& f) {
        put16(f, pick(4) ? 0x0806 : 0x8035);
        for (int i = 0; i < 28; ++i)
            f.push_back(byte());
    }
    void mpls(std::vector<std::uint8_t>& f) {
        put16(f, 0x8847);
        f.insert(f.end(), {byte(), byte(), static_cast<std::uint8_t>(pick(2)), 64});
        ipv4(f);
    }
    Packet finish(std::vector<std::uint8_t> f) {
        Packet p;
        p.wirelen = static_cast<std::uint32_t>(f.size()) + (pick(10) == 0 ? pick(3000) : 0);
        const unsigned cut = pick(10);
        if (cut == 0)
            f.resize(pick(static_cast<unsigned>(f.size()) + 1));  // anywhere, even inside L2
        else if (cut == 1 && f.size() > 54)
            f.resize(54 + pick(static_cast<unsigned>(f.size()) - 54));
        p.bytes = std::move(f);
        return p;
    }

    std::mt19937 m_rng;
};

std::vector<Packet> corpus(std::size_t n, std::uint32_t seed) {
    FrameMaker maker(seed);
    std::vector<Packet> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(maker.next());
    return out;
}

bool libpcap(const bpf_program& program, const Packet& p) {
    pcap_pkthdr h{};
    h.caplen = static_cast<bpf_u_int32>(p.bytes.size());
    h.len = p.wirelen;
    return pcap_offline_filter(&program, &h, p.bytes.data()) != 0;
}

bool decoded(const DecodedBpf& program, const Packet& p) {
    return program.run(reinterpret_cast<const std::byte*>(p.bytes.data()),
                       static_cast<std::uint32_t>(p.bytes.size()), p.wirelen);
}

// Packets whose verdicts differ (0 when the two runners agree everywhere).
std::size_t disagreements(const bpf_program& program, const DecodedBpf& mine,
                          const std::vector<Packet>& packets, std::size_t& matched) {
    std::size_t bad = 0;
    for (const Packet& p : packets) {
        const bool want = libpcap(program, p);
        matched += want;
        bad += want != decoded(mine, p);
    }
    return bad;
}

}  // namespace

TEST_CASE("decoded BPF gives libpcap's verdict on every packet, for every filter", "[unit]") {
    const std::vector<Packet> packets = corpus(20000, 11);
    const std::vector<std::string> filters = {
        // tests/workers/oracle_test.cpp
        "net 192.168.1.0/24 and tcp", "vlan", "ip6", "port 443", "not tcp", "udp port 53",
        "icmp or icmp6", "arp", "vlan and tcp", "tcp[tcpflags] & tcp-push != 0", "greater 1000",
        // the push benchmark
        "tcp", "udp",
        // more shapes
        "vlan 100", "vlan and vlan", "vlan and ip6 and udp", "ip and ip[6:2] & 0x3fff != 0",
        "ip6 and ip6[6] == 44", "ip6 proto 44", "ip proto 132", "sctp", "ip[0] & 0xf > 5",
        "tcp[13] & 2 != 0 and tcp[13] & 16 == 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
        "portrange 1000-2000", "src net 192.168.0.0/16 and dst port 80", "host 192.168.1.7",
        "ether broadcast", "ether multicast", "less 64", "len >= 60 and len <= 1500", "mpls and ip",
        "pppoes", "geneve", "geneve and ip", "icmp[icmptype] == icmp-echo", "ip6 and icmp6",
        "ip[2:2] % 7 = 3", "ip[1] * 3 > 100 or ip[1] - 3 > 100", "ip[1] + ip[2] > 100",
        "ip[0] ^ 0x45 = 0", "ip[8] << (ip[9] & 63) != 0", "ip[8] >> (ip[9] & 63) != 0",
        "ip[2:2] / (ip[8] & 1) > 0", "(ip[2:2] & 0xff) | 1 = 7",
        "tcp[0:4] = 0x01bb01bb or udp[2:2] = 53", "ip[0:4] & 0xf0000000 = 0x40000000",
        "ip6[40] = 6 or ip6[40:2] > 1000", "ether[12:2] = 0x8100 and ether[14:2] & 0xfff = 100",
        "decnet", "atalk", "ipx", "stp", "ip multicast", "ip6 multicast",
        "tcp port 80 or udp port 53 or icmp", "not ip and not ip6",
        "ip host 10.0.0.1 or ip6 host ::1", "ip6 net fe80::/10", "udp[8:2] = 0x6558",
        "ip[2:2] - ip[0] & 0xf * 4 > 40", "-ip[1] < 10"};
    for (const std::string& f : filters) {
        INFO("filter \"" << f << "\"");
        pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, int(MAX_CAPLEN),
                                                            PCAP_TSTAMP_PRECISION_NANO);
        REQUIRE(dead != nullptr);
        bpf_program program{};
        const int rc = pcap_compile(dead, &program, f.c_str(), 1, PCAP_NETMASK_UNKNOWN);
        INFO(pcap_geterr(dead));
        REQUIRE(rc == 0);
        pcap_close(dead);
        DecodedBpf mine;
        CHECK(mine.decode(program));
        std::size_t matched = 0;
        CHECK(disagreements(program, mine, packets, matched) == 0);
        pcap_freecode(&program);
    }
}

TEST_CASE("PacketFilter::matches agrees with libpcap through programFor()", "[unit]") {
    const std::vector<Packet> packets = corpus(5000, 23);
    for (const char* f : {"tcp", "vlan and tcp", "port 443", "greater 1000"}) {
        INFO("filter \"" << f << "\"");
        PacketFilter filter("t", f);
        const PacketFilter::Program* program = filter.programFor(DLT_EN10MB);
        REQUIRE(program != nullptr);
        REQUIRE(program->libpcap != nullptr);
        CHECK(program->decoded.decoded());
        std::size_t bad = 0, matched = 0;
        for (const Packet& p : packets) {
            PcapRecordHeader h{1, 2, static_cast<std::uint32_t>(p.bytes.size()), p.wirelen};
            const bool got = PacketFilter::matches(
                program, h, reinterpret_cast<const std::byte*>(p.bytes.data()));
            const bool want = libpcap(*program->libpcap, p);
            matched += want;
            bad += got != want;
        }
        CHECK(bad == 0);
        CHECK(matched > 0);
        CHECK(matched < packets.size());
    }
    // A link type the expression does not apply to rejects every packet.
    PacketFilter vlan("t", "vlan");
    const PacketFilter::Program* none = vlan.programFor(DLT_RAW);
    REQUIRE(none != nullptr);
    CHECK_FALSE(vlan.errorFor(DLT_RAW).empty());
    for (const Packet& p : packets) {
        PcapRecordHeader h{1, 2, static_cast<std::uint32_t>(p.bytes.size()), p.wirelen};
        REQUIRE_FALSE(
            PacketFilter::matches(none, h, reinterpret_cast<const std::byte*>(p.bytes.data())));
    }
}

namespace {

// Random classic BPF programs that libpcap runs without undefined behaviour: scratch memory
// written before any read, no constant division by zero or shift by 32 or more, jumps forward and
// inside, a return at the end. Operands are small so loads hit and miss the packet's end.
std::vector<bpf_insn> randomProgram(std::mt19937& rng) {
    auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
    auto smallK = [&]() -> std::uint32_t {
        switch (pick(6)) {
            case 0:
                return 0xffffffffu - pick(8);
            case 1:
                return pick(2000);
            case 2:
                return 0x80000000u + pick(4);
            default:
                return pick(80);
        }
    };
    std::vector<bpf_insn> p;
    for (std::uint32_t m = 0; m < BPF_MEMWORDS; ++m) {
        p.push_back(BPF_STMT(BPF_LD | BPF_IMM, static_cast<std::uint32_t>(rng())));
        p.push_back(BPF_STMT(BPF_ST, m));
    }
    const unsigned body = 1 + pick(30);
    const std::size_t first = p.size();
    const std::size_t total = first + body + 2;  // then "ret a" and "ret #k"
    static constexpr std::uint16_t ALU[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD,
                                            BPF_AND, BPF_OR,  BPF_XOR, BPF_LSH, BPF_RSH};
    static constexpr std::uint16_t JMP[] = {BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET};
    static constexpr std::uint16_t SIZE[] = {BPF_W, BPF_H, BPF_B};
    for (unsigned i = 0; i < body; ++i) {
        const std::size_t at = p.size();
        const unsigned room = static_cast<unsigned>(total - at - 1);  // steps after this one
        std::uint32_t k = smallK();
        switch (pick(13)) {
            case 0:
                // (from 2^31 up: Linux's ancillary loads, which the decoder leaves to libpcap)
                p.push_back(BPF_STMT(BPF_LD | SIZE[pick(3)] | BPF_ABS, k & 0x7fffffffu));
                break;
            case 1:
                p.push_back(BPF_STMT(BPF_LD | SIZE[pick(3)] | BPF_IND, k));
                break;
            case 2:
                p.push_back(BPF_STMT(pick(2) ? (BPF_LDX | BPF_B | BPF_MSH) : (BPF_LD | BPF_IMM),
                                     pick(2) ? k : static_cast<std::uint32_t>(rng())));
                break;
            case 3:
                p.push_back(
                    BPF_STMT(pick(2) ? (BPF_LDX | BPF_W | BPF_IMM) : (BPF_LDX | BPF_W | BPF_LEN),
                             pick(3) == 0 ? 32 + pick(40) : (pick(2) ? 0 : k)));
                break;
            case 4:
                p.push_back(BPF_STMT(pick(2) ? (BPF_LD | BPF_W | BPF_LEN) : (BPF_LD | BPF_MEM),
                                     pick(BPF_MEMWORDS)));
                break;
            case 5:
                p.push_back(
                    BPF_STMT(pick(2) ? (BPF_LDX | BPF_W | BPF_MEM) : BPF_STX, pick(BPF_MEMWORDS)));
                break;
            case 6:
                p.push_back(BPF_STMT(BPF_ST, pick(BPF_MEMWORDS)));
                break;
            case 7: {
                const std::uint16_t op = ALU[pick(10)];
                if (op == BPF_DIV || op == BPF_MOD)
                    k = k == 0 ? 1 : k;
                if (op == BPF_LSH || op == BPF_RSH)
                    k %= 32;
                p.push_back(BPF_STMT(BPF_ALU | op | BPF_K, k));
                break;
            }
            case 8:
                p.push_back(BPF_STMT(BPF_ALU | ALU[pick(10)] | BPF_X, 0));
                break;
            case 9:
                p.push_back(BPF_STMT(pick(3) == 0
                                         ? (BPF_ALU | BPF_NEG)
                                         : (pick(2) ? (BPF_MISC | BPF_TAX) : (BPF_MISC | BPF_TXA)),
                                     0));
                break;
            case 10:
                p.push_back(BPF_STMT(BPF_JMP | BPF_JA, pick(room)));
                break;
            default: {
                // often right after a load, as the compiler writes them (the fused steps)
                const std::uint32_t c = pick(2) ? pick(256) : static_cast<std::uint32_t>(rng());
                const std::uint16_t src = pick(4) == 0 ? BPF_X : BPF_K;
                p.push_back(BPF_JUMP(BPF_JMP | JMP[pick(4)] | src, c,
                                     static_cast<std::uint8_t>(pick(std::min(room, 255u))),
                                     static_cast<std::uint8_t>(pick(std::min(room, 255u)))));
                break;
            }
        }
    }
    p.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
    p.push_back(BPF_STMT(BPF_RET | BPF_K, pick(2)));
    return p;
}

}  // namespace

TEST_CASE("decoded BPF matches libpcap on random programs", "[unit]") {
    const std::vector<Packet> packets = corpus(400, 5);
    std::mt19937 rng(99);
    std::size_t matched = 0, runs = 0;
    for (int n = 0; n < 3000; ++n) {
        std::vector<bpf_insn> insns = randomProgram(rng);
        const bpf_program program{static_cast<u_int>(insns.size()), insns.data()};
        DecodedBpf mine;
        REQUIRE(mine.decode(program));
        const std::size_t bad = disagreements(program, mine, packets, matched);
        runs += packets.size();
        if (bad != 0) {
            std::string text;
            for (const bpf_insn& i : insns) {
                char line[64];
                std::snprintf(line, sizeof line, "{0x%02x, %u, %u, 0x%x}\n", i.code, i.jt, i.jf,
                              i.k);
                text += line;
            }
            INFO("program:\n" << text);
            REQUIRE(bad == 0);
        }
    }
    // Both verdicts occur, so agreement is not agreement on a constant.
    CHECK(matched > runs / 20);
    CHECK(matched < runs - runs / 20);
}

TEST_CASE("decoded BPF loads hit and miss the packet's end exactly as libpcap's", "[unit]") {
    std::vector<Packet> packets;
    for (std::uint32_t len = 0; len <= 70; ++len) {
        Packet p;
        for (std::uint32_t i = 0; i < len; ++i)
            p.bytes.push_back(static_cast<std::uint8_t>(0xa0 + i));
        p.wirelen = len + 5;
        packets.push_back(std::move(p));
    }
    const std::uint32_t xs[] = {0, 1, 3, 50, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
    const std::uint16_t sizes[] = {BPF_B, BPF_H, BPF_W};
    std::size_t programs = 0, matched = 0;
    for (std::uint32_t k = 0; k <= 74; ++k) {
        std::vector<std::vector<bpf_insn>> shapes;
        for (std::uint16_t size : sizes) {
            // absolute, absolute then compare (the fused step), and indexed for every X
            shapes.push_back({BPF_STMT(BPF_LD | size | BPF_ABS, k), BPF_STMT(BPF_RET | BPF_K, 1)});
            shapes.push_back({BPF_STMT(BPF_LD | size | BPF_ABS, k),
                              BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0xa5, 0, 1),
                              BPF_STMT(BPF_RET | BPF_K, 1), BPF_STMT(BPF_RET | BPF_K, 0)});
            for (std::uint32_t x : xs) {
                shapes.push_back({BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, x),
                                  BPF_STMT(BPF_LD | size | BPF_IND, k),
                                  BPF_STMT(BPF_RET | BPF_K, 1)});
            }
        }
        shapes.push_back({BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, k), BPF_STMT(BPF_MISC | BPF_TXA, 0),
                          BPF_STMT(BPF_RET | BPF_A, 0)});
        for (auto& insns : shapes) {
            const bpf_program program{static_cast<u_int>(insns.size()), insns.data()};
            DecodedBpf mine;
            REQUIRE(mine.decode(program));
            INFO("k " << k << ", program " << programs);
            CHECK(disagreements(program, mine, packets, matched) == 0);
            ++programs;
        }
    }
    CHECK(matched > 0);
}

TEST_CASE("the decoder leaves unknown or unsafe programs to libpcap", "[unit]") {
    auto decodes = [](std::vector<bpf_insn> insns) {
        const bpf_program program{static_cast<u_int>(insns.size()), insns.data()};
        DecodedBpf mine;
        const bool ok = mine.decode(program);
        CHECK(ok == mine.decoded());
        return ok;
    };
    CHECK(decodes({BPF_STMT(BPF_RET | BPF_K, 1)}));
    CHECK_FALSE(decodes({}));
    // no return at the end
    CHECK_FALSE(decodes({BPF_STMT(BPF_LD | BPF_IMM, 1)}));
    // a jump past the end
    CHECK_FALSE(
        decodes({BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5), BPF_STMT(BPF_RET | BPF_K, 1)}));
    CHECK_FALSE(decodes({BPF_STMT(BPF_JMP | BPF_JA, 0xffffffffu), BPF_STMT(BPF_RET | BPF_K, 1)}));
    // an unknown opcode, scratch memory out of range, constant division by zero, a shift of 32
    CHECK_FALSE(decodes({BPF_STMT(0xff, 0), BPF_STMT(BPF_RET | BPF_K, 1)}));
    CHECK_FALSE(decodes({BPF_STMT(BPF_ST, BPF_MEMWORDS), BPF_STMT(BPF_RET | BPF_K, 1)}));
    CHECK_FALSE(decodes({BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), BPF_STMT(BPF_RET | BPF_K, 1)}));
    CHECK_FALSE(decodes({BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), BPF_STMT(BPF_RET | BPF_K, 1)}));
    // Linux's ancillary loads (vlan tag, protocol, ...) are left to libpcap
    CHECK_FALSE(
        decodes({BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0xfffff000u), BPF_STMT(BPF_RET | BPF_A, 0)}));
    // a jump that lands on the fused compare of a "load; compare" pair still sees its own A
    const std::vector<Packet> packets = corpus(2000, 31);
    std::vector<bpf_insn> insns = {
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0, 0, 1),  // A == 0: skip the load
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),  // A == 0 only on the skipping path
        BPF_STMT(BPF_RET | BPF_K, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    const bpf_program program{static_cast<u_int>(insns.size()), insns.data()};
    DecodedBpf mine;
    REQUIRE(mine.decode(program));
    std::size_t matched = 0;
    CHECK(disagreements(program, mine, packets, matched) == 0);
    CHECK(matched == packets.size());
}
