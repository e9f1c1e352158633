// The osmo-pcap stream parser against hand-built streams: both modes, both byte orders, every
// split of the stream across reads, every malformed case of the protocol note, and random bytes.
#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "capture/osmo_stream_parser.hpp"

using namespace pushcap::capture;

namespace {

using Bytes = std::vector<std::byte>;

struct Writer {
    bool big = false;
    Bytes out;
    void u8(std::uint8_t v) { out.push_back(std::byte(v)); }
    void u16(std::uint16_t v) {
        if (big)
            v = __builtin_bswap16(v);
        append(&v, 2);
    }
    void u32(std::uint32_t v) {
        if (big)
            v = __builtin_bswap32(v);
        append(&v, 4);
    }
    void append(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out.insert(out.end(), b, b + n);
    }
};

// One protocol message: type, spare, big-endian length, payload.
Bytes message(std::uint8_t type, const Bytes& payload, std::size_t lenOverride = SIZE_MAX) {
    const std::size_t len = lenOverride == SIZE_MAX ? payload.size() : lenOverride;
    Bytes m = {std::byte(type), std::byte(0), std::byte((len >> 8) & 0xff), std::byte(len & 0xff)};
    m.insert(m.end(), payload.begin(), payload.end());
    return m;
}

Bytes pcapHeader(bool big, std::uint32_t snaplen, std::uint32_t linkType,
                 std::uint32_t magic = 0xa1b2c3d4) {
    Writer w{big, {}};
    w.u32(magic);
    w.u16(2);
    w.u16(4);
    w.u32(0);
    w.u32(0);
    w.u32(snaplen);
    w.u32(linkType);
    return w.out;
}

Bytes pcapRecord(bool big, std::uint32_t sec, std::uint32_t usec, const std::string& data,
                 std::uint32_t caplen = UINT32_MAX) {
    Writer w{big, {}};
    w.u32(sec);
    w.u32(usec);
    w.u32(caplen == UINT32_MAX ? std::uint32_t(data.size()) : caplen);
    w.u32(std::uint32_t(data.size()) + 10);
    w.append(data.data(), data.size());
    return w.out;
}

Bytes pcapngHeader(bool big,
                   const std::vector<std::pair<std::uint16_t, std::uint32_t>>& interfaces) {
    Writer w{big, {}};
    w.u32(0x0A0D0D0A);  // the SHB type reads the same in both orders
    w.u32(28);
    w.u32(0x1A2B3C4D);
    w.u16(1);
    w.u16(0);
    w.u32(0xffffffff);
    w.u32(0xffffffff);
    w.u32(28);
    for (auto [link, snap] : interfaces) {
        w.u32(1);
        w.u32(20);
        w.u16(link);
        w.u16(0);
        w.u32(snap);
        w.u32(20);
    }
    return w.out;
}

Bytes epb(bool big, std::uint32_t iface, std::uint64_t usec, const std::string& data,
          std::uint32_t caplen = UINT32_MAX) {
    Writer w{big, {}};
    const std::uint32_t padded = (std::uint32_t(data.size()) + 3) & ~3u;
    const std::uint32_t len = 32 + padded;
    w.u32(6);
    w.u32(len);
    w.u32(iface);
    w.u32(std::uint32_t(usec >> 32));
    w.u32(std::uint32_t(usec));
    w.u32(caplen == UINT32_MAX ? std::uint32_t(data.size()) : caplen);
    w.u32(std::uint32_t(data.size()));
    w.append(data.data(), data.size());
    for (std::uint32_t i = std::uint32_t(data.size()); i < padded; ++i)
        w.u8(0);
    w.u32(len);
    return w.out;
}

struct Collect : OsmoPacketSink {
    std::vector<OsmoPacket> packets;
    std::vector<std::string> data;
    std::size_t room = SIZE_MAX;
    bool packet(const OsmoPacket& p) override {
        if (packets.size() >= room)
            return false;
        packets.push_back(p);
        data.emplace_back(reinterpret_cast<const char*>(p.data), p.caplen);
        return true;
    }
};

Bytes concat(const std::vector<Bytes>& parts) {
    Bytes all;
    for (const Bytes& p : parts)
        all.insert(all.end(), p.begin(), p.end());
    return all;
}

// Feeds `stream` in reads of `chunk` bytes, keeping the unconsumed tail as a socket reader would.
OsmoError feed(OsmoStreamParser& parser, const Bytes& stream, std::size_t chunk, Collect& sink) {
    Bytes buffer;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
        const std::size_t n = std::min(chunk, stream.size() - off);
        buffer.insert(buffer.end(), stream.begin() + std::ptrdiff_t(off),
                      stream.begin() + std::ptrdiff_t(off + n));
        const auto r = parser.parse(buffer.data(), buffer.size(), sink);
        if (r.error != OsmoError::None)
            return r.error;
        buffer.erase(buffer.begin(), buffer.begin() + std::ptrdiff_t(r.consumed));
    }
    return OsmoError::None;
}

}  // namespace

