#include <catch2/catch.hpp>

#include "tools/status_recovery.hpp"

using pushcap::tools::GapRecovery;
using pushcap::tools::StreamMessage;

namespace {

StreamMessage m(std::uint64_t sequence) {
    return StreamMessage{sequence, "pushcap.status", std::to_string(sequence)};
}

std::vector<std::uint64_t> sequences(const std::vector<StreamMessage>& messages) {
    std::vector<std::uint64_t> out;
    for (const StreamMessage& x : messages)
        out.push_back(x.sequence);
    return out;
}

using Seqs = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("a stream without gaps passes straight through", "[unit][web][status]") {
    GapRecovery r;
    CHECK(sequences(r.onLive(m(1))) == Seqs{1});
    CHECK(sequences(r.onLive(m(2))) == Seqs{2});
    CHECK(!r.request());
    CHECK(r.next() == 3);
    CHECK(r.lost() == 0);
}

TEST_CASE("a late join asks for everything from 1 and delivers it before the live messages",
          "[unit][web][status]") {
    GapRecovery r;
    CHECK(r.onLive(m(4)).empty());
    CHECK(r.onLive(m(5)).empty());
    const auto range = r.request();
    REQUIRE(range);
    CHECK(range->from == 1);
    CHECK(range->to == 3);
    CHECK(!r.request());  // one request at a time
    CHECK(r.onLive(m(6)).empty());
    CHECK(sequences(r.onReplay({m(1), m(2), m(3)})) == Seqs{1, 2, 3, 4, 5, 6});
    CHECK(r.recovered() == 3);
    CHECK(r.lost() == 0);
    CHECK(!r.gapOpen());
}

TEST_CASE("what the replay no longer holds is counted lost, the rest delivered",
          "[unit][web][status]") {
    GapRecovery r;
    r.onLive(m(1));
    r.onLive(m(10));
    const auto range = r.request();
    REQUIRE(range);
    CHECK(range->from == 2);
    CHECK(range->to == 9);
    // The replay starts at 6 and repeats one message the subscriber already has.
    CHECK(sequences(r.onReplay({m(1), m(6), m(7), m(8), m(9), m(10)})) == Seqs{6, 7, 8, 9, 10});
    CHECK(r.lost() == 4);
    CHECK(r.recovered() == 4);
    CHECK(r.next() == 11);
}

TEST_CASE("a second gap opened while the first is recovered gets its own request",
          "[unit][web][status]") {
    GapRecovery r;
    r.onLive(m(1));
    r.onLive(m(3));
    REQUIRE(r.request()->to == 2);
    r.onLive(m(6));
    CHECK(sequences(r.onReplay({m(2)})) == Seqs{2, 3});
    const auto second = r.request();
    REQUIRE(second);
    CHECK(second->from == 4);
    CHECK(second->to == 5);
    CHECK(sequences(r.onReplay({m(4), m(5)})) == Seqs{4, 5, 6});
}

TEST_CASE("a replay that does not answer: the gap is given up and the stream goes on",
          "[unit][web][status]") {
    GapRecovery r;
    r.onLive(m(1));
    r.onLive(m(5));
    REQUIRE(r.request());
    CHECK(sequences(r.onTimeout()) == Seqs{5});
    CHECK(r.lost() == 3);
    CHECK(sequences(r.onReplay({m(2)})).empty());  // too late: nobody waits for it
}

TEST_CASE("a sequence going back is a new publisher: start again from its 1",
          "[unit][web][status]") {
    GapRecovery r;
    r.onLive(m(1));
    r.onLive(m(2));
    r.onLive(m(3));
    CHECK(r.onLive(m(2)).empty());
    CHECK(r.publisherRestarts() == 1);
    REQUIRE(r.request()->from == 1);
    CHECK(sequences(r.onReplay({m(1)})) == Seqs{1, 2});
}

TEST_CASE("too many messages held behind a gap: it is given up", "[unit][web][status]") {
    GapRecovery r(3);
    r.onLive(m(1));
    for (std::uint64_t s = 5; s <= 7; ++s)
        CHECK(r.onLive(m(s)).empty());
    CHECK(sequences(r.onLive(m(8))) == Seqs{5, 6, 7, 8});
    CHECK(r.lost() == 3);
    CHECK(!r.requesting());
}

TEST_CASE("a new publisher whose numbers go on from the old one's is told apart by the caller",
          "[unit][web][status]") {
    GapRecovery r;
    r.onLive(m(1));
    r.onLive(m(2));
    CHECK(r.onLive(m(5), /*newPublisher=*/true).empty());
    CHECK(r.publisherRestarts() == 1);
    const auto range = r.request();
    REQUIRE(range);
    CHECK(range->from == 1);
    CHECK(range->to == 4);
}
