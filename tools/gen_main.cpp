// pushcap-gen: synthetic traffic into a pcap/pcapng file or onto an interface.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "tools/gen_traffic.hpp"

namespace {

constexpr int EXIT_USAGE = 2;

void usage(FILE* out) {
    std::fprintf(
        out,
        "usage: pushcap-gen --out FILE [--format pcap|pcapng] [--count N] [--duration SEC]\n"
        "                   [--start EPOCH_SEC] [--size imix|N] [--seed S] [--usec]\n"
        "                   [--big-endian] [--interfaces 1..3] [--vlan-percent P]\n"
        "       pushcap-gen --inject IFACE --pps N [--count N] [--size imix|N] [--seed S]\n"
        "                   [--batch N] [--vlan-percent P]\n"
        "\n"
        "Writes synthetic traffic: Ethernet (some 802.1Q), IPv4/IPv6, TCP/UDP/ICMP/ARP with valid\n"
        "checksums, part of it in 192.168.1.0/24, ports 443 and 53 among others. The same seed\n"
        "gives the same frames in every output.\n"
        "\n"
        "  --out FILE        write a capture file ('-' for stdout)\n"
        "  --format F        pcap (default) or pcapng\n"
        "  --count N         packets (default 10000)\n"
        "  --duration SEC    timestamps spread over SEC seconds (default 10)\n"
        "  --start SEC       first timestamp, epoch seconds (default 1700000000)\n"
        "  --size imix|N     IMIX 7x64/4x576/1x1500 (default) or N-byte frames\n"
        "  --seed S          random seed (default 1)\n"
        "  --usec            microsecond timestamps (default: nanosecond)\n"
        "  --big-endian      write the file big-endian\n"
        "  --interfaces N    pcapng: N interfaces: Ethernet, raw IP, Linux cooked (default 1)\n"
        "  --vlan-percent P  share of 802.1Q-tagged flows (default 15)\n"
        "  --inject IFACE    send on IFACE through AF_PACKET + sendmmsg (needs CAP_NET_RAW)\n"
        "  --pps N           send rate, packets per second\n"
        "  --batch N         frames per sendmmsg (default: from --pps)\n"
        "  --quiet           no summary on stderr\n");
}

[[noreturn]] void bad(const std::string& flag, const std::string& value, const char* expected) {
    std::fprintf(stderr, "pushcap-gen: %s: expected %s, got '%s'\n", flag.c_str(), expected,
                 value.c_str());
    std::exit(EXIT_USAGE);
}

std::uint64_t parseUnsigned(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0)
        bad(flag, v, "a non-negative integer");
    return n;
}

double parseSeconds(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(d >= 0) || d > 1e9)
        bad(flag, v, "a number of seconds >= 0");
    return d;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace pushcap::tools;
    TrafficFileOptions file;
    InjectOptions inject;
    std::string out, iface;
    bool countSet = false, ppsSet = false, quiet = false;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage(stdout);
            return 0;
        }
        if (flag == "--usec") {
            file.microseconds = true;
            continue;
        }
        if (flag == "--big-endian") {
            file.bigEndian = true;
            continue;
        }
        if (flag == "--quiet") {
            quiet = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "pushcap-gen: %s needs a value (see --help)\n", flag.c_str());
            return EXIT_USAGE;
        }
        const std::string v = argv[++i];
        if (flag == "--out") {
            out = v;
        } else if (flag == "--format") {
            if (v == "pcap") {
                file.format = TrafficFormat::Pcap;
            } else if (v == "pcapng") {
                file.format = TrafficFormat::Pcapng;
            } else {
                bad(flag, v, "pcap or pcapng");
            }
        } else if (flag == "--count") {
            file.count = parseUnsigned(flag, v);
            countSet = true;
        } else if (flag == "--duration") {
            file.durationSec = parseSeconds(flag, v);
        } else if (flag == "--start") {
            file.startSec = parseUnsigned(flag, v);
            if (file.startSec > 0xffffffffULL - 1'000'000'000ULL)
                bad(flag, v, "an epoch second below 2^32");
        } else if (flag == "--size") {
            if (v == "imix") {
                file.traffic.imix = true;
            } else {
                const std::uint64_t n = parseUnsigned(flag, v);
                if (n < 14 || n > TrafficGenerator::MAX_FRAME)
                    bad(flag, v, "imix or a frame size of 14..9216");
                file.traffic.imix = false;
                file.traffic.fixedSize = static_cast<std::uint32_t>(n);
            }
        } else if (flag == "--seed") {
            file.traffic.seed = parseUnsigned(flag, v);
        } else if (flag == "--interfaces") {
            const std::uint64_t n = parseUnsigned(flag, v);
            if (n < 1 || n > 3)
                bad(flag, v, "1, 2 or 3");
            file.interfaces = static_cast<unsigned>(n);
        } else if (flag == "--vlan-percent") {
            const std::uint64_t n = parseUnsigned(flag, v);
            if (n > 100)
                bad(flag, v, "0..100");
            file.traffic.vlanPercent = static_cast<unsigned>(n);
        } else if (flag == "--inject") {
            iface = v;
        } else if (flag == "--pps") {
            inject.pps = parseUnsigned(flag, v);
            if (inject.pps == 0)
                bad(flag, v, "a rate > 0");
            ppsSet = true;
        } else if (flag == "--batch") {
            const std::uint64_t n = parseUnsigned(flag, v);
            if (n < 1 || n > 1024)
                bad(flag, v, "1..1024");
            inject.batch = static_cast<unsigned>(n);
        } else {
            std::fprintf(stderr, "pushcap-gen: unknown option '%s' (see --help)\n", flag.c_str());
            return EXIT_USAGE;
        }
    }
    if (out.empty() == iface.empty()) {
        std::fprintf(
            stderr, "pushcap-gen: give exactly one of --out FILE or --inject IFACE (see --help)\n");
        return EXIT_USAGE;
    }
    if (!iface.empty() && !ppsSet) {
        std::fprintf(stderr, "pushcap-gen: --inject needs --pps N\n");
        return EXIT_USAGE;
    }
    if (file.interfaces > 1 && file.format != TrafficFormat::Pcapng) {
        std::fprintf(stderr, "pushcap-gen: --interfaces > 1 needs --format pcapng\n");
        return EXIT_USAGE;
    }
    try {
        if (!out.empty()) {
            const std::uint64_t bytes = writeTrafficFile(out, file);
            if (!quiet) {
                std::fprintf(stderr, "pushcap-gen: wrote %llu packets, %llu bytes to %s\n",
                             static_cast<unsigned long long>(file.count),
                             static_cast<unsigned long long>(bytes), out.c_str());
            }
            return 0;
        }
        inject.traffic = file.traffic;
        inject.interface = iface;
        (void)countSet;
        inject.count = file.count;
        const InjectResult r = injectTraffic(inject);
        if (!quiet) {
            std::fprintf(
                stderr, "pushcap-gen: sent %llu packets on %s in %.3f s (%.0f pps, %llu retries)\n",
                static_cast<unsigned long long>(r.sent), iface.c_str(), r.seconds,
                r.seconds > 0 ? double(r.sent) / r.seconds : 0.0,
                static_cast<unsigned long long>(r.retries));
        }
        std::printf("{\"sent\":%llu,\"seconds\":%.6f,\"retries\":%llu}\n",
                    static_cast<unsigned long long>(r.sent), r.seconds,
                    static_cast<unsigned long long>(r.retries));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pushcap-gen: %s\n", e.what());
        return 1;
    }
}
