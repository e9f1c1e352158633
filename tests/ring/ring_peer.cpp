// Test-only helper for the multi-process ring tests, so producers and consumers are real
// processes that can be SIGKILLed and SIGSTOPped.
//
//   ring_peer create instance=I source=S [capacity=B] [mode=live|lossless]
//   ring_peer produce segment=/pushcap.I.S packets=N [batch_packets=K] [pace=a,b,...]
//   ring_peer consume segment=/pushcap.I.S name=C [out=FILE] [commit_every=K] [wait_ms=T]
//
// produce resumes from RingWriter::resumeCursor() (the next packet seq), so a SIGKILLed producer
// restarted with the same arguments continues the stream. consume resumes from its commit blob
// (file offset, next seq, running checksum); with out=FILE it appends every record it handles to
// FILE and commits only after writing, truncating FILE to the committed offset on restart.
// Both print one line of key=value results on exit; exit status 0 on success.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "ring_test_support.hpp"
#include "router/atomic_field.hpp"
#include "router/batch_records.hpp"
#include "router/ring_error.hpp"
#include "router/ring_janitor.hpp"
#include "router/ring_reader.hpp"
#include "router/ring_writer.hpp"

namespace rt = pushcap::ringtest;
namespace rr = pushcap::router;

namespace {

using Options = std::map<std::string, std::string>;

std::string need(const Options& o, const std::string& key) {
    auto it = o.find(key);
    if (it == o.end())
        throw std::runtime_error("missing option " + key);
    return it->second;
}

std::uint64_t number(const Options& o, const std::string& key, std::uint64_t fallback) {
    auto it = o.find(key);
    return it == o.end() ? fallback : std::stoull(it->second);
}

int create(const Options& o) {
    rr::RingConfig c;
    c.instance = need(o, "instance");
    c.source = need(o, "source");
    c.dataCapacity = number(o, "capacity", 1 << 20);
    c.maxBatchBytes =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(c.dataCapacity / 4, 64 << 10));
    c.mode =
        o.count("mode") && o.at("mode") == "lossless" ? rr::RingMode::Lossless : rr::RingMode::Live;
    rr::RingJanitor janitor(c);
    std::printf("segment=0\n");
    return 0;
}

// Producer-side pacing for the live-mode test only: the producer never waits on the ring, but it
// lets the named (unstopped) consumers stay within half a ring so only the stopped one is lapped.
class Pacer {
  public:
    Pacer(const rr::RingWriter& writer, const std::string& names) : m_segment(writer.segment()) {
        std::istringstream in(names);
        std::string name;
        while (std::getline(in, name, ',')) {
            if (name.empty())
                continue;
            const int slot = m_segment.findSlot(name);
            if (slot < 0)
                throw std::runtime_error("pace: no consumer " + name);
            m_slots.push_back(static_cast<std::uint32_t>(slot));
        }
    }
    void pace() const {
        if (m_slots.empty())
            return;
        const std::uint64_t limit = m_segment.capacity() / 2;
        for (;;) {
            const std::uint64_t w = rr::loadAcquire(m_segment.header().write_pos);
            std::uint64_t slowest = w;
            for (std::uint32_t s : m_slots) {
                slowest = std::min(slowest, rr::loadAcquire(m_segment.slot(s).read_pos));
            }
            if (w - slowest <= limit)
                return;
            ::sched_yield();
        }
    }

  private:
    const rr::RingSegment& m_segment;
    std::vector<std::uint32_t> m_slots;
};

