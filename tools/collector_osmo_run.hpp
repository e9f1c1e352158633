// The collector benchmark's pushcapd run: an osmo-pcap-server configuration with one client per
// sender, `pushcapd --osmo-config` storing each client's stream in trace-<name>-*.pcap files on
// tmpfs, the flooding senders unpaced (as fast as TCP takes it) and, beside them, one slow
// client paced at a low rate, to show that the floods do not starve it while the collector holds
// back-pressured connections; then pushcapd is stopped and every stored file is read back and
// compared with what its sender sent.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/osmo_senders.hpp"
#include "tools/trace_check.hpp"

namespace pushcap::tools {

struct OsmoRunOptions {
    int senders = 4;  // flooding clients c0.. at 127.0.0.1..
    double seconds = 5;
    std::string basePath;  // tmpfs; created, then removed
    // Client "slow" at the address after the floods' (127.0.0.5 beside 4), paced at this rate
    // for the same seconds; 0: no slow client.
    double slowMbps = 20;
    std::size_t slowSliceBytes = 4u << 10;
    // Its SO_SNDBUF: small, so that a collector not reading it shows as late send()s within a
    // few slices instead of vanishing into megabytes of autotuned buffer.
    int slowSendBufferBytes = 16u << 10;
};

struct OsmoConnection {
    std::string name, address;
    SendResult sent;
    StoredTrace stored;
};

struct OsmoSlowClient {
    OsmoConnection connection;
    double offeredMbps = 0;
    std::size_t sliceBytes = 0;
    // Its pacing slices' lateness (SendResult::lateness), in seconds.
    std::size_t slices = 0;
    double latenessP50 = 0, latenessP99 = 0, latenessMax = 0;
    double sentMbps() const;
};

struct OsmoRunResult {
    std::vector<OsmoConnection> connections;  // the floods
    std::vector<OsmoSlowClient> slow;         // none or one, not in `connections`
    double sendSeconds = 0;                   // the first send to the last flood finishing
    // The first send until every client's file was complete, before SIGTERM; 0 when they were
    // not (pushcapd was then stopped with them pending).
    double completeSeconds = 0;        // every client's, the slow one's too
    int exitCode = 0;                  // pushcapd's, after SIGTERM
    bool killed = false;               // it did not exit after SIGTERM and was killed
    std::vector<std::string> pending;  // .pending files left once pushcapd had exited
    std::vector<std::string> strays;   // files in base-path that are nobody's trace
    std::string keptDir;  // config and logs, kept when something went wrong ("" = removed)
};

OsmoRunResult runOsmoCollector(const OsmoRunOptions& options, const Stream& stream);
// The table, first in the bench's output, then the slow client's line.
void printOsmoRun(const OsmoRunResult& r, double floorGbps);
// `"key":value` pairs, each with a leading comma, for the bench's JSON line.
std::string osmoRunJson(const OsmoRunResult& r, double floorGbps);

}  // namespace pushcap::tools
