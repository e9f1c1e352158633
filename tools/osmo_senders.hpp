// The collector benchmark's senders: one pre-encoded osmo-pcap stream (a pcap link header, then
// IMIX data messages) that each sender streams over loopback TCP, whole messages only, so what
// a sender sent is known exactly from its packet count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace pushcap::tools {

constexpr std::size_t DEFAULT_SLICE_BYTES = 64u << 10;

// Pieces of a body ending on message boundaries: end offset, packets in the piece.
using Slices = std::vector<std::pair<std::size_t, std::uint64_t>>;

struct Stream {
    std::vector<char> header;
    std::vector<char> body;  // whole messages
    std::uint64_t packetsPerBody = 0;
    Slices slices;  // DEFAULT_SLICE_BYTES pieces
};

Stream encodeStream();
// `body` cut into pieces of at least `bytes` (the last one may be shorter).
Slices sliceBody(const std::vector<char>& body, std::size_t bytes);

struct SendOptions {
    double bytesPerSecond = 0;  // > 0 paces the sender; 0 sends as fast as TCP takes it
    // Slices smaller than DEFAULT_SLICE_BYTES pace more finely (a sender's bytes arrive in
    // smaller bursts), at more send() calls per byte.
    std::size_t sliceBytes = DEFAULT_SLICE_BYTES;
    // > 0: SO_SNDBUF (the kernel doubles it). A small one keeps a collector's stall from being
    // hidden by megabytes of autotuned socket buffer: send() then blocks soon after it stops
    // reading, as it would for a client with a short queue.
    int sendBufferBytes = 0;
    // Paced: keep, per slice, how late its send() completed against the pacing schedule.
    bool recordLateness = false;
};

struct SendResult {
    std::uint64_t bytes = 0;  // body bytes (osmo-pcap messages) sent, the link header not counted
    std::uint64_t packets = 0;
    double seconds = 0;       // from the first body send until the last one completed
    int sendBufferBytes = 0;  // SO_SNDBUF as the kernel set it
    // recordLateness: per slice, in order, seconds from the time the schedule wanted the slice
    // sent (start + bytes before it / bytesPerSecond) until its send() completed. A slice after
    // a stall is late too until the sender has caught up with the schedule.
    std::vector<double> lateness;
};

// Streams for `seconds` from 127.0.0.(1 + index) to 127.0.0.1:`port`, whole slices of the body
// from its start, repeated, as `options` say. The socket is closed on return.
SendResult sendFor(int index, std::uint16_t port, const Stream& s, double seconds,
                   const SendOptions& options);
// `n` senders (indexes 0..n-1) at once, each sender's own result; `gbps` > 0: together they
// offer that rate.
std::vector<SendResult> runSendersEach(int n, std::uint16_t port, const Stream& s, double seconds,
                                       double gbps = 0);
// The same, summed.
SendResult runSenders(int n, std::uint16_t port, const Stream& s, double seconds, double gbps = 0);

}  // namespace pushcap::tools
