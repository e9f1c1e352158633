#include <catch2/catch.hpp>
#include <string>

#include "supervisor/replay_buffer.hpp"
#include "supervisor/status_publisher.hpp"

using namespace pushcap::supervisor;

namespace {

StoredMessage message(std::uint64_t sequence, std::size_t bodyBytes = 10) {
    return StoredMessage{sequence, "t", std::string(bodyBytes, 'x')};
}

std::vector<std::uint64_t> sequences(const std::vector<const StoredMessage*>& messages) {
    std::vector<std::uint64_t> out;
    for (const StoredMessage* m : messages)
        out.push_back(m->sequence);
    return out;
}

}  // namespace

TEST_CASE("the replay buffer keeps the last N messages", "[unit][supervisor][status]") {
    ReplayBuffer buffer(3, 1 << 20);
    CHECK(buffer.firstSequence() == 0);
    CHECK(buffer.range(1, 0).empty());
    for (std::uint64_t s = 1; s <= 5; ++s)
        buffer.add(message(s));
    CHECK(buffer.size() == 3);
    CHECK(buffer.firstSequence() == 3);
    CHECK(sequences(buffer.range(1, 0)) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK(sequences(buffer.range(4, 4)) == std::vector<std::uint64_t>{4});
    CHECK(sequences(buffer.range(1, 3)) == std::vector<std::uint64_t>{3});
    CHECK(buffer.range(6, 0).empty());
    CHECK(buffer.range(1, 2).empty());
}

TEST_CASE("the replay buffer is bounded by bytes, but always holds the newest message",
          "[unit][supervisor][status]") {
    ReplayBuffer buffer(100, 35);  // each message costs 1 + 10 bytes
    for (std::uint64_t s = 1; s <= 4; ++s)
        buffer.add(message(s));
    CHECK(buffer.size() == 3);
    CHECK(buffer.bytes() == 33);
    CHECK(buffer.firstSequence() == 2);
    buffer.add(message(5, 100));  // alone above the bound
    CHECK(buffer.size() == 1);
    CHECK(buffer.firstSequence() == 5);
    CHECK(buffer.bytes() == 101);
    buffer.add(message(6));
    CHECK(sequences(buffer.range(0, 0)) == std::vector<std::uint64_t>{6});
}

TEST_CASE("the replay endpoint follows from the status endpoint", "[unit][supervisor][status]") {
    CHECK(replayEndpointFor("tcp://127.0.0.1:5577") == "tcp://127.0.0.1:5578");
    CHECK(replayEndpointFor("tcp://127.0.0.1:*") == "tcp://127.0.0.1:*");
    CHECK(replayEndpointFor("tcp://[::1]:5577") == "tcp://[::1]:5578");
    CHECK(replayEndpointFor("ipc:///run/pushcap/status") == "ipc:///run/pushcap/status.replay");
    CHECK(replayEndpointFor("inproc://status") == "inproc://status.replay");
}
