// The one interface every capture source implements: stored files, live interfaces, and (later)
// remote agents. The capture loop (capture_run) owns the ring writer and the batcher; a source
// only moves packets into the batcher when asked.
#pragma once

#include <cstdint>
#include <string>

#include "capture/batcher.hpp"
#include "proto/child_events.hpp"

namespace pushcap::capture {

enum class PumpStatus {
    Progress,  // moved packets (or may have more right away)
    Idle,      // nothing available now: wait on pollFd()
    End,       // no more packets, ever
    Stopped,   // a stop was requested while waiting for ring space
    Failed,    // unrecoverable; error() says why
};

class Source {
  public:
    virtual ~Source() = default;
    // For logs: "file x.pcap", "interface eth0".
    virtual std::string describe() const = 0;
    // A descriptor that becomes readable when pump() has work, or -1 if pump() never idles.
    virtual int pollFd() const = 0;
    // Moves a bounded amount of packets into `batcher`. Never throws, allocates or logs per packet.
    virtual PumpStatus pump(Batcher& batcher) = 0;
    // Why pump() returned Failed, naming the file/interface and where.
    virtual std::string error() const = 0;
    // Cumulative drops reported by the kernel/peer for this source.
    virtual void drops(std::uint64_t& dropped, std::uint64_t& ifDropped) const {
        dropped = 0;
        ifDropped = 0;
    }
    // True while the source holds data it read but could not put in the ring yet (no room):
    // pump() must be called again without waiting for pollFd(), and it waits for room itself.
    virtual bool hasHeldWork() const { return false; }
    // At shutdown: puts held data in the ring if room comes, reading nothing new. True when
    // nothing is held any more.
    virtual bool drainHeld(Batcher&) { return true; }
    // Status beyond packets and drops, sent to pushcapd about once a second (not per packet).
    virtual void reportStatus(proto::ChildEventWriter&) const {}
};

}  // namespace pushcap::capture
