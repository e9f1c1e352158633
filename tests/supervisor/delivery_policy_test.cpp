// Which ring mode a run gets, and which delivery each target gets in it (supervisor/
// delivery_policy.hpp): pure functions, so every case is one call.
#include <catch2/catch.hpp>

#include "supervisor/config.hpp"
#include "supervisor/delivery_policy.hpp"

using namespace pushcap::supervisor;
using pushcap::router::Delivery;
using pushcap::router::RingMode;

TEST_CASE("ring mode: what the source can do decides, an explicit RingMode is kept",
          "[unit][supervisor][delivery]") {
    const std::vector<std::string> none;
    const std::vector<std::string> eth1{"eth1"};
    // Auto.
    CHECK(planRing(RingModeChoice::Auto, /*offline=*/true, none).mode == RingMode::Lossless);
    CHECK(planRing(RingModeChoice::Auto, false, eth1).mode == RingMode::Live);
    CHECK(planRing(RingModeChoice::Auto, false, none).mode == RingMode::Backpressured);
    // Explicit.
    CHECK(planRing(RingModeChoice::Lossless, false, eth1).mode == RingMode::Lossless);
    CHECK(planRing(RingModeChoice::Lossless, false, none).mode == RingMode::Lossless);
    CHECK(planRing(RingModeChoice::Live, true, none).mode == RingMode::Live);
    CHECK(planRing(RingModeChoice::Live, false, none).mode == RingMode::Live);

    CHECK(planRing(RingModeChoice::Auto, false, eth1).liveReason == "interface eth1 cannot wait");
    CHECK(planRing(RingModeChoice::Auto, false, {"eth1", "eth2"}).liveReason ==
          "interfaces eth1, eth2 cannot wait");
    CHECK_THAT(planRing(RingModeChoice::Live, false, none).liveReason,
               Catch::Contains("Config.RingMode is \"live\""));
    CHECK(planRing(RingModeChoice::Auto, false, none).liveReason.empty());

    CHECK(std::string(ringModeName(RingMode::Lossless)) == "lossless");
    CHECK(std::string(ringModeName(RingMode::Live)) == "live");
    CHECK(std::string(ringModeName(RingMode::Backpressured)) == "backpressured");
}

TEST_CASE("ring capacity: live data gets the live default, a lossless push the small ring",
          "[unit][supervisor][delivery]") {
    const std::uint64_t live = 256ULL << 20, offline = OFFLINE_RING_BYTES;
    CHECK(ringCapacity(RingMode::Lossless, live, false, offline) == offline);
    CHECK(ringCapacity(RingMode::Live, live, false, offline) == live);
    CHECK(ringCapacity(RingMode::Backpressured, live, false, offline) == live);
    // Config.RingSize is used in every mode.
    CHECK(ringCapacity(RingMode::Lossless, 64ULL << 20, true, offline) == 64ULL << 20);
}

TEST_CASE("delivery: a live ring makes every target best-effort, the others follow the target",
          "[unit][supervisor][delivery]") {
    const std::string label = "Target[1] \"pcap-all\"";
    const RingPlan live = planRing(RingModeChoice::Auto, false, {"eth1"});
    const RingPlan offline = planRing(RingModeChoice::Auto, true, {});
    const RingPlan collector = planRing(RingModeChoice::Auto, false, {});

    SECTION("live: best-effort, and a notice only for an explicit lossless") {
        DeliveryDecision d = resolveDelivery(DeliveryChoice::Lossless, label, live);
        CHECK(d.delivery == Delivery::BestEffort);
        CHECK(d.notice ==
              "Target[1] \"pcap-all\": Delivery \"lossless\" is not possible: interface eth1 "
              "cannot wait; it runs best-effort");
        d = resolveDelivery(DeliveryChoice::Default, label, live);
        CHECK(d.delivery == Delivery::BestEffort);
        CHECK(d.notice.empty());
        d = resolveDelivery(DeliveryChoice::BestEffort, label, live);
        CHECK(d.delivery == Delivery::BestEffort);
        CHECK(d.notice.empty());
    }
    SECTION("lossless and backpressured rings: the target's choice, lossless by default") {
        for (const RingPlan& ring : {offline, collector}) {
            CHECK(resolveDelivery(DeliveryChoice::Default, label, ring).delivery ==
                  Delivery::Lossless);
            CHECK(resolveDelivery(DeliveryChoice::Lossless, label, ring).delivery ==
                  Delivery::Lossless);
            const DeliveryDecision d = resolveDelivery(DeliveryChoice::BestEffort, label, ring);
            CHECK(d.delivery == Delivery::BestEffort);
            CHECK(d.notice.empty());
        }
    }
    SECTION("the notice names the cause of a live ring without interfaces") {
        const RingPlan forced = planRing(RingModeChoice::Live, false, {});
        CHECK_THAT(resolveDelivery(DeliveryChoice::Lossless, label, forced).notice,
                   Catch::Contains("Delivery \"lossless\" is not possible: Config.RingMode is "
                                   "\"live\": the capture never waits; it runs best-effort"));
    }
    CHECK(std::string(deliveryName(Delivery::Lossless)) == "lossless");
    CHECK(std::string(deliveryName(Delivery::BestEffort)) == "best-effort");
}

TEST_CASE("delivery values: lossless or best-effort, in any case", "[unit][supervisor][delivery]") {
    DeliveryChoice d = DeliveryChoice::Default;
    CHECK(parseDeliveryChoice("best-effort", d).empty());
    CHECK(d == DeliveryChoice::BestEffort);
    CHECK(parseDeliveryChoice("Lossless", d).empty());
    CHECK(d == DeliveryChoice::Lossless);
    CHECK(parseDeliveryChoice("lossles", d) ==
          "expected \"lossless\" or \"best-effort\", got \"lossles\"");
    CHECK(d == DeliveryChoice::Lossless);  // unchanged by a bad value
}
