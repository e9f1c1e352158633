#include "workers/packet_filter.hpp"

#include "workers/config_error.hpp"

namespace pushcap::workers {

PacketFilter::PacketFilter(std::string target, std::string expression)
    : m_target(std::move(target)), m_expression(std::move(expression)) {
    m_compiled.reserve(8);
    // An empty program would accept everything (bpf_filter's rule), so reject explicitly.
    m_rejectInsn.code = BPF_RET | BPF_K;
    m_rejectInsn.k = 0;
    m_rejectAll.bf_len = 1;
    m_rejectAll.bf_insns = &m_rejectInsn;
}

PacketFilter::~PacketFilter() {
    for (Compiled& c : m_compiled) {
        if (c.ok)
            pcap_freecode(&c.program);
    }
}

bool PacketFilter::compile(std::uint32_t linkType, bpf_program& program, std::string& error) const {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(static_cast<int>(linkType),
                                                        static_cast<int>(router::MAX_CAPLEN),
                                                        PCAP_TSTAMP_PRECISION_NANO);
    if (dead == nullptr) {
        error = "libpcap cannot open a handle for link type " + std::to_string(linkType);
        return false;
    }
    const bool ok =
        pcap_compile(dead, &program, m_expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!ok)
        error = pcap_geterr(dead);
    pcap_close(dead);
    return ok;
}

void PacketFilter::validate(std::uint32_t linkType) const {
    if (empty())
        return;
    bpf_program program{};
    std::string error;
    if (!compile(linkType, program, error)) {
        throw ConfigError("target '" + m_target + "': invalid FilterBPF \"" + m_expression +
                          "\": " + error);
    }
    pcap_freecode(&program);
}

const bpf_program* PacketFilter::programFor(std::uint32_t linkType) {
    if (empty())
        return nullptr;
    for (const Compiled& c : m_compiled) {
        if (c.linkType == linkType)
            return c.ok ? &c.program : &m_rejectAll;
    }
    Compiled& c = m_compiled.emplace_back();
    c.linkType = linkType;
    c.ok = compile(linkType, c.program, c.error);
    return c.ok ? &c.program : &m_rejectAll;
}

}  // namespace pushcap::workers

namespace pushcap::workers {

std::string PacketFilter::errorFor(std::uint32_t linkType) const {
    for (const Compiled& c : m_compiled) {
        if (c.linkType == linkType)
            return c.error;
    }
    return {};
}

}  // namespace pushcap::workers
