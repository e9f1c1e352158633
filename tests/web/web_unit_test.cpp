// pushcap-web without processes: the metrics text, the state's sequence accounting and the
// event cursor.
#include <catch2/catch.hpp>
#include <fstream>

#include "../workers/worker_test_support.hpp"
#include "tools/web_metrics.hpp"
#include "tools/web_state.hpp"
#include "web_test_support.hpp"

using namespace pushcap;
using namespace std::chrono_literals;

namespace {

v1::Snapshot snapshot(std::uint64_t sequence) {
    v1::Snapshot s;
    s.set_sequence(sequence);
    s.set_instance("box-1");
    s.set_version("0.1.0");
    s.set_unix_time_ns(1'700'000'000'000'000'000ULL);
    s.set_uptime_seconds(12.5);
    v1::CaptureStatus* c = s.add_captures();
    c->set_source("capture");
    c->set_state("running");
    c->set_packets(1000);
    c->set_bytes(640000);
    c->set_kernel_drops(3);
    c->set_ring_fill(0.25);
    c->set_held_seconds(1.5);
    c->set_ring_mode("backpressured");
    v1::TargetStatus* t = s.add_targets();
    t->set_desc("pcap-all");
    t->set_state(v1::RUNNING);
    t->set_packets_written(990);
    t->set_bytes_written(630000);
    t->set_files_completed(4);
    t->set_current_file("/data/all_1700000000-1700000060.pcap");
    t->set_lag_seconds(0.5);
    t->set_lag_bytes(4096);
    t->set_delivery("lossless");
    t->set_held_source_seconds(1.25);
    v1::TargetStatus* odd = s.add_targets();
    odd->set_desc("we\"ird\\name");
    odd->set_state(v1::FAILED);
    odd->set_restarts(6);
    return s;
}

}  // namespace