int produce(const Options& o) {
    const std::uint64_t total = std::stoull(need(o, "packets"));
    const std::uint64_t batchPackets = std::max<std::uint64_t>(1, number(o, "batch_packets", 64));
    rr::RingWriter writer(need(o, "segment"));
    const Pacer pacer(writer, o.count("pace") ? o.at("pace") : "");

    std::uint64_t seq = 0;
    const std::vector<std::uint8_t> cursor = writer.resumeCursor();
    if (cursor.size() == sizeof seq) {
        std::memcpy(&seq, cursor.data(), sizeof seq);
    } else if (!cursor.empty()) {
        std::fprintf(stderr, "ring_peer produce: cursor of %zu bytes\n", cursor.size());
        return 2;
    }
    if (writer.packetsPublished() != seq) {
        // The ring's own packet count and our cursor are published together: they must agree.
        std::fprintf(stderr, "ring_peer produce: cursor %llu but ring has %llu packets\n",
                     static_cast<unsigned long long>(seq),
                     static_cast<unsigned long long>(writer.packetsPublished()));
        return 2;
    }
    const std::uint64_t startSeq = seq;
    std::uint64_t bytes = 0, checksum = 0, batches = 0;
    const rr::BatchMeta meta{rt::TEST_LINK_TYPE, rr::MAX_CAPLEN, rt::TEST_SOURCE_ID};
    while (seq < total) {
        pacer.pace();
        const std::span<std::byte> space = writer.beginBatch(200'000'000);
        if (space.empty())
            continue;  // lossless: a consumer is slow or restarting
        // Vary the batch size with seq, so batch boundaries move around the ring.
        const std::uint64_t limit = 1 + (seq * 0x9E3779B97F4A7C15ULL >> 40) % batchPackets;
        std::size_t used = 0;
        std::uint32_t count = 0;
        while (count < limit && seq < total) {
            const std::uint32_t need = sizeof(rr::PcapRecordHeader) + rt::packetCaplen(seq);
            if (used + need > space.size())
                break;
            rt::writePacketRecord(seq, space.data() + used);
            const std::uint32_t caplen = need - sizeof(rr::PcapRecordHeader);
            checksum = rt::chainChecksum(
                checksum,
                rt::hashBytes(space.data() + used + sizeof(rr::PcapRecordHeader), caplen));
            bytes += caplen;
            used += need;
            ++count;
            ++seq;
        }
        std::uint8_t next[sizeof seq];
        std::memcpy(next, &seq, sizeof seq);
        writer.publish(static_cast<std::uint32_t>(used), count, meta, next);
        ++batches;
    }
    writer.finish();
    std::printf("start=%llu packets=%llu bytes=%llu batches=%llu checksum=%llu\n",
                static_cast<unsigned long long>(startSeq),
                static_cast<unsigned long long>(seq - startSeq),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(batches),
                static_cast<unsigned long long>(checksum));
    return 0;
}

// What a consumer must carry across a restart; stored in its commit blob.
struct ConsumerState {
    std::uint64_t fileOffset = 0;
    std::uint64_t nextSeq = 0;
    std::uint64_t checksum = 0;
    std::uint64_t errors = 0;   // packets with wrong bytes, malformed batches
    std::uint64_t gaps = 0;     // packets missing between consecutive batches
    std::uint64_t repeats = 0;  // batches that went backwards
    std::uint64_t batches = 0;
};

