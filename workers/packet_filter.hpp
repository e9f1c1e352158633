// The target's BPF filter (a full tcpdump expression), compiled with libpcap once per link type.
//
// Start-up (may throw, may allocate): construct, validate(). Per packet: matches(), which neither
// allocates nor makes a system call. A link type seen for the first time is compiled on the batch
// path, once; if the expression does not apply to it, that link type's packets never match and
// linkTypeError() says why.
//
// libpcap compiles; running the program is ours (DecodedBpf): the per-packet filter was the
// largest share of a worker's own CPU time under libpcap's interpreter. A program the decoder does
// not take (an opcode it does not know) still runs under libpcap, so behaviour never depends on
// the decoder's coverage.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "router/ring_layout.hpp"

namespace pushcap::workers {

// A classic BPF program rewritten once for a cheaper per-packet run with the same result as
// libpcap's pcap_offline_filter(): jumps resolved to absolute indices, each load's bounds check
// precomputed, and the compiler's most common pairs ("load; compare and jump", "and; compare and
// jump") fused into one step.
class DecodedBpf {
  public:
    // False (and nothing kept) if the program has an opcode or operand the decoder does not take,
    // or could run off its end: the caller then keeps libpcap's interpreter for it.
    bool decode(const bpf_program& program);
    bool decoded() const { return !m_ops.empty(); }
    // The program's verdict for one packet (true: keep it).
    bool run(const std::byte* data, std::uint32_t caplen, std::uint32_t wirelen) const noexcept;

  private:
    struct Op {
        std::uint32_t k = 0;     // operand; for loads, the offset
        std::uint32_t k2 = 0;    // fused steps: the constant compared with
        std::uint32_t need = 0;  // absolute loads: bytes the packet must have (offset + size)
        std::uint16_t jt = 0;    // absolute index of the next step if true (or the only one)
        std::uint16_t jf = 0;    // absolute index of the next step if false
        std::uint8_t code = 0;
    };
    std::vector<Op> m_ops;
    bool m_usesMemory = false;
};

class PacketFilter {
  public:
    // What matches() runs for one link type.
    struct Program {
        const bpf_program* libpcap = nullptr;
        DecodedBpf decoded;
    };

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
    const Program* programFor(std::uint32_t linkType);

    // libpcap's message for a link type the expression did not compile for ("" if none).
    std::string errorFor(std::uint32_t linkType) const;

    static bool matches(const Program* program, const router::PcapRecordHeader& header,
                        const std::byte* data) {
        if (program->decoded.decoded())
            return program->decoded.run(data, header.caplen, header.wirelen);
        pcap_pkthdr h;
        h.ts.tv_sec = header.ts_sec;
        h.ts.tv_usec = header.ts_nsec / 1000;
        h.caplen = header.caplen;
        h.len = header.wirelen;
        return pcap_offline_filter(program->libpcap, &h, reinterpret_cast<const u_char*>(data)) !=
               0;
    }

  private:
    struct Compiled {
        std::uint32_t linkType = 0;
        bool ok = false;
        bpf_program program{};
        Program run;
        std::string error;
    };
    bool compile(std::uint32_t linkType, bpf_program& program, std::string& error) const;

    std::string m_target;
    std::string m_expression;
    // Boxed: programFor() hands out pointers that must outlive later link types' compiles.
    std::vector<std::unique_ptr<Compiled>> m_compiled;
    bpf_insn m_rejectInsn{};
    bpf_program m_rejectAll{};
    Program m_rejectProgram;
};

}  // namespace pushcap::workers
