// Which ring mode a run uses and which delivery each target gets in it. Pure functions of the
// configuration and the command line, so pushcapd, `--check` and the tests agree.
//
// What the source can do decides: stored files can wait (lossless ring), a NIC cannot (live
// ring: every target is best-effort, whatever it asks), and the collector's sockets can be slowed
// (backpressured ring: TCP holds the clients back while a lossless target has no room). In the
// rings that may wait, each target chooses: lossless (the default) or best-effort (lapped, counts
// exactly what it lost).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "router/ring_layout.hpp"

namespace pushcap::supervisor {

enum class RingModeChoice { Auto, Live, Lossless };  // Config.RingMode

// Config.Target[i].Delivery and Config.Collector.Output.Delivery. Default: lossless where the
// ring may wait, best-effort in a live ring, without a notice.
enum class DeliveryChoice { Default, Lossless, BestEffort };

// "" and sets `out` for "lossless" or "best-effort" (any case); else what was expected.
std::string parseDeliveryChoice(const std::string& text, DeliveryChoice& out);

struct RingPlan {
    router::RingMode mode = router::RingMode::Live;
    // Live: why the capture cannot wait, for notices ("interface eth1 cannot wait").
    std::string liveReason;
};

// Auto: --offline files -> Lossless; any interface -> Live; the collector alone -> Backpressured.
// An explicit Config.RingMode is kept as given.
RingPlan planRing(RingModeChoice choice, bool offline, const std::vector<std::string>& interfaces);

// The ring's capacity: Config.RingSize if given; else the live default for rings fed by live
// data (Live, Backpressured: room for bursts), and `offlineBytes` for a lossless push.
std::uint64_t ringCapacity(router::RingMode mode, std::uint64_t configuredBytes, bool configuredSet,
                           std::uint64_t offlineBytes);

struct DeliveryDecision {
    router::Delivery delivery = router::Delivery::Lossless;
    std::string notice;  // non-empty when the target's choice cannot be honoured
};

// The delivery a target gets in `ring`; `label` names it in the notice (`Target[1] "pcap-all"`).
DeliveryDecision resolveDelivery(DeliveryChoice asked, const std::string& label,
                                 const RingPlan& ring);

// As status and logs show them: "lossless", "live", "backpressured"; "lossless", "best-effort".
const char* ringModeName(router::RingMode mode);
const char* deliveryName(router::Delivery delivery);

}  // namespace pushcap::supervisor
