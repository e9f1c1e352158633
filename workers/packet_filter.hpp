// The target's BPF filter (a full tcpdump expression), compiled with libpcap once per link type.
//
// Start-up (may throw, may allocate): construct, validate(). Per packet: matches(), which neither
// allocates nor makes a system call. A link type seen for the first time is compiled on the batch
// path, once; if the expression does not apply to it, that link type's packets never match and
// linkTypeError() says why.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <string>
#include <vector>

#include "router/ring_layout.hpp"

namespace pushcap::workers {

class PacketFilter {
  public:
    // `expression` empty: keep everything without running a filter.
    PacketFilter(std::string target, std::string expression);
    ~PacketFilter();
    PacketFilter(const PacketFilter&) = delete;
    PacketFilter& operator=(const PacketFilter&) = delete;

    bool empty() const { return m_expression.empty(); }
    const std::string& expression() const { return m_expression; }
    // Compiles for `linkType`; throws ConfigError naming the target with libpcap's text.
    void validate(std::uint32_t linkType) const;

    // The compiled program for a link type, or nullptr when the filter is empty. A program that
    // failed to compile rejects every packet.
    const bpf_program* programFor(std::uint32_t linkType);

    // libpcap's message for a link type the expression did not compile for ("" if none).
    std::string errorFor(std::uint32_t linkType) const;

    static bool matches(const bpf_program* program, const router::PcapRecordHeader& header,
                        const std::byte* data) {
        pcap_pkthdr h;
        h.ts.tv_sec = header.ts_sec;
        h.ts.tv_usec = header.ts_nsec / 1000;
        h.caplen = header.caplen;
        h.len = header.wirelen;
        return pcap_offline_filter(program, &h, reinterpret_cast<const u_char*>(data)) != 0;
    }

  private:
    struct Compiled {
        std::uint32_t linkType = 0;
        bool ok = false;
        bpf_program program{};
        std::string error;
    };
    bool compile(std::uint32_t linkType, bpf_program& program, std::string& error) const;

    std::string m_target;
    std::string m_expression;
    std::vector<Compiled> m_compiled;
    bpf_insn m_rejectInsn{};
    bpf_program m_rejectAll{};
};

}  // namespace pushcap::workers
