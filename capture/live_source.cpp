#include "capture/live_source.hpp"

#include <pcap/pcap.h>

#include <cstring>
#include <stdexcept>

namespace pushcap::capture {
namespace {

std::string pcapProblem(pcap_t* p, int status) {
    std::string text = pcap_statustostr(status);
    const char* detail = pcap_geterr(p);
    if (detail != nullptr && *detail != '\0')
        text += ": " + std::string(detail);
    return text;
}

}  // namespace

LiveSource::LiveSource(const LiveOptions& o) : m_options(o) {
    char err[PCAP_ERRBUF_SIZE] = {};
    const std::string name = "interface " + o.interface;
    m_handle = pcap_create(o.interface.c_str(), err);
    if (m_handle == nullptr)
        throw std::runtime_error(name + ": " + err);
    try {
        if (pcap_set_snaplen(m_handle, static_cast<int>(o.snaplen)) != 0) {
            throw std::runtime_error(name + ": --snaplen " + std::to_string(o.snaplen) +
                                     " refused");
        }
        pcap_set_promisc(m_handle, o.promisc ? 1 : 0);
        // Without immediate mode libpcap uses TPACKET_V3: packets packed in blocks, so a big
        // snaplen does not shrink the ring to a few slots. The block timeout bounds the latency.
        pcap_set_immediate_mode(m_handle, o.immediate ? 1 : 0);
        pcap_set_timeout(m_handle, o.timeoutMs);
        if (o.bufferBytes != 0 &&
            pcap_set_buffer_size(m_handle, static_cast<int>(o.bufferBytes)) != 0) {
            throw std::runtime_error(name + ": --buffer-bytes " + std::to_string(o.bufferBytes) +
                                     " refused");
        }
        m_nanos = pcap_set_tstamp_precision(m_handle, PCAP_TSTAMP_PRECISION_NANO) == 0;
        const int status = pcap_activate(m_handle);
        if (status < 0)
            throw std::runtime_error(name + ": cannot open: " + pcapProblem(m_handle, status));
        m_nanos = pcap_get_tstamp_precision(m_handle) == PCAP_TSTAMP_PRECISION_NANO;
        if (pcap_setnonblock(m_handle, 1, err) != 0)
            throw std::runtime_error(name + ": " + err);
        m_fd = pcap_get_selectable_fd(m_handle);
        if (m_fd < 0)
            throw std::runtime_error(name + ": has no selectable descriptor");
        m_meta.linkType = static_cast<std::uint32_t>(pcap_datalink(m_handle));
        m_meta.snaplen = static_cast<std::uint32_t>(pcap_snapshot(m_handle));
        m_meta.sourceId = o.sourceId;
    } catch (...) {
        pcap_close(m_handle);
        throw;
    }
}

LiveSource::~LiveSource() {
    pcap_close(m_handle);
}

void LiveSource::onPacket(unsigned char* user, const ::pcap_pkthdr* h, const unsigned char* bytes) {
    auto* self = reinterpret_cast<LiveSource*>(user);
    std::uint32_t cap = h->caplen;
    std::byte* dst = self->m_batcher->reserve(self->m_meta, cap);
    if (dst == nullptr) {
        ++self->m_ringFull;
        return;
    }
    const auto frac = static_cast<std::uint32_t>(h->ts.tv_usec);
    const router::PcapRecordHeader rec{static_cast<std::uint32_t>(h->ts.tv_sec),
                                       self->m_nanos ? frac : frac * 1000, cap, h->len};
    std::memcpy(dst, &rec, sizeof rec);
    std::memcpy(dst + sizeof rec, bytes, cap);
    self->m_batcher->commit(cap);
}

PumpStatus LiveSource::pump(Batcher& batcher) {
    m_batcher = &batcher;
    const int n = pcap_dispatch(m_handle, 4096, &LiveSource::onPacket,
                                reinterpret_cast<unsigned char*>(this));
    m_batcher = nullptr;
    if (n == PCAP_ERROR) {
        m_error = describe() + ": " + pcap_geterr(m_handle);
        return PumpStatus::Failed;
    }
    return n > 0 ? PumpStatus::Progress : PumpStatus::Idle;
}

void LiveSource::drops(std::uint64_t& dropped, std::uint64_t& ifDropped) const {
    pcap_stat st{};
    if (pcap_stats(m_handle, &st) == 0) {
        m_drops += st.ps_drop - m_lastDrop;  // unsigned arithmetic handles the 32-bit wrap
        m_ifDrops += st.ps_ifdrop - m_lastIfDrop;
        m_lastDrop = st.ps_drop;
        m_lastIfDrop = st.ps_ifdrop;
    }
    dropped = m_drops + m_ringFull;
    ifDropped = m_ifDrops;
}

}  // namespace pushcap::capture