TEST_CASE("pcap mode, either byte order, split anywhere across reads", "[unit][capture][osmo]") {
    for (bool big : {false, true}) {
        const Bytes stream =
            concat({message(0, pcapHeader(big, 9000, 1)),
                    message(1, pcapRecord(big, 1700000000, 123456, "hello")),
                    message(1, pcapRecord(big, 1700000001, 999999, std::string(1500, 'x'))),
                    message(1, pcapRecord(big, 1700000002, 0, ""))});
        for (std::size_t chunk :
             {std::size_t(1), std::size_t(3), std::size_t(7), std::size_t(64), stream.size()}) {
            OsmoStreamParser parser;
            Collect sink;
            REQUIRE(feed(parser, stream, chunk, sink) == OsmoError::None);
            REQUIRE(sink.packets.size() == 3);
            CHECK(parser.format() == OsmoFormat::Pcap);
            CHECK(parser.bigEndian() == big);
            CHECK(sink.packets[0].tsNs == 1700000000ULL * 1'000'000'000ULL + 123'456'000ULL);
            CHECK(sink.data[0] == "hello");
            CHECK(sink.packets[0].wirelen == 15);
            CHECK(sink.packets[0].linkType == 1);
            CHECK(sink.packets[0].snaplen == 9000);
            CHECK(sink.data[1] == std::string(1500, 'x'));
            CHECK(sink.packets[2].caplen == 0);
        }
    }
}

TEST_CASE("pcapng mode: several interfaces with their own link types", "[unit][capture][osmo]") {
    for (bool big : {false, true}) {
        const Bytes stream = concat({message(0, pcapngHeader(big, {{1, 9000}, {101, 2000}})),
                                     message(1, epb(big, 0, 1700000000123456ULL, "eth")),
                                     message(1, epb(big, 1, 1700000001000001ULL, "raw ip"))});
        OsmoStreamParser parser;
        Collect sink;
        REQUIRE(feed(parser, stream, 5, sink) == OsmoError::None);
        CHECK(parser.format() == OsmoFormat::Pcapng);
        CHECK(parser.interfaces() == 2);
        REQUIRE(sink.packets.size() == 2);
        CHECK(sink.packets[0].linkType == 1);
        CHECK(sink.packets[1].linkType == 101);
        CHECK(sink.packets[1].interface == 1);
        CHECK(sink.packets[0].tsNs == 1700000000123456000ULL);
        CHECK(sink.data[1] == "raw ip");
    }
}

TEST_CASE("a full sink leaves the message for the next call", "[unit][capture][osmo]") {
    const Bytes stream =
        concat({message(0, pcapHeader(false, 9000, 1)), message(1, pcapRecord(false, 1, 0, "a")),
                message(1, pcapRecord(false, 2, 0, "b"))});
    OsmoStreamParser parser;
    Collect sink;
    sink.room = 1;
    auto r = parser.parse(stream.data(), stream.size(), sink);
    CHECK(r.stopped);
    CHECK(r.error == OsmoError::None);
    sink.room = SIZE_MAX;
    r = parser.parse(stream.data() + r.consumed, stream.size() - r.consumed, sink);
    CHECK_FALSE(r.stopped);
    REQUIRE(sink.data == std::vector<std::string>{"a", "b"});
}

TEST_CASE("every malformed stream ends with its reason, never a crash", "[unit][capture][osmo]") {
    const Bytes header = message(0, pcapHeader(false, 9000, 1));
    struct Case {
        const char* what;
        Bytes stream;
        OsmoError expected;
    };
    const std::vector<Case> cases = {
        {"unknown type", concat({header, message(7, {})}), OsmoError::UnknownType},
        {"data before link header", message(1, pcapRecord(false, 1, 0, "x")),
         OsmoError::DataBeforeLinkHeader},
        {"link header of the wrong size", message(0, Bytes(20)), OsmoError::BadLinkHeader},
        {"garbage magic", message(0, Bytes(24, std::byte(0x5a))), OsmoError::BadLinkHeader},
        {"snaplen over max-snaplen", message(0, pcapHeader(false, 70000, 1)),
         OsmoError::SnaplenTooLarge},
        {"zero snaplen", message(0, pcapHeader(false, 0, 1)), OsmoError::SnaplenTooLarge},
        {"caplen contradicts the length",
         concat({header, message(1, pcapRecord(false, 1, 0, "abc", 5))}),
         OsmoError::LengthMismatch},
        {"record shorter than its header", concat({header, message(1, Bytes(10))}),
         OsmoError::LengthMismatch},
        {"usec out of range", concat({header, message(1, pcapRecord(false, 1, 1'000'000, "a"))}),
         OsmoError::LengthMismatch},
        {"caplen over the snaplen",
         concat({message(0, pcapHeader(false, 100, 1)),
                 message(1, pcapRecord(false, 1, 0, std::string(200, 'y')))}),
         OsmoError::CaplenOverSnaplen},
        {"pcapng without byte-order magic",
         message(0,
                 [] {
                     Bytes b = pcapngHeader(false, {{1, 100}});
                     b[8] = std::byte(0);
                     return b;
                 }()),
         OsmoError::BadLinkHeader},
        {"pcapng without interfaces", message(0, pcapngHeader(false, {})),
         OsmoError::BadLinkHeader},
        {"pcapng interface over max-snaplen", message(0, pcapngHeader(false, {{1, 100000}})),
         OsmoError::SnaplenTooLarge},
        {"EPB for an unknown interface",
         concat({message(0, pcapngHeader(false, {{1, 9000}})), message(1, epb(false, 3, 0, "zz"))}),
         OsmoError::UnknownInterface},
        {"EPB caplen overruns",
         concat({message(0, pcapngHeader(false, {{1, 9000}})),
                 message(1, epb(false, 0, 0, "zz", 400))}),
         OsmoError::LengthMismatch},
        {"not an EPB",
         concat({message(0, pcapngHeader(false, {{1, 9000}})), message(1, Bytes(40))}),
         OsmoError::BadBlock},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        OsmoStreamParser parser;
        Collect sink;
        const auto r = parser.parse(c.stream.data(), c.stream.size(), sink);
        CHECK(r.error == c.expected);
        CHECK_FALSE(parser.detail().empty());
        CHECK(std::string(osmoErrorName(r.error)) != "unknown");
    }
}

TEST_CASE("random bytes never crash the parser or read out of bounds", "[unit][capture][osmo]") {
    std::mt19937 rng(42);
    const Bytes good = concat({message(0, pcapngHeader(false, {{1, 9000}, {113, 9000}})),
                               message(1, epb(false, 1, 5, std::string(60, 'q')))});
    for (int round = 0; round < 20000; ++round) {
        Bytes b = good;
        // Flip a few bytes of a valid stream (deep paths), or use pure noise (shallow paths).
        if (round % 2) {
            for (int i = 0; i < 1 + int(rng() % 4); ++i)
                b[rng() % b.size()] = std::byte(rng());
        } else {
            b.resize(rng() % 300);
            for (auto& x : b)
                x = std::byte(rng());
        }
        // An exact-size heap copy, so ASan catches any read past the end.
        std::unique_ptr<std::byte[]> exact(new std::byte[b.size() + 1]);
        std::memcpy(exact.get(), b.data(), b.size());
        OsmoStreamParser parser;
        Collect sink;
        const auto r = parser.parse(exact.get(), b.size(), sink);
        CHECK(r.consumed <= b.size());
    }
}
