// TCP ports on 127.0.0.1 for the benchmarks and tests that start servers (rclone serve,
// prometheus, chromedriver) which cannot report the port they bound.
#pragma once

namespace pushcap::tools {

// A port that was free a moment ago: bound with the kernel's choice, then released. Throws
// std::runtime_error when no socket can be bound.
int freeLoopbackPort();
// True when something accepts connections on 127.0.0.1:port.
bool loopbackPortOpen(int port);

}  // namespace pushcap::tools
