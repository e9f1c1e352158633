// `pushcap-bench rclone`: an RCLONE target pushing to a WebDAV remote (`rclone serve webdav` on
// 127.0.0.1, files on tmpfs): time from "file completed in the spool" to "visible under its
// final name on the remote" (median, p99) and upload throughput, beside plain `rclone copyto` of
// the same files (one at a time, and as many in parallel as the target uploads), in the same run.
// Prints a table, then one JSON object on the last line.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::tools {

struct RcloneBenchOptions {
    unsigned files = 24;                   // one file per second of generated traffic
    std::uint64_t fileBytes = 4ULL << 20;  // approximate size of each file
    unsigned uploads = 2;                  // the target's parallel uploads
    std::string dir = "/dev/shm/pushcap-bench-rclone";
};

int runRcloneBench(const RcloneBenchOptions& options);

}  // namespace pushcap::tools
