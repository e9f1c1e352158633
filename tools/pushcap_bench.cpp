// pushcap-bench: benchmarks that print figures (never pass/fail on time).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "tools/ring_bench.hpp"
#ifdef PUSHCAP_CAPTURE_BENCH
#include "tools/capture_bench.hpp"
#include "tools/collector_bench.hpp"
#include "tools/push_bench.hpp"
#include "tools/rclone_bench.hpp"
#endif

namespace {

void usage(FILE* out) {
    std::fprintf(
        out,
        "usage: pushcap-bench ring [--bytes N] [--ring-bytes N] [--batch-bytes N]\n"
        "\n"
        "  ring   one producer and K=1,4 consumer processes over a shared-memory ring,\n"
        "         64 B, 1500 B and IMIX packets, beside single-core memcpy in the same run.\n"
        "         Prints a table, then one JSON object on the last line.\n"
        "\n"
        "  --bytes N        packet bytes per run (default 2 GiB)\n"
        "  --ring-bytes N   ring data capacity, a power of two (default 64 MiB)\n"
        "  --batch-bytes N  largest batch (default 256 KiB)\n"
        "\n"
        "usage: pushcap-bench capture [--file-bytes N] [--dir DIR] [--inject-seconds S]\n"
        "\n"
        "  capture  pushcap-capture file -> ring (IMIX and 64 B) beside cat FILE > /dev/null,\n"
        "           then the highest pushcap-gen --inject rate into a veth with 0 capture\n"
        "           drops (root only). Prints a table, then one JSON object on the last line.\n"
        "\n"
        "usage: pushcap-bench collector [--senders N] [--seconds S] [--step-seconds S] [--dir "
        "DIR]\n"
        "\n"
        "  collector  N loopback senders stream IMIX osmo-pcap as fast as TCP takes it, beside\n"
        "           a bare read-and-append loop on tmpfs (the floor): first into pushcapd\n"
        "           --osmo-config (lossless per-client files, read back and compared with what\n"
        "           was sent, a slow 20 Mbit/s client beside the floods), then into\n"
        "           pushcap-capture --listen (a live ring) stored by a pushcap-worker; then\n"
        "           paced steps find the highest rate the live ring stores without loss.\n"
        "           Prints tables, then one JSON object.\n"
        "\n"
        "usage: pushcap-bench push [--input FILE] [--bytes N] [--dir DIR] [--rounds N]\n"
        "\n"
        "  push     pushcapd --offline with 4 targets (tcp; udp; net 192.168.1.0/24 and tcp;\n"
        "           port 443; --split-time 60e9), once as configured by default and once with\n"
        "           Fsync = false, beside 4 parallel tcpdump -r IN -w OUT FILTER and\n"
        "           cat IN > OUT, same input (generated, ~1 GiB IMIX, unless --input), output\n"
        "           on tmpfs (--dir, default /dev/shm/pushcap-bench-push; fsync costs nothing\n"
        "           there: give a disk directory to see its cost), medians of --rounds\n"
        "           (default 3). Prints a table, then one JSON object.\n");
}

std::uint64_t parseSize(const char* flag, const char* text) {
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || v <= 0) {
        std::fprintf(stderr, "pushcap-bench: %s: expected a positive number, got '%s'\n", flag,
                     text);
        std::exit(2);
    }
    return static_cast<std::uint64_t>(v);
}

// Walks "--flag VALUE" pairs; `set` returns false for a flag it does not know. Exits 2 with a
// message on a missing value or an unknown flag.
template <typename Setter>
void parseOptions(int argc, char** argv, Setter set) {
    for (int i = 2; i < argc; i += 2) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            usage(stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "pushcap-bench: %s needs a value\n", argv[i]);
            std::exit(2);
        }
        if (!set(std::string(argv[i]), argv[i + 1])) {
            std::fprintf(stderr, "pushcap-bench: unknown option '%s' (see --help)\n", argv[i]);
            std::exit(2);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string what = argv[1];
    try {
        if (what == "ring") {
            pushcap::tools::RingBenchOptions o;
            parseOptions(argc, argv, [&](const std::string& flag, const char* v) {
                if (flag == "--bytes")
                    o.bytesPerRun = parseSize(flag.c_str(), v);
                else if (flag == "--ring-bytes")
                    o.ringBytes = parseSize(flag.c_str(), v);
                else if (flag == "--batch-bytes")
                    o.batchBytes = static_cast<std::uint32_t>(parseSize(flag.c_str(), v));
                else
                    return false;
                return true;
            });
            return pushcap::tools::runRingBench(o);
        }
#ifdef PUSHCAP_CAPTURE_BENCH
        if (what == "capture") {
            pushcap::tools::CaptureBenchOptions o;
            parseOptions(argc, argv, [&](const std::string& flag, const char* v) {
                if (flag == "--file-bytes")
                    o.fileBytes = parseSize(flag.c_str(), v);
                else if (flag == "--dir")
                    o.dir = v;
                else if (flag == "--inject-seconds")
                    o.injectSeconds = std::atof(v);
                else
                    return false;
                return true;
            });
            return pushcap::tools::runCaptureBench(o);
        }
        if (what == "collector") {
            pushcap::tools::CollectorBenchOptions o;
            parseOptions(argc, argv, [&](const std::string& flag, const char* v) {
                if (flag == "--senders")
                    o.senders = static_cast<int>(parseSize(flag.c_str(), v));
                else if (flag == "--seconds")
                    o.seconds = double(parseSize(flag.c_str(), v));
                else if (flag == "--step-seconds")
                    o.stepSeconds = double(parseSize(flag.c_str(), v));
                else if (flag == "--dir")
                    o.dir = v;
                else
                    return false;
                return true;
            });
            return pushcap::tools::runCollectorBench(o);
        }
        if (what == "push") {
            pushcap::tools::PushBenchOptions o;
            parseOptions(argc, argv, [&](const std::string& flag, const char* v) {
                if (flag == "--input")
                    o.input = v;
                else if (flag == "--bytes")
                    o.inputBytes = parseSize(flag.c_str(), v);
                else if (flag == "--dir")
                    o.dir = v;
                else if (flag == "--rounds")
                    o.rounds = static_cast<int>(parseSize(flag.c_str(), v));
                else
                    return false;
                return true;
            });
            return pushcap::tools::runPushBench(o);
        }
        if (what == "rclone") {
            pushcap::tools::RcloneBenchOptions o;
            parseOptions(argc, argv, [&](const std::string& flag, const char* v) {
                if (flag == "--files")
                    o.files = static_cast<unsigned>(parseSize(flag.c_str(), v));
                else if (flag == "--file-bytes")
                    o.fileBytes = parseSize(flag.c_str(), v);
                else if (flag == "--uploads")
                    o.uploads = static_cast<unsigned>(parseSize(flag.c_str(), v));
                else if (flag == "--dir")
                    o.dir = v;
                else
                    return false;
                return true;
            });
            return pushcap::tools::runRcloneBench(o);
        }
#endif
        std::fprintf(stderr, "pushcap-bench: unknown benchmark '%s' (see --help)\n", what.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pushcap-bench %s: %s\n", what.c_str(), e.what());
        return 1;
    }
}