bool writeAll(int fd, const std::byte* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

int consume(const Options& o) {
    const std::string segment = need(o, "segment");
    const std::string name = need(o, "name");
    const std::uint64_t commitEvery = std::max<std::uint64_t>(1, number(o, "commit_every", 4));
    const std::uint64_t waitNs = number(o, "wait_ms", 100) * 1'000'000;
    rr::RingReader reader(segment, name);

    ConsumerState st;
    const std::vector<std::uint8_t> blob = reader.resumeBlob();
    if (blob.size() == sizeof st) {
        std::memcpy(&st, blob.data(), sizeof st);
    } else if (!blob.empty()) {
        std::fprintf(stderr, "ring_peer consume: blob of %zu bytes\n", blob.size());
        return 2;
    }
    auto commit = [&] {
        std::uint8_t b[sizeof st];
        std::memcpy(b, &st, sizeof st);
        reader.commit(b);
    };

    int fd = -1;
    if (o.count("out")) {
        fd = ::open(o.at("out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        // Whatever follows the committed offset was written by a process killed before its commit.
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(st.fileOffset)) != 0 ||
            ::lseek(fd, static_cast<off_t>(st.fileOffset), SEEK_SET) < 0) {
            std::perror("ring_peer consume: output file");
            return 2;
        }
    }

    bool reported = false;
    auto report = [&](const char* what, std::uint64_t seq) {
        if (reported)
            return;
        reported = true;
        std::fprintf(stderr, "ring_peer consume %s: %s at seq %llu\n", name.c_str(), what,
                     static_cast<unsigned long long>(seq));
    };

    rr::BatchView view;
    for (;;) {
        const rr::NextStatus status = reader.next(view, waitNs);
        if (status == rr::NextStatus::EndOfStream)
            break;
        if (status != rr::NextStatus::Batch)
            continue;

        // Everything derived from the batch stays local until finish() says it was intact.
        std::uint64_t checksum = st.checksum, errors = 0;
        bool badMeta = view.linkType != rt::TEST_LINK_TYPE || view.sourceId != rt::TEST_SOURCE_ID;
        rr::RecordCursor records(view);
        rr::PacketRef packet;
        std::uint32_t walked = 0;
        std::uint64_t seq = view.firstPacketSeq;
        while (records.next(packet)) {
            if (!rt::packetMatches(seq, packet.header, packet.data))
                ++errors;
            checksum =
                rt::chainChecksum(checksum, rt::hashBytes(packet.data, packet.header.caplen));
            ++walked;
            ++seq;
        }
        if (records.malformed() || walked != view.packets || badMeta)
            ++errors;
        if (fd >= 0 && !writeAll(fd, view.payload, view.payloadBytes)) {
            std::perror("ring_peer consume: write");
            return 2;
        }
        if (!reader.finish(view)) {
            // Overwritten while we read it (live mode): drop it, the ring counts the loss.
            if (fd >= 0) {
                if (::ftruncate(fd, static_cast<off_t>(st.fileOffset)) != 0 ||
                    ::lseek(fd, static_cast<off_t>(st.fileOffset), SEEK_SET) < 0) {
                    return 2;
                }
            }
            continue;
        }
        if (errors != 0)
            report("corrupt packet", view.firstPacketSeq);
        if (view.firstPacketSeq < st.nextSeq) {
            report("repeated batch", view.firstPacketSeq);
            ++st.repeats;
        } else if (view.firstPacketSeq > st.nextSeq) {
            if (rr::RingMode::Lossless == reader.mode())
                report("gap", st.nextSeq);
            st.gaps += view.firstPacketSeq - st.nextSeq;
        }
        st.checksum = checksum;
        st.errors += errors;
        st.nextSeq = view.firstPacketSeq + view.packets;
        st.fileOffset += view.payloadBytes;
        if (++st.batches % commitEvery == 0 || fd >= 0)
            commit();
    }
    commit();
    const rr::ReaderCounters c = reader.counters();
    std::printf(
        "packets=%llu bytes=%llu lost_packets=%llu lost_bytes=%llu laps=%llu corrupt=%llu "
        "errors=%llu gaps=%llu repeats=%llu next_seq=%llu checksum=%llu file_bytes=%llu\n",
        static_cast<unsigned long long>(c.packetsRead),
        static_cast<unsigned long long>(c.bytesRead),
        static_cast<unsigned long long>(c.packetsLost),
        static_cast<unsigned long long>(c.bytesLost), static_cast<unsigned long long>(c.laps),
        static_cast<unsigned long long>(c.corruptBatches),
        static_cast<unsigned long long>(st.errors), static_cast<unsigned long long>(st.gaps),
        static_cast<unsigned long long>(st.repeats), static_cast<unsigned long long>(st.nextSeq),
        static_cast<unsigned long long>(st.checksum),
        static_cast<unsigned long long>(st.fileOffset));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: ring_peer create|produce|consume key=value...\n");
        return 64;
    }
    try {
        const Options o = rt::parseOptions(argc, argv, 2);
        const std::string cmd = argv[1];
        int rc = 64;
        if (cmd == "create")
            rc = create(o);
        if (cmd == "produce")
            rc = produce(o);
        if (cmd == "consume")
            rc = consume(o);
        std::fflush(stdout);
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ring_peer %s: %s\n", argv[1], e.what());
        return 1;
    }
}
