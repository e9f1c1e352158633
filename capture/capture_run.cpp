#include "capture/capture_run.hpp"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "capture/batcher.hpp"
#include "capture/file_source.hpp"
#include "capture/live_source.hpp"
#include "capture/remote_source.hpp"
#include "proto/child_events.hpp"
#include "router/ring_error.hpp"
#include "router/ring_writer.hpp"
#include "workers/slot_counters.hpp"

namespace pushcap::capture {
namespace {

using workers::EXIT_BAD_CONFIG;
using workers::EXIT_OK;
using workers::EXIT_RUNTIME_ERROR;

std::atomic<bool> g_stop{false};
// How long one attempt to get ring room may block the collector's event loop.
constexpr std::uint64_t HOLD_WAIT_NS = 2'000'000;
constexpr std::uint64_t SHUTDOWN_DRAIN_NS = 2'000'000'000;
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void onStopSignal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

void installSignals() {
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll and futex waits return at once
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

constexpr const char* USAGE =
    "usage: pushcap-capture --ring SEGMENT (--file F [--file F2 ...] | -i IFACE [-i IFACE2 ...]\n"
    "                       | --listen ADDR:PORT --client NAME=ADDR ...)\n"
    "                       [--snaplen N] [--no-promisc] [--buffer-bytes N] [--flush-us N] "
    "[--immediate]\n"
    "                       [--realtime[=X]] [--user USER] [--ready-fd FD] [--stats-ms N]\n"
    "\n"
    "The producer of one shared-memory ring (created beforehand by pushcapd). Pushes stored files\n"
    "in order (lossless, resumable: a restart with the same arguments continues after the last\n"
    "published batch), or captures live interfaces. Each pcapng interface and each -i gets its "
    "own\n"
    "source id. Ends at the end of the files, or on SIGTERM/SIGINT after publishing what it "
    "holds.\n"
    "\n"
    "  --ring SEGMENT     ring segment name, e.g. /pushcap.<instance>.<source>\n"
    "  --file F           pcap (us/ns, either byte order) or pcapng file; repeat for more\n"
    "  -i, --interface I  live interface; repeat for more\n"
    "  --snaplen N        live: bytes kept per packet (default 262144)\n"
    "  --no-promisc       live: do not put the interface in promiscuous mode\n"
    "  --buffer-bytes N   live: kernel capture buffer size (default 32 MiB)\n"
    "  --immediate        live: wake per packet instead of per kernel block (block timeout is\n"
    "                     --flush-us rounded up to 1 ms)\n"
    "  --flush-us N       publish a partial batch after N microseconds (default 1000)\n"
    "  --realtime[=X]     files: pace at the recorded speed, or X times it\n"
    "  --user USER        drop to USER (uid, gid, no supplementary groups) once all is open\n"
    "  --ready-fd FD      write one byte to FD when attached and sources are open, then close it\n"
    "  --events-fd FD     report progress and errors to FD as lines (used by pushcapd)\n"
    "  --quiet            only warnings and errors on stderr\n"
    "  --listen ADDR:PORT collect from remote osmo-pcap clients (TCP; repeatable; port 0: any)\n"
    "  --client NAME=ADDR[/BITS][:no-store][:tls]  an allowed client (repeatable, first match\n"
    "                     wins; :tls: it must use TLS; :no-store is accepted for pushcapd,\n"
    "                     which then gives it no file of its own: its packets still enter\n"
    "                     the ring);\n"
    "                     its source id follows the interfaces'\n"
    "  --max-snaplen N    largest snaplen a remote client may announce (default 9000)\n"
    "  --tls-cert F --tls-key F  server certificate and key (PEM) for clients marked :tls\n"
    "  --tls-ca F [--tls-crl F]  CA (and CRL) that TLS clients' certificates must verify against\n"
    "  --tls-client-auth x509|anonymous  with --tls-ca: require a client certificate (default)\n"
    "                     or accept clients without one (osmo-pcap's 'no tls verify-cert')\n"
    "  --tls-priority S   GnuTLS priority string (default NORMAL)\n"
    "  --stats-ms N       log counters every N ms (default 0: only at the end)\n"
    "\n"
    "exit: 0 done or stopped, 1 runtime error, 65 damaged input file (good packets delivered),\n"
    "      2 usage, 78 unusable file/interface/user\n";

std::uint64_t parseNumber(const std::string& flag, const std::string& v, std::uint64_t lo,
                          std::uint64_t hi) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        throw UsageError(flag + ": expected an integer in " + std::to_string(lo) + ".." +
                         std::to_string(hi) + ", got '" + v + "'");
    }
    return n;
}

void dropPrivileges(const std::string& user) {
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr)
        throw ConfigError("--user " + user + ": no such user");
    const gid_t gid = pw->pw_gid;
    const uid_t uid = pw->pw_uid;
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        throw ConfigError("--user " + user + ": cannot switch to it: " + std::strerror(errno));
    }
    if (uid != 0 && ::setuid(0) == 0)
        throw ConfigError("--user " + user + ": root could be regained");
}

