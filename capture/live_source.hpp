// A live interface through libpcap (pcap_create/pcap_activate), with a short block timeout (or
// immediate mode) and nanosecond timestamps where the platform has them. Each interface is its
// own source id.
#pragma once

#include <cstdint>
#include <string>

#include "capture/source.hpp"

struct pcap;
struct pcap_pkthdr;

namespace pushcap::capture {

struct LiveOptions {
    std::string interface;
    std::uint16_t sourceId = 0;
    std::uint32_t snaplen = 262144;
    bool promisc = true;
    std::uint64_t bufferBytes = 32 << 20;
    // false: packets are handed over in kernel blocks retired at least every `timeoutMs`
    // (TPACKET_V3, packed, far fewer drops at high rates); true: one wake-up per packet.
    bool immediate = false;
    int timeoutMs = 1;
};

class LiveSource final : public Source {
  public:
    // Opens and activates the handle; throws std::runtime_error naming the interface and option.
    explicit LiveSource(const LiveOptions& options);
    ~LiveSource() override;
    LiveSource(const LiveSource&) = delete;
    LiveSource& operator=(const LiveSource&) = delete;

    std::string describe() const override { return "interface " + m_options.interface; }
    int pollFd() const override { return m_fd; }
    PumpStatus pump(Batcher& batcher) override;
    std::string error() const override { return m_error; }
    void drops(std::uint64_t& dropped, std::uint64_t& ifDropped) const override;
    bool nanosecond() const { return m_nanos; }
    std::uint32_t linkType() const { return m_meta.linkType; }

  private:
    static void onPacket(unsigned char* user, const ::pcap_pkthdr* header,
                         const unsigned char* bytes);

    LiveOptions m_options;
    pcap* m_handle = nullptr;
    int m_fd = -1;
    bool m_nanos = false;
    router::BatchMeta m_meta;
    Batcher* m_batcher = nullptr;  // set during pump()
    std::uint64_t m_ringFull = 0;
    // pcap_stats counters are 32-bit and wrap; these accumulate them to 64 bits.
    mutable std::uint32_t m_lastDrop = 0, m_lastIfDrop = 0;
    mutable std::uint64_t m_drops = 0, m_ifDrops = 0;
    std::string m_error;
};

}  // namespace pushcap::capture
