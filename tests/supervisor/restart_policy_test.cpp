#include <catch2/catch.hpp>

#include "supervisor/restart_policy.hpp"

using namespace pushcap::supervisor;
using namespace std::chrono_literals;
using Action = RestartDecision::Action;

TEST_CASE("backoff doubles from 100 ms up to 30 s", "[unit][supervisor]") {
    RestartLimits limits;
    limits.maxRestarts = 1000;  // isolate the backoff from the intensity limit
    RestartPolicy policy(limits);
    Clock::time_point t{};
    policy.started(t);
    std::chrono::milliseconds expected = 100ms;
    for (int i = 0; i < 12; ++i) {
        t += 1s;
        RestartDecision d = policy.exited(t, ChildExit::Crashed, Progress::None);
        REQUIRE(d.action == Action::Restart);
        CHECK(d.restartAt - t == expected);
        expected = std::min<std::chrono::milliseconds>(expected * 2, 30s);
        policy.started(d.restartAt);
        t = d.restartAt;
    }
    CHECK(policy.nextBackoff() == 30s);
}

TEST_CASE("60 s of healthy running resets the backoff", "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    policy.started(t);
    policy.exited(t + 1s, ChildExit::Crashed, Progress::None);
    policy.started(t + 2s);
    CHECK(policy.exited(t + 3s, ChildExit::Crashed, Progress::None).restartAt == t + 3s + 200ms);
    policy.started(t + 4s);
    RestartDecision d = policy.exited(t + 4s + 60s, ChildExit::Crashed, Progress::None);
    CHECK(d.restartAt == t + 4s + 60s + 100ms);
}

TEST_CASE("more than 5 restarts in 30 s marks the target FAILED", "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    for (int i = 0; i < 5; ++i) {
        policy.started(t);
        t += 1s;
        REQUIRE(policy.exited(t, ChildExit::Crashed, Progress::None).action == Action::Restart);
    }
    policy.started(t);
    RestartDecision d = policy.exited(t + 1s, ChildExit::Crashed, Progress::None);
    CHECK(d.action == Action::Fail);
    CHECK_THAT(d.reason, Catch::Contains("intensity"));
}

TEST_CASE("crashes spread wider than the window never fail", "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    for (int i = 0; i < 50; ++i) {
        policy.started(t);
        t += 7s;  // at most 5 crashes fall inside any 30 s window
        REQUIRE(policy.exited(t, ChildExit::Crashed, Progress::None).action == Action::Restart);
    }
    CHECK(policy.restarts() == 50);
}

TEST_CASE("a bad-configuration exit fails at once; a clean exit stops", "[unit][supervisor]") {
    RestartPolicy worker;
    worker.started({});
    CHECK(worker.exited(Clock::time_point{} + 1s, ChildExit::BadConfig, Progress::None).action ==
          Action::Fail);
    RestartPolicy done;
    done.started({});
    CHECK(done.exited(Clock::time_point{} + 1s, ChildExit::Done, Progress::None).action ==
          Action::Stop);
}

TEST_CASE("the capture process is always restarted", "[unit][supervisor]") {
    RestartPolicy capture({}, /*essential=*/true);
    Clock::time_point t{};
    for (int i = 0; i < 20; ++i) {
        capture.started(t);
        t += 10ms;
        RestartDecision d =
            capture.exited(t, i % 2 ? ChildExit::BadConfig : ChildExit::Crashed, Progress::None);
        REQUIRE(d.action == Action::Restart);
        t = d.restartAt;
    }
}

TEST_CASE("crashes after progress never fail, however many and however close",
          "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    for (int i = 0; i < 1000; ++i) {
        policy.started(t);
        t += 10ms;
        RestartDecision d = policy.exited(t, ChildExit::Crashed, Progress::Made);
        REQUIRE(d.action == Action::Restart);
        // Each restart worked, so none waits longer than the first.
        REQUIRE(d.restartAt - t == 100ms);
        t = d.restartAt;
    }
    CHECK(policy.restarts() == 1000);
}

TEST_CASE("crashes without progress fail once there are more than 5 in 30 s",
          "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    for (int i = 0; i < 5; ++i) {
        policy.started(t);
        t += 10ms;
        RestartDecision d = policy.exited(t, ChildExit::Crashed, Progress::None);
        REQUIRE(d.action == Action::Restart);
        t = d.restartAt;
    }
    policy.started(t);
    RestartDecision d = policy.exited(t + 10ms, ChildExit::Crashed, Progress::None);
    CHECK(d.action == Action::Fail);
    CHECK_THAT(d.reason, Catch::Contains("6 crashes without progress within 30 s"));
    CHECK_THAT(d.reason, Catch::Contains("restart intensity exceeded"));
}

TEST_CASE("a mix: only the crashes without progress count toward the intensity",
          "[unit][supervisor]") {
    RestartPolicy policy;
    Clock::time_point t{};
    auto crash = [&](Progress p) {
        policy.started(t);
        t += 10ms;
        RestartDecision d = policy.exited(t, ChildExit::Crashed, p);
        if (d.action == Action::Restart)
            t = d.restartAt;
        return d;
    };
    // Five no-progress crashes, each followed by many that progressed: still under the limit.
    for (int i = 0; i < 5; ++i) {
        REQUIRE(crash(Progress::None).action == Action::Restart);
        for (int j = 0; j < 20; ++j)
            REQUIRE(crash(Progress::Made).action == Action::Restart);
    }
    REQUIRE(t < Clock::time_point{} + 30s);  // all five are still inside the window
    RestartDecision sixth = crash(Progress::None);
    CHECK(sixth.action == Action::Fail);
    CHECK_THAT(sixth.reason, Catch::Contains("6 crashes without progress"));
}

TEST_CASE("consecutive crashes without progress double the backoff; one with progress resets it",
          "[unit][supervisor]") {
    RestartLimits limits;
    limits.maxRestarts = 1000;
    RestartPolicy policy(limits);
    Clock::time_point t{};
    auto crash = [&](Progress p) {
        policy.started(t);
        t += 10ms;
        RestartDecision d = policy.exited(t, ChildExit::Crashed, p);
        const auto wait = d.restartAt - t;
        t = d.restartAt;
        return wait;
    };
    CHECK(crash(Progress::None) == 100ms);
    CHECK(crash(Progress::None) == 200ms);
    CHECK(crash(Progress::None) == 400ms);
    CHECK(crash(Progress::Made) == 100ms);
    CHECK(crash(Progress::None) == 200ms);
}
