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

namespace {

// Serves until `done` holds, waking on the publisher's descriptors (at most 10 s).
template <typename Done>
bool serveUntil(supervisor::StatusPublisher& pub, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::vector<zmq::pollitem_t> items;
        for (int fd : pub.pollFds())
            items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
        zmq::poll(items, std::chrono::milliseconds(50));
    }
    return done();
}

}  // namespace

TEST_CASE("a new subscriber is announced, so it can get a snapshot at once",
          "[unit][supervisor][status]") {
    supervisor::StatusPublisher pub("tcp://127.0.0.1:*");
    zmq::context_t ctx;
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::subscribe, "pushcap.");
    sub.set(zmq::sockopt::rcvtimeo, 5000);
    sub.connect(pub.endpoint());
    REQUIRE(serveUntil(pub, [&] { return pub.serve() == 1; }));
    CHECK(pub.subscriptions() == 1);
    v1::Snapshot snapshot;
    pub.publish(snapshot);
    zmq::message_t topic, body;
    REQUIRE(sub.recv(topic).has_value());  // the very first message: nothing was dropped
    REQUIRE(sub.recv(body).has_value());
    v1::Snapshot decoded;
    REQUIRE(decoded.ParseFromArray(body.data(), static_cast<int>(body.size())));
    CHECK(decoded.sequence() == 1);
    CHECK(decoded.replay_endpoint() == pub.replayEndpoint());

    sub.close();
    REQUIRE(serveUntil(pub, [&] {
        pub.serve();
        return pub.subscriptions() == 0;
    }));
}

TEST_CASE("the replay socket serves what was published, and learns who holds everything",
          "[unit][supervisor][status]") {
    supervisor::StatusPublisher pub("tcp://127.0.0.1:*", {3, 1 << 20});
    for (int i = 0; i < 4; ++i) {
        v1::Event e;
        e.mutable_file_completed()->set_path("/f" + std::to_string(i));
        pub.publish("file_completed", e);
    }
    zmq::context_t ctx;
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.connect(pub.replayEndpoint());
    auto ask = [&](std::uint64_t from, std::uint64_t to) {
        v1::ReplayRequest r;
        r.set_from_sequence(from);
        r.set_to_sequence(to);
        dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
        dealer.send(zmq::buffer(r.SerializeAsString()));
        std::vector<zmq::message_t> frames;
        serveUntil(pub, [&] {
            pub.serve();
            zmq::message_t f;
            while (dealer.recv(f, zmq::recv_flags::dontwait)) {
                const bool more = f.more();
                frames.push_back(std::move(f));
                if (!more)
                    return true;
            }
            return false;
        });
        return frames;
    };
    std::vector<zmq::message_t> frames = ask(1, 0);
    REQUIRE(frames.size() == 2 + 2 * 3);
    CHECK(frames[0].size() == 0);
    v1::ReplayReply reply;
    REQUIRE(reply.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size())));
    CHECK(reply.first_sequence() == 2);  // bounded to 3 messages
    CHECK(reply.last_sequence() == 4);
    CHECK(reply.count() == 3);
    CHECK(frames[2].to_string() == "pushcap.event.file_completed");
    v1::Event first;
    REQUIRE(first.ParseFromArray(frames[3].data(), static_cast<int>(frames[3].size())));
    CHECK(first.sequence() == 2);
    CHECK(first.file_completed().path() == "/f1");
    CHECK(pub.caughtUp() == 0);

    frames = ask(5, 0);  // "I hold everything"
    REQUIRE(frames.size() == 2);
    CHECK(pub.caughtUp() == 1);
}
