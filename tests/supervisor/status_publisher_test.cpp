#include <catch2/catch.hpp>
#include <chrono>
#include <zmq.hpp>

#include "status.pb.h"
#include "supervisor/status_publisher.hpp"

using namespace pushcap;

TEST_CASE("snapshots and events arrive as topic + protobuf with rising sequence numbers",
          "[unit][supervisor][status]") {
    supervisor::StatusPublisher pub("tcp://127.0.0.1:*");
    REQUIRE(pub.endpoint().rfind("tcp://127.0.0.1:", 0) == 0);
    zmq::context_t ctx;
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::subscribe, "pushcap.");
    sub.set(zmq::sockopt::rcvtimeo, 100);
    sub.connect(pub.endpoint());

    // PUB drops messages until the subscription has propagated: publish until one arrives.
    v1::Snapshot snapshot;
    snapshot.set_instance("t");
    snapshot.add_targets()->set_desc("pcap-all");
    zmq::message_t topic, body;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool got = false;
    while (!got && std::chrono::steady_clock::now() < deadline) {
        pub.publish(snapshot);
        got = sub.recv(topic).has_value();
    }
    REQUIRE(got);
    CHECK(topic.to_string() == "pushcap.status");
    REQUIRE(sub.recv(body).has_value());
    v1::Snapshot decoded;
    REQUIRE(decoded.ParseFromArray(body.data(), static_cast<int>(body.size())));
    CHECK(decoded.instance() == "t");
    REQUIRE(decoded.targets_size() == 1);
    CHECK(decoded.targets(0).desc() == "pcap-all");

    v1::Event event;
    event.mutable_file_completed()->set_path("/tmp/x.pcap");
    pub.publish("file_completed", event);
    // Drain the snapshots that were in flight, then the event must follow.
    for (;;) {
        REQUIRE(sub.recv(topic).has_value());
        REQUIRE(sub.recv(body).has_value());
        if (topic.to_string() != "pushcap.status")
            break;
    }
    CHECK(topic.to_string() == "pushcap.event.file_completed");
    v1::Event decodedEvent;
    REQUIRE(decodedEvent.ParseFromArray(body.data(), static_cast<int>(body.size())));
    CHECK(decodedEvent.sequence() == pub.lastSequence());
    CHECK(decodedEvent.sequence() > decoded.sequence());
    CHECK(decodedEvent.file_completed().path() == "/tmp/x.pcap");
}

TEST_CASE("an endpoint that cannot be bound is a clear error", "[unit][supervisor][status]") {
    CHECK_THROWS_WITH(supervisor::StatusPublisher("tcp://256.1.1.1:5"),
                      Catch::Contains("tcp://256.1.1.1:5"));
}
