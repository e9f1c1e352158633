// Starting one child program the way pushcapd needs it: it dies with the supervisor
// (PR_SET_PDEATHSIG + a getppid() check right after fork, for the race where the supervisor died
// first), it tells us when it is ready (one byte on a pipe: --ready-fd N), and it reports events
// (lines on another pipe: --events-fd N). Only the supervisor uses this.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pushcap::supervisor {

struct ChildSpec {
    std::string program;            // full path
    std::vector<std::string> args;  // without argv[0]; --ready-fd/--events-fd are appended
    std::string user;               // if set and we are root: setgid/setuid before exec
};

struct SpawnedChild {
    pid_t pid = -1;
    int readyFd = -1;   // readable (one byte, or EOF if the child died first) when ready
    int eventsFd = -1;  // line-oriented events from the child, non-blocking
};

// Throws std::runtime_error naming the program when fork/pipe fails. An exec failure shows up as
// the child exiting with code 127 and a message on stderr.
SpawnedChild spawnChild(const ChildSpec& spec);

// Looks `name` up next to the running executable first (build/bin, /usr/bin), then on PATH.
std::string siblingProgram(const std::string& name);

}  // namespace pushcap::supervisor