TEST_CASE("metrics follow the Prometheus conventions and carry the snapshot's values",
          "[unit][web]") {
    tools::WebState state;
    const auto now = tools::WallClock::now();
    state.onSnapshot(snapshot(1), now);
    const std::string text = tools::renderMetrics(state.view(now), "9.9.9");
    INFO(text);
    CHECK_THAT(text, Catch::Contains("# TYPE pushcap_target_packets_written_total counter\n"));
    CHECK_THAT(
        text,
        Catch::Contains(
            "pushcap_target_packets_written_total{instance=\"box-1\",target=\"pcap-all\"} 990\n"));
    CHECK_THAT(
        text,
        Catch::Contains(
            "pushcap_target_bytes_written_total{instance=\"box-1\",target=\"pcap-all\"} 630000\n"));
    CHECK_THAT(
        text,
        Catch::Contains(
            "pushcap_target_state{instance=\"box-1\",target=\"pcap-all\",state=\"RUNNING\"} 1\n"));
    CHECK_THAT(
        text,
        Catch::Contains(
            "pushcap_target_state{instance=\"box-1\",target=\"pcap-all\",state=\"FAILED\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("target=\"we\\\"ird\\\\name\",state=\"FAILED\"} 1\n"));
    CHECK_THAT(
        text, Catch::Contains(
                  "pushcap_capture_kernel_drops_total{instance=\"box-1\",source=\"capture\"} 3\n"));
    CHECK_THAT(
        text, Catch::Contains(
                  "pushcap_capture_ring_fill_ratio{instance=\"box-1\",source=\"capture\"} 0.25\n"));
    CHECK_THAT(text,
               Catch::Contains(
                   "pushcap_target_lag_seconds{instance=\"box-1\",target=\"pcap-all\"} 0.5\n"));
    CHECK_THAT(text, Catch::Contains("# TYPE pushcap_target_held_source_seconds_total counter\n"));
    CHECK_THAT(text, Catch::Contains("pushcap_target_held_source_seconds_total{instance=\"box-1\","
                                     "target=\"pcap-all\"} 1.25\n"));
    // A target that never held the source is 0, not absent: rate() needs the series.
    CHECK_THAT(text, Catch::Contains("pushcap_target_held_source_seconds_total{instance=\"box-1\","
                                     "target=\"we\\\"ird\\\\name\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("# TYPE pushcap_capture_held_seconds_total counter\n"));
    CHECK_THAT(text, Catch::Contains("pushcap_capture_held_seconds_total{instance=\"box-1\","
                                     "source=\"capture\"} 1.5\n"));
    CHECK_THAT(text, Catch::Contains("pushcap_build_info{version=\"9.9.9\",pushcapd_version=\"0.1."
                                     "0\",instance=\"box-1\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("pushcap_status_up{instance=\"box-1\"} 1\n"));
    // RCLONE upload figures appear when the schema has them (looked up by name).
    if (v1::TargetStatus::descriptor()->FindFieldByName("uploads_pending") != nullptr) {
        CHECK_THAT(text, Catch::Contains("# TYPE pushcap_target_upload_queue_files gauge\n"));
        CHECK_THAT(text,
                   Catch::Contains("# TYPE pushcap_target_uploads_completed_total counter\n"));
    }
    // A file name is never a label: it would make a new series per file.
    CHECK(text.find("1700000000-1700000060") == std::string::npos);
    // Every family is declared once, before its samples.
    std::size_t types = 0;
    for (std::size_t p = 0; (p = text.find("# TYPE pushcap_target_state ", p)) != std::string::npos;
         ++p)
        ++types;
    CHECK(types == 1);

    const std::string promtool = web::test::findProgram("promtool");
    if (promtool.empty()) {
        WARN("promtool not installed (Debian package prometheus): lint skipped");
        return;
    }
    workers::test::TempDir dir;
    std::ofstream(dir.path + "/metrics.txt") << text;
    CHECK(workers::test::runShell(workers::test::quote(promtool) + " check metrics < " +
                                  workers::test::quote(dir.path + "/metrics.txt") + " > " +
                                  workers::test::quote(dir.path + "/lint.txt") + " 2>&1") == 0);
    INFO(workers::test::readFile(dir.path + "/lint.txt"));
}

TEST_CASE("without a snapshot, /metrics says the stream is down and nothing else", "[unit][web]") {
    tools::WebState state;
    const std::string text = tools::renderMetrics(state.view(tools::WallClock::now()), "1");
    CHECK_THAT(text, Catch::Contains("pushcap_status_up 0\n"));
    CHECK(text.find("pushcap_target_") == std::string::npos);
}

TEST_CASE("sequence numbers: gaps are counted, a new publisher is noticed, data goes stale",
          "[unit][web]") {
    tools::WebState state;
    const auto t0 = tools::WallClock::now();
    state.onSnapshot(snapshot(1), t0);
    state.onSnapshot(snapshot(2), t0 + 250ms);
    state.onSnapshot(snapshot(5), t0 + 500ms);  // 3 and 4 dropped
    state.onSnapshot(snapshot(1), t0 + 750ms);  // pushcapd restarted
    const tools::WebStateView v = state.view(t0 + 800ms);
    CHECK(v.messages == 4);
    CHECK(v.missed == 2);
    CHECK(v.publisherRestarts == 1);
    CHECK_FALSE(v.stale);
    CHECK(state.view(t0 + 750ms + state.staleAfter() + 1ms).stale);
    const std::string json = state.statusJson("ipc:///x", t0 + 800ms);
    CHECK_THAT(json, Catch::Contains("\"stale\":false"));
    CHECK_THAT(json, Catch::Contains("\"desc\":\"pcap-all\""));
}

TEST_CASE("an event stream starts at the current snapshot and then gets every new message",
          "[unit][web]") {
    tools::WebState state(2, 8);
    std::uint64_t cursor = 0;
    CHECK(state.start(cursor).empty());
    CHECK(state.waitAfter(cursor, 10ms).empty());
    const auto now = tools::WallClock::now();
    state.onSnapshot(snapshot(1), now);
    v1::Event e;
    e.set_sequence(2);
    e.mutable_file_completed()->set_path("/data/a.pcap");
    state.onEvent("file_completed", e, now);
    auto batch = state.waitAfter(cursor, 10ms);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].event == "snapshot");
    CHECK(batch[1].event == "file_completed");
    CHECK_THAT(batch[1].json, Catch::Contains("/data/a.pcap"));
    CHECK(state.waitAfter(cursor, 10ms).empty());

    std::uint64_t late = 0;
    auto first = state.start(late);
    REQUIRE(first.size() == 1);
    CHECK(first[0].event == "snapshot");
    CHECK_THAT(state.statusJson("e", now), Catch::Contains("\"recent_files\":[{"));
    state.shutdown();
    CHECK(state.waitAfter(late, 1s).empty());
}