void logStats(const Batcher& b, std::uint64_t drops, std::uint64_t ifDrops) {
    const BatcherStats& s = b.stats();
    spdlog::info(
        "packets {} bytes {} batches {} kernel drops {} if drops {} ring-full drops {} truncated "
        "{} held for room {} times",
        s.packets, s.bytes, s.batches, drops, ifDrops, s.ringFull, s.truncated, s.held);
}

void signalReady(int fd) {
    if (fd < 0)
        return;
    const char byte = 'r';
    while (::write(fd, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(fd);
}

int pushFiles(FileSource& files, Batcher& batcher, const CaptureOptions& o,
              proto::ChildEventWriter& events) {
    std::uint64_t nextStats = o.statsMs ? monotonicNowNs() + o.statsMs * 1'000'000 : ~0ULL;
    constexpr std::uint64_t PROGRESS_EVERY_NS = 250'000'000;
    std::uint64_t nextProgress = 0;
    for (;;) {
        if (events.enabled() && monotonicNowNs() >= nextProgress) {
            events.progress(files.bytesDone(), files.bytesTotal());
            nextProgress = monotonicNowNs() + PROGRESS_EVERY_NS;
        }
        if (g_stop.load(std::memory_order_relaxed))
            break;
        const PumpStatus st = files.pump(batcher);
        if (st == PumpStatus::End || st == PumpStatus::Stopped)
            break;
        if (st == PumpStatus::Failed) {
            batcher.flush();  // every good packet before the damage
            logStats(batcher, 0, 0);
            spdlog::error("{}", files.error());
            events.error(files.error());
            return workers::EXIT_INPUT_DAMAGED;
        }
        if (nextStats != ~0ULL && monotonicNowNs() >= nextStats) {
            logStats(batcher, 0, 0);
            nextStats += o.statsMs * 1'000'000;
        }
    }
    batcher.flush();
    batcher.writer().finish();
    events.progress(files.bytesDone(), files.bytesTotal());
    logStats(batcher, 0, 0);
    spdlog::info("{}: {} packets pushed in total", g_stop.load() ? "stopped" : "all files pushed",
                 files.totalPackets());
    return EXIT_OK;
}

int captureLive(std::vector<std::unique_ptr<Source>>& sources, Batcher& batcher,
                const CaptureOptions& o, proto::ChildEventWriter& events) {
    std::vector<pollfd> fds;
    for (const auto& s : sources)
        fds.push_back({s->pollFd(), POLLIN, 0});
    const std::uint64_t flushNs = o.flushUs * 1000;
    constexpr std::uint64_t DROPS_EVERY_NS = 250'000'000;
    std::uint64_t now = monotonicNowNs();
    std::uint64_t nextDrops = now + DROPS_EVERY_NS;
    std::uint64_t nextStats = o.statsMs ? now + o.statsMs * 1'000'000 : ~0ULL;
    constexpr std::uint64_t STATUS_EVERY_NS = 1'000'000'000;
    std::uint64_t nextStatus = now;
    std::uint64_t drops = 0, ifDrops = 0;
    auto readDrops = [&] {
        drops = ifDrops = 0;
        for (const auto& s : sources) {
            std::uint64_t d = 0, i = 0;
            s->drops(d, i);
            drops += d;
            ifDrops += i;
        }
        batcher.writer().reportSourceDrops(drops, ifDrops);
    };
    int rc = EXIT_OK;
    while (!g_stop.load(std::memory_order_relaxed)) {
        std::uint64_t waitNs = 100'000'000;
        const bool held = std::any_of(sources.begin(), sources.end(),
                                      [](const auto& s) { return s->hasHeldWork(); });
        if (held) {
            waitNs = 0;  // the source waits for ring room itself (a futex, not this poll)
        } else if (batcher.pending()) {
            const std::uint64_t due = batcher.openedAtNs() + flushNs;
            waitNs = due > now ? std::min(waitNs, due - now) : 0;
        }
        const timespec ts{static_cast<time_t>(waitNs / 1'000'000'000ULL),
                          static_cast<long>(waitNs % 1'000'000'000ULL)};
        const int ready = ::ppoll(fds.data(), fds.size(), &ts, nullptr);
        if (ready < 0 && errno != EINTR) {
            spdlog::error("poll failed: {}", std::strerror(errno));
            rc = EXIT_RUNTIME_ERROR;
            break;
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if ((ready <= 0 || fds[i].revents == 0) && !sources[i]->hasHeldWork())
                continue;
            PumpStatus st;
            int rounds = 0;
            do {
                st = sources[i]->pump(batcher);
            } while (st == PumpStatus::Progress && ++rounds < 16);
            if (st == PumpStatus::Failed) {
                spdlog::error("{}", sources[i]->error());
                rc = EXIT_RUNTIME_ERROR;
                g_stop.store(true);
            }
        }
        now = monotonicNowNs();
        if (batcher.pending() && now >= batcher.openedAtNs() + flushNs)
            batcher.flush();
        if (now >= nextDrops) {
            readDrops();
            batcher.writer().heartbeat();
            nextDrops = now + DROPS_EVERY_NS;
        }
        if (events.enabled() && now >= nextStatus) {
            for (const auto& s : sources)
                s->reportStatus(events);
            nextStatus = now + STATUS_EVERY_NS;
        }
        if (now >= nextStats) {
            logStats(batcher, drops, ifDrops);
            nextStats = now + o.statsMs * 1'000'000;
        }
    }
    // What a collector read but had no room for yet goes in before the end, if room comes soon.
    const std::uint64_t drainUntil = monotonicNowNs() + SHUTDOWN_DRAIN_NS;
    for (const auto& s : sources) {
        while (!s->drainHeld(batcher)) {
            if (monotonicNowNs() >= drainUntil) {
                spdlog::warn(
                    "{}: stopping with data read from clients still waiting for ring "
                    "room (a lossless target is not consuming): it is not stored",
                    s->describe());
                break;
            }
        }
    }
    batcher.flush();
    readDrops();
    batcher.writer().finish();
    logStats(batcher, drops, ifDrops);
    return rc;
}

}  // namespace

const char* captureUsage() {
    return USAGE;
}

bool parseCaptureArgs(int argc, char** argv, CaptureOptions& o) {
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        std::string value;
        bool hasValue = false;
        if (flag.rfind("--", 0) == 0) {
            const auto eq = flag.find('=');
            if (eq != std::string::npos) {
                value = flag.substr(eq + 1);
                flag.resize(eq);
                hasValue = true;
            }
        }
        if (flag == "--help" || flag == "-h")
            return false;
        if (flag == "--immediate") {
            o.immediate = true;
            continue;
        }
        if (flag == "--no-promisc") {
            o.promisc = false;
            continue;
        }
        if (flag == "--quiet") {
            o.quiet = true;
            continue;
        }
        if (flag == "--realtime") {
            o.realtime = 1.0;
            if (hasValue) {
                char* end = nullptr;
                o.realtime = std::strtod(value.c_str(), &end);
                if (value.empty() || *end != '\0' || !(o.realtime > 0) || o.realtime > 1e6) {
                    throw UsageError("--realtime: expected a speed factor > 0, got '" + value +
                                     "'");
                }
            }
            continue;
        }
        if (!hasValue) {
            if (i + 1 >= argc)
                throw UsageError(flag + " needs a value (see --help)");
            value = argv[++i];
        }
        if (flag == "--ring") {
            o.ring = value;
        } else if (flag == "--file") {
            o.files.push_back(value);
        } else if (flag == "-i" || flag == "--interface") {
            o.interfaces.push_back(value);
        } else if (flag == "--snaplen") {
            o.snaplen = static_cast<std::uint32_t>(parseNumber(flag, value, 64, 262144));
        } else if (flag == "--buffer-bytes") {
            o.bufferBytes = parseNumber(flag, value, 65536, 1ULL << 31);
        } else if (flag == "--flush-us") {
            o.flushUs = parseNumber(flag, value, 1, 10'000'000);
        } else if (flag == "--user") {
            if (value.empty())
                throw UsageError("--user: empty user name");
            o.user = value;
        } else if (flag == "--ready-fd") {
            o.readyFd = static_cast<int>(parseNumber(flag, value, 0, 1 << 20));
        } else if (flag == "--listen") {
            o.listen.push_back(value);
        } else if (flag == "--client") {
            o.clients.push_back(value);
        } else if (flag == "--tls-cert") {
            o.tlsCert = value;
        } else if (flag == "--tls-key") {
            o.tlsKey = value;
        } else if (flag == "--tls-ca") {
            o.tlsCa = value;
        } else if (flag == "--tls-crl") {
            o.tlsCrl = value;
        } else if (flag == "--tls-priority") {
            o.tlsPriority = value;
        } else if (flag == "--tls-client-auth") {
            if (value != "x509" && value != "anonymous")
                throw UsageError("--tls-client-auth: expected x509 or anonymous, got '" + value +
                                 "'");
            o.tlsRequireClientCert = value == "x509";
        } else if (flag == "--max-snaplen") {
            o.maxSnaplen = static_cast<std::uint32_t>(parseNumber(flag, value, 1, 262144));
        } else if (flag == "--events-fd") {
            o.eventsFd = static_cast<int>(parseNumber(flag, value, 0, 1 << 20));
        } else if (flag == "--stats-ms") {
            o.statsMs = parseNumber(flag, value, 0, 86'400'000);
        } else {
            throw UsageError("unknown option '" + flag + "' (see --help)");
        }
    }
    if (o.ring.empty())
        throw UsageError("--ring SEGMENT is required (see --help)");
    const bool liveSources = !o.interfaces.empty() || !o.listen.empty();
    if (o.files.empty() == !liveSources)
        throw UsageError(
            "give --file F... or live sources (-i IFACE..., --listen ADDR:PORT), not both or "
            "neither");
    if (!o.listen.empty() && o.clients.empty())
        throw UsageError("--listen needs at least one --client NAME=ADDR (an allow list)");
    if (o.interfaces.size() > 65535)
        throw UsageError("-i: too many interfaces");
    if (o.realtime > 0 && o.files.empty())
        throw UsageError("--realtime applies to --file only");
    return true;
}

int runCapture(const CaptureOptions& o) {
    installSignals();
    if (o.quiet)
        spdlog::set_level(spdlog::level::warn);
    proto::ChildEventWriter events(o.eventsFd);
    std::unique_ptr<router::RingWriter> writer;
    try {
        writer = std::make_unique<router::RingWriter>(o.ring);
    } catch (const std::exception& e) {
        spdlog::error("cannot attach to ring {}: {}", o.ring, e.what());
        return EXIT_RUNTIME_ERROR;
    }
    std::unique_ptr<FileSource> files;
    std::vector<std::unique_ptr<Source>> live;
    try {
        if (!o.files.empty()) {
            files =
                std::make_unique<FileSource>(o.files, writer->resumeCursor(), o.realtime, g_stop);
            if (files->resumed())
                spdlog::info("resuming after packet {} of the file list", files->totalPackets());
        } else {
            for (std::size_t i = 0; i < o.interfaces.size(); ++i) {
                LiveOptions lo;
                lo.interface = o.interfaces[i];
                lo.sourceId = static_cast<std::uint16_t>(i);
                lo.snaplen = o.snaplen;
                lo.promisc = o.promisc;
                lo.bufferBytes = o.bufferBytes;
                lo.immediate = o.immediate;
                lo.timeoutMs = static_cast<int>(std::max<std::uint64_t>(1, o.flushUs / 1000));
                auto source = std::make_unique<LiveSource>(lo);
                spdlog::info("interface {}: source id {}, link type {}, {} timestamps",
                             lo.interface, i, source->linkType(),
                             source->nanosecond() ? "nanosecond" : "microsecond");
                live.push_back(std::move(source));
            }
            if (!o.listen.empty()) {
                // Remote clients follow the interfaces in source-id order.
                RemoteOptions ro;
                ro.listen = o.listen;
                ro.maxSnaplen = o.maxSnaplen;
                if (!o.tlsCert.empty() || !o.tlsKey.empty()) {
                    ro.tls =
                        TlsServerOptions{o.tlsCert, o.tlsKey, o.tlsCa, o.tlsCrl, o.tlsPriority};
                }
                ro.requireClientCertificates = o.tlsRequireClientCert;
                for (std::size_t i = 0; i < o.clients.size(); ++i) {
                    ro.clients.push_back(parseRemoteClient(
                        o.clients[i], static_cast<std::uint16_t>(o.interfaces.size() + i)));
                }
                auto collector = std::make_unique<RemoteSource>(std::move(ro));
                for (const std::string& a : collector->boundAddresses())
                    spdlog::info("collector: listening on {}", a);
                live.push_back(std::move(collector));
            }
        }
        if (!o.user.empty())
            dropPrivileges(o.user);
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return EXIT_BAD_CONFIG;
    }
    signalReady(o.readyFd);
    try {
        if (files) {
            Batcher batcher(*writer, OnFull::WaitUntilStop, 50'000'000, g_stop);
            batcher.setCursorProvider(files.get());
            return pushFiles(*files, batcher, o, events);
        }
        // Sockets can wait (TCP holds the clients back) when nothing else shares the ring; an
        // interface never can. The hold is short so accepts and handshakes go on meanwhile.
        const bool hold = o.interfaces.empty() && router::producerMayWait(writer->mode());
        Batcher batcher(*writer, hold ? OnFull::Hold : OnFull::Drop, HOLD_WAIT_NS, g_stop);
        if (hold)
            spdlog::info(
                "collector: the ring is backpressured: sockets are not read while a "
                "lossless target has no room");
        return captureLive(live, batcher, o, events);
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return EXIT_RUNTIME_ERROR;
    }
}

}  // namespace pushcap::capture
