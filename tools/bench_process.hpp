// Child processes for the benchmarks: start programs with their output sent to a file, wait for
// them, and time them. Not used on any data path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pushcap::tools {

using BenchClock = std::chrono::steady_clock;

double secondsSince(BenchClock::time_point t);
// The directory of the running executable (where pushcap's other programs are).
std::string selfDir();
// Starts argv (PATH lookup) with stdout to `out`, stderr to `err` (default /dev/null) and, if
// `readyFd` >= 0, that descriptor as fd 3.
pid_t spawnProgram(const std::vector<std::string>& argv, const std::string& out, int readyFd = -1,
                   const std::string& err = "/dev/null");
// Exit code, or 128 + signal.
int waitProgram(pid_t pid);
int runProgram(const std::vector<std::string>& argv, const std::string& out = "/dev/null");

}  // namespace pushcap::tools
