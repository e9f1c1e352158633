#include "tools/push_bench.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "tools/bench_process.hpp"

namespace fs = std::filesystem;

namespace pushcap::tools {
namespace {

struct BenchTarget {
    const char* name;
    const char* filter;
};

const BenchTarget TARGETS[] = {{"tcp", "tcp"},
                               {"udp", "udp"},
                               {"net-tcp", "net 192.168.1.0/24 and tcp"},
                               {"https", "port 443"}};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::uint64_t treeBytes(const std::string& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
        if (e.is_regular_file())
            total += e.file_size();
    }
    return total;
}

void fresh(const std::string& dir) {
    fs::remove_all(dir);
    fs::create_directories(dir);
}

std::string writeConfig(const std::string& dir, bool fsync) {
    std::string text = "local Config = {}\nConfig.Target = {}\n";
    for (const BenchTarget& t : TARGETS) {
        text += std::string("table.insert(Config.Target, { Desc = \"") + t.name +
                "\", Mode = \"File\", Path = \"" + dir + "/out/" + t.name + "/" + t.name +
                "\", Split = \"--split-time 60e9\", FilterBPF = \"" + t.filter + "\"" +
                (fsync ? "" : ", Fsync = false") + " })\n";
    }
    text += "return Config\n";
    const std::string path = dir + (fsync ? "/bench.lua" : "/bench-nofsync.lua");
    std::ofstream(path) << text;
    return path;
}

double timePushcapd(const std::string& bin, const std::string& config, const std::string& input,
                    const std::string& dir) {
    fresh(dir + "/out");
    const auto t = BenchClock::now();
    // --status-linger 0: nobody subscribes, so no waiting for a subscriber to join is timed.
    const int rc = runProgram(
        {bin + "/pushcapd", "-c", config, "--offline", input, "--instance",
         "bench" + std::to_string(::getpid()), "--status", "ipc://" + dir + "/status.sock",
         "--log-dir", dir + "/log", "--no-progress", "--status-linger", "0"},
        dir + "/pushcapd.out");
    const double s = secondsSince(t);
    if (rc != 0)
        throw std::runtime_error("pushcapd failed (exit " + std::to_string(rc) + "), see " + dir +
                                 "/log");
    return s;
}

double timeTcpdumps(const std::string& input, const std::string& dir) {
    fresh(dir + "/tcpdump");
    const auto t = BenchClock::now();
    std::vector<pid_t> pids;
    for (const BenchTarget& target : TARGETS) {
        pids.push_back(spawnProgram({"tcpdump", "-r", input, "-w",
                                     dir + "/tcpdump/" + target.name + ".pcap", target.filter},
                                    "/dev/null"));
    }
    for (pid_t pid : pids) {
        if (waitProgram(pid) != 0)
            throw std::runtime_error("tcpdump failed");
    }
    return secondsSince(t);
}

double timeCat(const std::string& input, const std::string& dir) {
    const auto t = BenchClock::now();
    if (runProgram({"cat", input}, dir + "/cat.out") != 0)
        throw std::runtime_error("cat failed");
    const double s = secondsSince(t);
    fs::remove(dir + "/cat.out");
    return s;
}

}  // namespace

int runPushBench(const PushBenchOptions& o) {
    const std::string bin = selfDir();
    fs::create_directories(o.dir);
    std::string input = o.input;
    if (input.empty()) {
        // IMIX averages ~370 bytes a record: pick the packet count that gives the size asked for.
        input = o.dir + "/input.pcap";
        const std::uint64_t packets = o.inputBytes / 370;
        if (runProgram({bin + "/pushcap-gen", "--quiet", "--out", input, "--count",
                        std::to_string(packets), "--duration", "600", "--seed", "1"}) != 0) {
            throw std::runtime_error("pushcap-gen failed");
        }
    }
    struct stat st {};
    if (::stat(input.c_str(), &st) != 0)
        throw std::runtime_error("cannot read " + input);
    const std::string config = writeConfig(o.dir, true);
    const std::string unsynced = writeConfig(o.dir, false);
    runProgram({"cat", input});  // warm the page cache for everyone alike

    std::vector<double> push, pushUnsynced, dumps, cats;
    std::uint64_t pushOut = 0, dumpOut = 0;
    for (int r = 0; r < o.rounds; ++r) {
        push.push_back(timePushcapd(bin, config, input, o.dir));
        pushOut = treeBytes(o.dir + "/out");
        // What the default's fsyncs cost, measured beside it (on tmpfs they cost nothing).
        pushUnsynced.push_back(timePushcapd(bin, unsynced, input, o.dir));
        dumps.push_back(timeTcpdumps(input, o.dir));
        dumpOut = treeBytes(o.dir + "/tcpdump");
        cats.push_back(timeCat(input, o.dir));
    }
    const double p = median(push), u = median(pushUnsynced), d = median(dumps), c = median(cats);
    std::printf(
        "pushcap-bench push: %s (%.2f GiB), 4 targets (tcp; udp; net 192.168.1.0/24 and tcp; "
        "port 443), --split-time 60e9, output on %s, median of %d rounds\n\n",
        input.c_str(), double(st.st_size) / double(1ULL << 30), o.dir.c_str(), o.rounds);
    std::printf("%-36s %10s %12s %10s\n", "", "seconds", "written GB", "x floor");
    std::printf("%-36s %10.3f %12.3f %10.2f\n", "cat IN > OUT (copy floor)", c,
                double(st.st_size) / 1e9, 1.0);
    std::printf("%-36s %10.3f %12.3f %10.2f\n", "4 x tcpdump -r IN -w OUT FILTER", d,
                double(dumpOut) / 1e9, d / c);
    std::printf("%-36s %10.3f %12.3f %10.2f\n", "pushcapd --offline (4 targets)", p,
                double(pushOut) / 1e9, p / c);
    std::printf("%-36s %10.3f %12.3f %10.2f\n", "pushcapd --offline, Fsync = false", u,
                double(pushOut) / 1e9, u / c);
    std::printf("\npushcapd is %.2fx the speed of 4 parallel tcpdumps\n", d / p);
    std::printf("Fsync (the default) takes %.2fx the time of Fsync = false\n", p / u);
    std::printf(
        "{\"input_bytes\":%lld,\"pushcapd_s\":%.4f,\"pushcapd_nofsync_s\":%.4f,"
        "\"tcpdump4_s\":%.4f,\"cat_floor_s\":%.4f,\"speedup_vs_tcpdump\":%.3f,"
        "\"pushcapd_x_floor\":%.3f,\"fsync_x_nofsync\":%.3f,\"pushcapd_out_bytes\":%llu,"
        "\"tcpdump_out_bytes\":%llu}\n",
        (long long)st.st_size, p, u, d, c, d / p, p / c, p / u, (unsigned long long)pushOut,
        (unsigned long long)dumpOut);
    fs::remove_all(o.dir + "/out");
    fs::remove_all(o.dir + "/tcpdump");
    if (o.input.empty())
        fs::remove(input);  // ~1 GiB of tmpfs (RAM) otherwise held until reboot
    return 0;
}

}  // namespace pushcap::tools
