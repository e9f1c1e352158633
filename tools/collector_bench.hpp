// `pushcap-bench collector`: N senders stream pre-encoded osmo-pcap IMIX traffic over loopback
// as fast as the receiver takes it (TCP back-pressure: nothing is lost on the way), into
//   - the floor: a bare loop that reads 16 MiB at a time and appends to a tmpfs file,
//   - pushcapd --osmo-config: an osmo-pcap-server configuration with one client per sender
//     and one more, slow client paced at 20 Mbit/s beside them (how late its sends were shows
//     whether the floods starve it), the trace files on tmpfs read back and compared with what
//     was sent (printed first), and
//   - pushcap: pushcap-capture --listen into a live ring, stored by a pushcap-worker on tmpfs,
// in the same run; then a paced sweep finds the highest rate pushcap stores without losing a
// packet. Prints the tables, then one JSON line.
#pragma once

#include <string>

namespace pushcap::tools {

struct CollectorBenchOptions {
    int senders = 4;
    double seconds = 5;      // the unpaced runs (the floor, pushcapd, pushcap-capture)
    double stepSeconds = 3;  // each step of the paced sweep
    double startGbps = 0.5;  // the sweep's first rate
    std::string dir = "/dev/shm/pushcap-bench-collector";
};

int runCollectorBench(const CollectorBenchOptions& options);

}  // namespace pushcap::tools
