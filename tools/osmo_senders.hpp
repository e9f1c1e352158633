// The collector benchmark's senders: one pre-encoded osmo-pcap stream (a pcap link header, then
// IMIX data messages) that each sender streams over loopback TCP, whole messages only, so what
// a sender sent is known exactly from its packet count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace pushcap::tools {

struct Stream {
    std::vector<char> header;
    std::vector<char> body;  // whole messages
    std::uint64_t packetsPerBody = 0;
    // ~64 KiB pieces of `body` ending on message boundaries: end offset, packets in the piece.
    std::vector<std::pair<std::size_t, std::uint64_t>> slices;
};

Stream encodeStream();

struct SendResult {
    std::uint64_t bytes = 0;  // body bytes (osmo-pcap messages) sent, the link header not counted
    std::uint64_t packets = 0;
};

// Streams for `seconds` from 127.0.0.(1 + index) to 127.0.0.1:`port`, whole slices of the body
// from its start, repeated; `bytesPerSecond` > 0 paces it (sleeping between 64 KiB slices), 0
// sends as fast as TCP takes it. The socket is closed on return.
SendResult sendFor(int index, std::uint16_t port, const Stream& s, double seconds,
                   double bytesPerSecond);
// `n` senders (indexes 0..n-1) at once, each sender's own result; `gbps` > 0: together they
// offer that rate.
std::vector<SendResult> runSendersEach(int n, std::uint16_t port, const Stream& s, double seconds,
                                       double gbps = 0);
// The same, summed.
SendResult runSenders(int n, std::uint16_t port, const Stream& s, double seconds, double gbps = 0);

}  // namespace pushcap::tools
