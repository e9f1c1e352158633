// Test-only producer: publishes a pcap file into a ring, as capture would, then finishes the
// stream. Kept independent of pushcap-capture so worker tests need only the ring library.
//   ring_feeder --ring SEGMENT --in FILE [--source-id N] [--batch-packets N]
//               [--batch-delay-us N] [--no-finish]
#include <pcap/pcap.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "router/ring_writer.hpp"

int main(int argc, char** argv) {
    using namespace pushcap::router;
    std::string ring, in;
    unsigned sourceId = 0, batchPackets = 0, delayUs = 0;
    bool finish = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--ring")
            ring = next();
        else if (a == "--in")
            in = next();
        else if (a == "--source-id")
            sourceId = std::stoul(next());
        else if (a == "--batch-packets")
            batchPackets = std::stoul(next());
        else if (a == "--batch-delay-us")
            delayUs = std::stoul(next());
        else if (a == "--no-finish")
            finish = false;
        else {
            std::fprintf(stderr, "ring_feeder: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    try {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t* p =
            pcap_open_offline_with_tstamp_precision(in.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
        if (p == nullptr)
            throw std::runtime_error(err);
        RingWriter writer(ring);
        BatchMeta meta;
        meta.linkType = static_cast<std::uint32_t>(pcap_datalink(p));
        meta.snaplen = static_cast<std::uint32_t>(pcap_snapshot(p));
        meta.sourceId = static_cast<std::uint16_t>(sourceId);

        std::span<std::byte> space;
        std::uint32_t used = 0, packets = 0;
        auto publish = [&]() {
            if (packets == 0)
                return;
            writer.publish(used, packets, meta);
            used = packets = 0;
            space = {};
            if (delayUs)
                std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
        };
        pcap_pkthdr* h;
        const u_char* data;
        int rc;
        while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
            const std::uint32_t need = sizeof(PcapRecordHeader) + h->caplen;
            if (!space.empty() &&
                (used + need > space.size() || (batchPackets && packets >= batchPackets))) {
                publish();
            }
            while (space.empty())
                space = writer.beginBatch(100'000'000ULL);
            if (need > space.size())
                throw std::runtime_error("packet larger than a batch");
            PcapRecordHeader rec{static_cast<std::uint32_t>(h->ts.tv_sec),
                                 static_cast<std::uint32_t>(h->ts.tv_usec), h->caplen, h->len};
            std::memcpy(space.data() + used, &rec, sizeof rec);
            std::memcpy(space.data() + used + sizeof rec, data, h->caplen);
            used += need;
            ++packets;
        }
        if (rc == -1)
            throw std::runtime_error(pcap_geterr(p));
        publish();
        if (finish)
            writer.finish();
        pcap_close(p);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ring_feeder: %s\n", e.what());
        return 1;
    }
    return 0;
}
