// Small helpers shared by the multi-process ring tests (header-only, test code only).
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "ring_test_support.hpp"
#include "router/atomic_field.hpp"
#include "router/ring_janitor.hpp"
#include "router/ring_segment.hpp"

namespace pushcap::ringtest {

inline std::unique_ptr<Peer> startConsumer(const std::string& segment, const std::string& name,
                                           const TempDir& dir,
                                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"consume", "segment=" + segment, "name=" + name};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Peer>(args, dir.file(name + ".out"));
}

inline std::unique_ptr<Peer> startProducer(const std::string& segment, std::uint64_t packets,
                                           const TempDir& dir,
                                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"produce", "segment=" + segment,
                                     "packets=" + std::to_string(packets)};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Peer>(args, dir.file("producer.out"));
}

// Waits for a peer that is expected to finish by itself, and checks it exited with 0.
inline void requireCleanExit(Peer& peer, const char* what) {
    INFO(what << " pid " << peer.pid());
    REQUIRE(peer.wait(std::chrono::seconds(240)) != -1);
    REQUIRE(peer.exitedCleanly());
}

inline const router::ConsumerSlot& slotOf(const router::RingSegment& seg, const std::string& name) {
    const int index = seg.findSlot(name);
    REQUIRE(index >= 0);
    return seg.slot(static_cast<std::uint32_t>(index));
}

}  // namespace pushcap::ringtest
