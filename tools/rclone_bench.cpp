#include "tools/rclone_bench.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tools/bench_process.hpp"
#include "tools/loopback_port.hpp"

namespace pushcap::tools {
namespace {

// Complete files (no dot, no .pending) in `dir`.
std::vector<std::string> completeFiles(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n[0] != '.' && n.size() > 5 && n.compare(n.size() - 5, 5, ".pcap") == 0)
                out.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t sizeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * double(v.size())));
    return v[i];
}

struct CopyFigures {
    double seconds = 0;
    std::vector<double> perFile;
};

// `rclone copyto` of every file, `parallel` at a time.
CopyFigures plainCopies(const std::vector<std::string>& files, const std::string& from,
                        const std::string& remote, unsigned parallel) {
    CopyFigures f;
    const auto start = BenchClock::now();
    std::size_t next = 0;
    std::map<pid_t, BenchClock::time_point> running;
    while (next < files.size() || !running.empty()) {
        while (next < files.size() && running.size() < parallel) {
            const pid_t pid = spawnProgram(
                {"rclone", "copyto", from + "/" + files[next], remote + "/" + files[next]},
                "/dev/null");
            running[pid] = BenchClock::now();
            ++next;
        }
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, 0);
        auto it = running.find(pid);
        if (it == running.end())
            continue;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("rclone copyto failed");
        f.perFile.push_back(secondsSince(it->second));
        running.erase(it);
    }
    f.seconds = secondsSince(start);
    return f;
}

}  // namespace

