// Helpers for the worker tests: temp dirs, child processes with deadlines, pcap comparison.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pushcap::workers::test {

std::string binDir();                             // PUSHCAP_BIN_DIR
std::string testBinDir();                         // PUSHCAP_TEST_BIN_DIR
double testScale();                               // PUSHCAP_TEST_SCALE
std::string uniqueName(const std::string& what);  // unique per process and call

struct TempDir {
    // Under `base` (default /tmp; /dev/shm for output that must never wait for a disk).
    explicit TempDir(const std::string& base = "/tmp");
    ~TempDir();
    std::string path;
};

class Child {
  public:
    // Starts argv[0] with stdout/stderr to `logFile`. `readyPipe`: pass the write end as fd 3
    // (the child sees "--ready-fd 3" if the caller adds it).
    Child(std::vector<std::string> argv, const std::string& logFile, bool readyPipe = false,
          std::vector<std::string> extraEnv = {});
    ~Child();  // SIGKILLs a child still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return m_pid; }
    bool waitReady(std::chrono::milliseconds deadline);  // true once a byte came on the pipe
    std::optional<int> exitCode(std::chrono::milliseconds deadline);  // nullopt: still running
    bool running();
    void kill(int signal);
    const std::string& logFile() const { return m_log; }

  private:
    pid_t m_pid = -1;
    int m_readyFd = -1;
    bool m_reaped = false;
    int m_status = 0;
    std::string m_log;
};

std::string readFile(const std::string& path);
// Pids of the running (not zombie) children of `parent` whose command line contains `needle`.
std::vector<pid_t> childrenMatching(pid_t parent, const std::string& needle);

// Removes, when destroyed, the shared-memory segments in /dev/shm whose names start with
// `prefix` (rings a pushcapd killed before its clean-up left behind). A test program holds one
// as a global, for the instance prefix it gives every pushcapd it starts.
struct RingSweeper {
    explicit RingSweeper(std::string prefix) : prefix(std::move(prefix)) {}
    ~RingSweeper();
    RingSweeper(const RingSweeper&) = delete;
    RingSweeper& operator=(const RingSweeper&) = delete;
    std::string prefix;
};
std::vector<std::string> listFiles(const std::string& dir);  // names, sorted
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline);
int runShell(const std::string& command);
std::string quote(const std::string& s);

// Generates traffic: pushcap-gen if built, else fails the test.
std::string makeInput(const std::string& dir, const std::string& args);

struct PcapFile {
    std::uint32_t magic = 0, snaplen = 0, linkType = 0;
    std::string records;  // all record bytes, back to back
    std::uint64_t packets = 0;
    std::uint64_t firstTs = 0, lastTs = 0;
    bool wellFormed = false;
};
PcapFile readPcap(const std::string& path);

// `tcpdump --time-stamp-precision=nano -r in -w out filter`.
PcapFile oracle(const std::string& in, const std::string& filter, const std::string& scratchDir);

// Records of every file in `dir` with `suffix`, ordered by first packet time then name.
std::string concatenatedRecords(const std::string& dir, const std::string& suffix,
                                std::vector<std::string>* names = nullptr);

}  // namespace pushcap::workers::test

namespace pushcap::workers::test {

// argv for pushcap-worker with --ready-fd 3 (start it with Child(..., readyPipe = true)).
std::vector<std::string> workerCommand(const std::string& ring, const std::string& name,
                                       const std::string& path, std::vector<std::string> extra);
std::vector<std::string> feederCommand(const std::string& ring, const std::string& in,
                                       std::vector<std::string> extra = {});
// argv for pushcapd (`program`, default binDir()/pushcapd) with `instance` (default a unique
// one), its status socket in `dir`, its logs in `dir`/log and no progress line, then `extra`.
std::vector<std::string> pushcapdCommand(const std::string& config, const std::string& dir,
                                         std::vector<std::string> extra,
                                         const std::string& instance = "",
                                         const std::string& program = "");

}  // namespace pushcap::workers::test
