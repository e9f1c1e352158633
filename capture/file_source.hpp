// Stored pcap/pcapng files, pushed in order into the ring (the offline push).
//
// Formats: pcap with microsecond or nanosecond timestamps in either byte order, and pcapng
// (any number of sections and interfaces, either byte order, if_tsresol/if_tsoffset, EPB, SPB
// and the obsolete PB). Source ids: the interface index inside the pcapng section (0 for pcap),
// so a file that mixes link types gives one source id per interface.
//
// Files are read in large chunks and parsed in place; each record is copied once, into the ring:
// pcap records (already in the ring's framing) are read(2) straight into the open batch, pcapng
// blocks are read into a buffer and each packet copied from there. read(2), not mmap: a file cut
// short or a failing disk is then an error with an offset, never a SIGBUS; and copying from a
// mapping measured slower than read(2)'s copy (pushcap-bench push, tmpfs input).
// Resume: every published batch carries a cursor (file index, byte offset after its last packet,
// packets so far); a restarted capture with the same file list continues right after it.
// Damage (truncation, impossible lengths): every packet before it is published, then pump()
// returns Failed with the file name and byte offset.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "capture/source.hpp"

namespace pushcap::capture {

class ChunkReader;

class FileSource final : public Source, public CursorProvider {
  public:
    // Opens the first file to push (validating every file's header up front); throws
    // std::runtime_error naming the file if one is missing or not pcap/pcapng, or if `cursor`
    // (from RingWriter::resumeCursor) belongs to another file list.
    FileSource(std::vector<std::string> files, std::span<const std::uint8_t> cursor,
               double realtime, const std::atomic<bool>& stop);
    ~FileSource() override;

    std::string describe() const override;
    int pollFd() const override { return -1; }
    PumpStatus pump(Batcher& batcher) override;
    std::string error() const override { return m_error; }
    std::size_t writeCursor(std::span<std::uint8_t> out) const override;

    // Packets delivered over the whole list, including those before a resume.
    std::uint64_t totalPackets() const { return m_totalPackets; }
    bool resumed() const { return m_resumed; }
    // Input bytes read so far and in all, for progress (the offline push's percent and ETA).
    std::uint64_t bytesDone() const;
    std::uint64_t bytesTotal() const;

  private:
    struct Interface {
        std::uint32_t linkType = 1;
        std::uint32_t snaplen = 0;
        std::uint32_t mode = 0;  // 0: ts * factor; 1: ts / factor; 2: (ts * 1e9) >> shift
        std::uint64_t factor = 1;
        unsigned shift = 0;
        std::int64_t offsetSec = 0;
    };
    enum class Format { Pcap, Pcapng };
    enum class Bulk { Delivered, Stopped, Fallback };

    void openFile(std::size_t index, std::uint64_t offset, std::uint64_t packetsInFile);
    PumpStatus pumpPcap(Batcher& batcher);
    Bulk pumpPcapBulk(Batcher& batcher);
    std::uint64_t pcapTimeNs(const std::byte* header) const;
    void ringHeader(std::byte* header) const;
    static router::BatchMeta metaFor(const Interface& iface, std::uint16_t sourceId);
    PumpStatus pumpPcapng(Batcher& batcher);
    PumpStatus damage(const char* what, std::uint64_t offset, std::uint64_t value = ~0ULL);
    PumpStatus emit(Batcher& batcher, std::uint16_t sourceId, const Interface& iface,
                    std::uint64_t tsNs, const std::byte* data, std::uint32_t captured,
                    std::uint32_t wire, std::uint64_t endOffset);
    bool parseInterface(const std::byte* body, std::uint32_t bodyLen, Interface& out);
    bool pace(Batcher& batcher, std::uint64_t tsNs);

    std::vector<std::string> m_files;
    std::vector<std::uint64_t> m_fileSizes;
    std::uint64_t m_listHash = 0;
    double m_realtime = 0;
    const std::atomic<bool>& m_stop;
    std::unique_ptr<ChunkReader> m_reader;
    std::size_t m_index = 0;
    Format m_format = Format::Pcap;
    bool m_swap = false;
    bool m_nanos = true;
    Interface m_pcapIface;
    std::vector<Interface> m_ifaces;  // pcapng: interfaces of the current section
    bool m_haveSection = false;
    std::uint64_t m_skipUntil = 0;    // pcapng resume: packets before this offset were delivered
    std::uint64_t m_skipPackets = 0;  // how many the cursor says that was
    std::uint64_t m_skippedSoFar = 0;
    // Position after the last packet handed to the batcher (what a cursor records).
    std::uint64_t m_doneOffset = 0;
    std::uint64_t m_filePackets = 0;
    std::uint64_t m_totalPackets = 0;
    bool m_resumed = false;
    // Pacing (--realtime): wall clock = m_paceWall + (ts - m_paceTs) / m_realtime.
    bool m_paceStarted = false;
    std::uint64_t m_paceTs = 0;
    std::uint64_t m_paceWall = 0;
    std::string m_error;
};

}  // namespace pushcap::capture