int runRcloneBench(const RcloneBenchOptions& o) {
    const std::string bin = selfDir();
    const std::string dir = o.dir;
    if (runProgram({"rm", "-rf", dir}) != 0 || runProgram({"mkdir", "-p", dir + "/remote"}) != 0)
        throw std::runtime_error("cannot prepare " + dir);
    // pushcap-gen's IMIX averages ~366 bytes per packet: one file per second of traffic.
    const std::string input = dir + "/input.pcap";
    const std::uint64_t packets = o.files * o.fileBytes / 366;
    if (runProgram({bin + "/pushcap-gen", "--quiet", "--out", input, "--count",
                    std::to_string(packets), "--duration", std::to_string(o.files), "--seed",
                    "9"}) != 0) {
        throw std::runtime_error("pushcap-gen failed");
    }
    const int port = freeLoopbackPort();
    const pid_t server =
        spawnProgram({"rclone", "serve", "webdav", dir + "/remote", "--addr",
                      "127.0.0.1:" + std::to_string(port), "--dir-cache-time", "1s"},
                     dir + "/webdav.log", -1, dir + "/webdav.log");
    for (int i = 0; i < 3000 && !loopbackPortOpen(port); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!loopbackPortOpen(port)) {
        ::kill(server, SIGKILL);
        waitProgram(server);
        throw std::runtime_error("rclone serve webdav did not start (see " + dir + "/webdav.log)");
    }
    ::setenv("RCLONE_CONFIG_BENCH_TYPE", "webdav", 1);
    ::setenv("RCLONE_CONFIG_BENCH_URL", ("http://127.0.0.1:" + std::to_string(port)).c_str(), 1);
    ::setenv("RCLONE_CONFIG_BENCH_VENDOR", "other", 1);
    ::unsetenv("AWS_CA_BUNDLE");

    const std::string spool = dir + "/spool";
    const std::string config = dir + "/push.lua";
    std::ofstream(config) << "local Config = {}\nConfig.Target = {}\n"
                          << "table.insert(Config.Target, { Desc = \"bench\", Mode = \"RCLONE\", "
                          << "Path = \"bench:push/all\", SpoolDir = \"" << spool
                          << "\", Uploads = " << o.uploads
                          << ", Split = \"--split-time 1e9\", "
                             "FileName = \"--filename-epoch-sec-startend\" })\n"
                          << "return Config\n";

    // Poll both ends: when a name appears in the spool (complete locally) and under its final
    // name on the remote. 1 ms polls: far below an upload's time.
    std::map<std::string, BenchClock::time_point> completed, visible;
    const auto start = BenchClock::now();
    const pid_t push = spawnProgram(
        {bin + "/pushcapd", "-c", config, "--instance",
         "bench-rclone-" + std::to_string(::getpid()), "--status", "ipc://" + dir + "/status.sock",
         "--log-dir", dir + "/log", "--no-progress", "--offline", input},
        dir + "/pushcapd.log", -1, dir + "/pushcapd.log");
    int status = 0;
    for (;;) {
        const auto now = BenchClock::now();
        for (const std::string& n : completeFiles(spool))
            completed.emplace(n, now);
        for (const std::string& n : completeFiles(dir + "/remote/push"))
            visible.emplace(n, now);
        if (::waitpid(push, &status, WNOHANG) == push)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (const std::string& n : completeFiles(dir + "/remote/push"))
        visible.emplace(n, BenchClock::now());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ::kill(server, SIGKILL);
        waitProgram(server);
        throw std::runtime_error("pushcapd failed (see " + dir + "/pushcapd.log)");
    }
    std::vector<double> latency;
    std::vector<std::string> names;
    std::uint64_t bytes = 0;
    auto firstCompleted = BenchClock::time_point::max();
    auto lastVisible = start;
    for (const auto& [name, seen] : visible) {
        names.push_back(name);
        bytes += sizeOf(dir + "/remote/push/" + name);
        lastVisible = std::max(lastVisible, seen);
        auto c = completed.find(name);
        if (c == completed.end())
            continue;  // completed and uploaded between two polls: no figure
        firstCompleted = std::min(firstCompleted, c->second);
        latency.push_back(std::chrono::duration<double>(seen - c->second).count());
    }
    const double pushSeconds =
        firstCompleted == BenchClock::time_point::max()
            ? 0
            : std::chrono::duration<double>(lastVisible - firstCompleted).count();

    // Each upload's own time (stat, copyfile, stat, movefile), from the worker's log lines
    // "uploaded A -> B (N bytes, S s)": the latency without the queue of an offline push.
    std::vector<double> service;
    if (DIR* d = ::opendir((dir + "/log").c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::ifstream in(dir + "/log/" + e->d_name);
            for (std::string line; std::getline(in, line);) {
                const std::size_t at = line.rfind(" bytes, ");
                if (line.find("] uploaded ") != std::string::npos && at != std::string::npos)
                    service.push_back(std::atof(line.c_str() + at + 8));
            }
        }
        ::closedir(d);
    }

    // The same files with plain rclone copyto, one at a time and `uploads` at a time.
    const std::string local = dir + "/remote/push";
    const CopyFigures serial = plainCopies(names, local, "bench:copy1", 1);
    const CopyFigures parallel = plainCopies(names, local, "bench:copyN", o.uploads);
    ::kill(server, SIGTERM);
    waitProgram(server);

    const double mb = double(bytes) / 1e6;
    auto rate = [&](double s) { return s > 0 ? mb / s : 0.0; };
    std::printf("%zu files, %.1f MB, WebDAV remote on 127.0.0.1 (rclone serve webdav, tmpfs)\n\n",
                names.size(), mb);
    std::printf("%-44s %10s %10s %10s\n", "", "median s", "p99 s", "MB/s");
    std::printf("%-44s %10.3f %10.3f %10.1f\n", "RCLONE target: completed -> visible",
                percentile(latency, 0.5), percentile(latency, 0.99), rate(pushSeconds));
    std::printf("%-44s %10.3f %10.3f %10s\n", "RCLONE target: one upload (no queue)",
                percentile(service, 0.5), percentile(service, 0.99), "");
    std::printf("%-44s %10.3f %10.3f %10.1f\n", "rclone copyto, one at a time",
                percentile(serial.perFile, 0.5), percentile(serial.perFile, 0.99),
                rate(serial.seconds));
    std::printf("%-44s %10.3f %10.3f %10.1f\n",
                ("rclone copyto, " + std::to_string(o.uploads) + " in parallel").c_str(),
                percentile(parallel.perFile, 0.5), percentile(parallel.perFile, 0.99),
                rate(parallel.seconds));
    std::printf("\nthe target's uploads take %.2fx the time of plain parallel copies\n",
                parallel.seconds > 0 ? pushSeconds / parallel.seconds : 0.0);
    std::printf(
        "{\"bench\":\"rclone\",\"files\":%zu,\"bytes\":%llu,\"uploads\":%u,"
        "\"latency_median_s\":%.4f,\"latency_p99_s\":%.4f,\"push_mb_s\":%.2f,"
        "\"upload_median_s\":%.4f,\"upload_p99_s\":%.4f,"
        "\"copyto_serial_median_s\":%.4f,\"copyto_serial_mb_s\":%.2f,"
        "\"copyto_parallel_median_s\":%.4f,\"copyto_parallel_mb_s\":%.2f}\n",
        names.size(), (unsigned long long)bytes, o.uploads, percentile(latency, 0.5),
        percentile(latency, 0.99), rate(pushSeconds), percentile(service, 0.5),
        percentile(service, 0.99), percentile(serial.perFile, 0.5), rate(serial.seconds),
        percentile(parallel.perFile, 0.5), rate(parallel.seconds));
    return 0;
}

}  // namespace pushcap::tools
