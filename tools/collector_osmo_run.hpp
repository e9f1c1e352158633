// The collector benchmark's pushcapd run: an osmo-pcap-server configuration with one client per
// sender, `pushcapd --osmo-config` storing each client's stream in trace-<name>-*.pcap files on
// tmpfs, the senders unpaced (as fast as TCP takes it); then pushcapd is stopped and every
// stored file is read back and compared with what its sender sent.
#pragma once

#include <string>
#include <vector>

#include "tools/osmo_senders.hpp"
#include "tools/trace_check.hpp"

namespace pushcap::tools {

struct OsmoRunOptions {
    int senders = 4;  // clients c0.. at 127.0.0.1..
    double seconds = 5;
    std::string basePath;  // tmpfs; created, then removed
};

struct OsmoConnection {
    std::string name, address;
    SendResult sent;
    StoredTrace stored;
};

struct OsmoRunResult {
    std::vector<OsmoConnection> connections;
    double sendSeconds = 0;  // the first send to the last sender finishing
    // The first send until every client's file was complete, before SIGTERM; 0 when they were
    // not (pushcapd was then stopped with them pending).
    double completeSeconds = 0;
    int exitCode = 0;                  // pushcapd's, after SIGTERM
    bool killed = false;               // it did not exit after SIGTERM and was killed
    std::vector<std::string> pending;  // .pending files left once pushcapd had exited
    std::vector<std::string> strays;   // files in base-path that are nobody's trace
    std::string keptDir;  // config and logs, kept when something went wrong ("" = removed)
};

OsmoRunResult runOsmoCollector(const OsmoRunOptions& options, const Stream& stream);
// The table, first in the bench's output.
void printOsmoRun(const OsmoRunResult& r, double floorGbps);
// `"key":value` pairs, each with a leading comma, for the bench's JSON line.
std::string osmoRunJson(const OsmoRunResult& r, double floorGbps);

}  // namespace pushcap::tools
