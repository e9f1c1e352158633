#include "supervisor/delivery_policy.hpp"

#include "supervisor/lua_reader.hpp"

namespace pushcap::supervisor {
namespace {

// "interface eth1 cannot wait", "interfaces eth1, eth2 cannot wait".
std::string interfacesCannotWait(const std::vector<std::string>& interfaces) {
    std::string text = interfaces.size() == 1 ? "interface " : "interfaces ";
    for (std::size_t i = 0; i < interfaces.size(); ++i)
        text += (i == 0 ? "" : ", ") + interfaces[i];
    return text + " cannot wait";
}

}  // namespace

std::string parseDeliveryChoice(const std::string& text, DeliveryChoice& out) {
    const std::string v = lowerCase(text);
    if (v == "lossless") {
        out = DeliveryChoice::Lossless;
    } else if (v == "best-effort") {
        out = DeliveryChoice::BestEffort;
    } else {
        return "expected \"lossless\" or \"best-effort\", got " + quoted(text);
    }
    return "";
}

RingPlan planRing(RingModeChoice choice, bool offline, const std::vector<std::string>& interfaces) {
    RingPlan plan;
    if (choice == RingModeChoice::Lossless || (choice == RingModeChoice::Auto && offline)) {
        plan.mode = router::RingMode::Lossless;
    } else if (choice == RingModeChoice::Live || !interfaces.empty()) {
        plan.mode = router::RingMode::Live;
        // With interfaces, RingMode = "lossless" would not help either: name the real cause.
        plan.liveReason = !interfaces.empty()
                              ? interfacesCannotWait(interfaces)
                              : "Config.RingMode is \"live\": the capture never waits";
    } else {
        plan.mode = router::RingMode::Backpressured;  // the collector alone: TCP can slow clients
    }
    return plan;
}

std::uint64_t ringCapacity(router::RingMode mode, std::uint64_t configuredBytes, bool configuredSet,
                           std::uint64_t offlineBytes) {
    return configuredSet || mode != router::RingMode::Lossless ? configuredBytes : offlineBytes;
}

DeliveryDecision resolveDelivery(DeliveryChoice asked, const std::string& label,
                                 const RingPlan& ring) {
    DeliveryDecision d;
    if (ring.mode == router::RingMode::Live) {
        // Not an error: the same file may serve an offline push (lossless) and a live capture.
        d.delivery = router::Delivery::BestEffort;
        if (asked == DeliveryChoice::Lossless) {
            d.notice = label + ": Delivery \"lossless\" is not possible: " + ring.liveReason +
                       "; it runs best-effort";
        }
        return d;
    }
    d.delivery = asked == DeliveryChoice::BestEffort ? router::Delivery::BestEffort
                                                     : router::Delivery::Lossless;
    return d;
}

const char* ringModeName(router::RingMode mode) {
    switch (mode) {
        case router::RingMode::Lossless:
            return "lossless";
        case router::RingMode::Live:
            return "live";
        case router::RingMode::Backpressured:
            return "backpressured";
    }
    return "?";
}

const char* deliveryName(router::Delivery delivery) {
    switch (delivery) {
        case router::Delivery::Lossless:
            return "lossless";
        case router::Delivery::BestEffort:
            return "best-effort";
    }
    return "?";
}

}  // namespace pushcap::supervisor
