#include "supervisor/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "proto/child_events.hpp"
#include "router/ring_janitor.hpp"
#include "status.pb.h"
#include "supervisor/child_commands.hpp"
#include "supervisor/collector_outputs.hpp"
#include "supervisor/config_check.hpp"
#include "supervisor/config_error.hpp"
#include "supervisor/delivery_policy.hpp"
#include "supervisor/osmo_config.hpp"
#include "supervisor/status_publisher.hpp"
#include "workers/slot_counters.hpp"

namespace pushcap::supervisor {
namespace {

constexpr int EXIT_INPUT_DAMAGED = 65;  // EX_DATAERR: the capture delivered what was readable
// How long after the bind an offline push waits for a subscriber to show up: one started before
// pushcapd connects on its next retry (ZeroMQ's default reconnect interval is 100 ms).
constexpr auto STATUS_JOIN_GRACE = std::chrono::milliseconds(500);

std::uint64_t unixNowNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

v1::TargetState toProto(ChildState s) {
    switch (s) {
        case ChildState::Starting:
            return v1::STARTING;
        case ChildState::Running:
            return v1::RUNNING;
        case ChildState::Restarting:
            return v1::RESTARTING;
        case ChildState::Failed:
            return v1::FAILED;
        case ChildState::Stopped:
            return v1::STOPPED;
    }
    return v1::TARGET_STATE_UNSPECIFIED;
}

const char* stateName(ChildState s) {
    switch (s) {
        case ChildState::Starting:
            return "starting";
        case ChildState::Running:
            return "running";
        case ChildState::Restarting:
            return "restarting";
        case ChildState::Failed:
            return "failed";
        case ChildState::Stopped:
            return "stopped";
    }
    return "?";
}

std::string describeExit(int status) {
    if (WIFEXITED(status))
        return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("signal ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

std::string humanBytes(double bytes) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) {
        bytes /= 1000;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f %s", bytes, units[u]);
    return buf;
}

}  // namespace

Supervisor::Supervisor(SupervisorOptions options, PushConfig config)
    : m_options(std::move(options)), m_config(std::move(config)) {
    m_instance = m_options.instance.empty() ? m_config.instance : m_options.instance;
    m_interfaces = m_options.interfaces.empty() ? m_config.interfaces : m_options.interfaces;
    m_offline = !m_options.offlineFiles.empty();
    if (!m_options.statusEndpoint.empty())
        m_config.statusEndpoint = m_options.statusEndpoint;
    if (!m_options.logDir.empty())
        m_config.logDir = m_options.logDir;
    std::vector<std::string> problems =
        captureSourceProblems(m_config, m_options.offlineFiles, m_interfaces);
    for (std::string& p : collectorFileProblems(m_config.collector))
        problems.push_back(std::move(p));
    if (!problems.empty()) {
        std::string all = m_config.file + ":";
        for (const std::string& p : problems)
            all += (problems.size() == 1 ? " " : "\n  ") + p;
        throw ConfigError(all);
    }
    m_sources = sourceNames(m_interfaces, m_config.collector);
    m_segment = router::segmentName(m_instance, "capture");
}

Supervisor::~Supervisor() {
    for (auto& c : m_children) {
        if (c->proc.pid > 0)
            ::kill(c->proc.pid, SIGKILL);
        if (c->proc.readyFd >= 0)
            ::close(c->proc.readyFd);
        if (c->proc.eventsFd >= 0)
            ::close(c->proc.eventsFd);
    }
    if (m_ring)
        m_ring->remove();
    if (m_signalFd >= 0)
        ::close(m_signalFd);
}

ChildSpec Supervisor::workerSpec(const TargetConfig& target) const {
    return ChildSpec{
        siblingProgram("pushcap-worker"),
        workerArguments(target, m_segment, m_config.logDir, sourceIdsFor(target, m_sources)),
        m_config.user};
}

void Supervisor::setUp() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
        sigaddset(&mask, s);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    m_signalFd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m_signalFd < 0)
        throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    ::signal(SIGPIPE, SIG_IGN);

    for (const std::string& note : m_config.notices)
        spdlog::info("{}", note);
    m_ringPlan = planRing(m_config.ringMode, m_offline, m_interfaces);
    router::RingConfig ring;
    ring.instance = m_instance;
    ring.source = "capture";
    ring.mode = m_ringPlan.mode;
    ring.dataCapacity =
        ringCapacity(ring.mode, m_config.ringBytes, m_config.ringBytesSet, OFFLINE_RING_BYTES);
    ring.maxBatchBytes =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(1u << 20, ring.dataCapacity / 8));
    ring.maxBatchBytes -= ring.maxBatchBytes % router::BATCH_ALIGN;
    m_ring = std::make_unique<router::RingJanitor>(ring);
    m_status = std::make_unique<StatusPublisher>(m_config.statusEndpoint);
    m_statusBoundAt = Clock::now();
    spdlog::info("instance {}: ring {} ({} MiB, {}), status on {} (replay {})", m_instance,
                 m_segment, ring.dataCapacity >> 20, ringModeName(ring.mode), m_status->endpoint(),
                 m_status->replayEndpoint());

    for (const std::string& f : m_options.offlineFiles) {
        struct stat st {};
        if (::stat(f.c_str(), &st) != 0)
            throw std::runtime_error("--offline " + f + ": " + std::strerror(errno));
        m_inputTotal += static_cast<std::uint64_t>(st.st_size);
    }
    // Every consumer is registered before the capture starts, so a lossless push waits for all.
    for (const TargetConfig& t : allTargets(m_config))
        startTarget(t);
    auto capture = std::make_unique<Child>();
    capture->name = "capture";
    capture->isCapture = true;
    capture->spec =
        ChildSpec{siblingProgram("pushcap-capture"),
                  captureArguments(m_config, m_segment, m_options.offlineFiles, m_interfaces,
                                   /*quiet=*/m_options.showProgress),
                  ""};
    capture->policy = RestartPolicy(m_options.limits, /*essential=*/true);
    spawn(*capture);
    m_children.push_back(std::move(capture));
}

router::Delivery Supervisor::deliveryFor(const TargetConfig& target) const {
    const DeliveryDecision d = resolveDelivery(target.delivery, target.label(), m_ringPlan);
    if (!d.notice.empty())
        spdlog::warn("{}", d.notice);
    return d.delivery;
}

void Supervisor::startTarget(const TargetConfig& target) {
    auto child = std::make_unique<Child>();
    child->delivery = deliveryFor(target);
    m_ring->addConsumer(target.desc, /*fromOldest=*/m_offline, child->delivery);
    child->name = target.desc;
    child->spec = workerSpec(target);
    child->fingerprint = target.fingerprint();
    child->policy = RestartPolicy(m_options.limits);
    spawn(*child);
    m_children.push_back(std::move(child));
}

// What moves only when the child gets somewhere: a worker's committed position in its ring slot
// (what it would resume from), the capture's count of published packets.
std::uint64_t Supervisor::progressMark(const Child& child) const {
    const router::RingSnapshot ring = m_ring->snapshot();
    if (child.isCapture)
        return ring.publishedPackets;
    for (const router::ConsumerSnapshot& c : ring.consumers) {
        if (c.name == child.name)
            return c.committedPos;
    }
    return 0;
}

Progress Supervisor::progressSince(const Child& child) const {
    return progressMark(child) > child.progressAtStart ? Progress::Made : Progress::None;
}

void Supervisor::spawn(Child& child) {
    // Taken before the child runs, so whatever it commits counts as its progress.
    child.progressAtStart = progressMark(child);
    child.proc = spawnChild(child.spec);
    child.policy.started(Clock::now());
    child.state = ChildState::Starting;
    child.restartPending = false;
    spdlog::info("{}: started pid {}", child.name, child.proc.pid);
    spdlog::debug("{}: {}", child.name, shellQuoted(child.spec.program, child.spec.args));
}

Supervisor::Child* Supervisor::findChild(pid_t pid) {
    for (auto& c : m_children) {
        if (c->proc.pid == pid)
            return c.get();
    }
    return nullptr;
}

Supervisor::Child* Supervisor::findChild(const std::string& name) {
    for (auto& c : m_children) {
        if (c->name == name)
            return c.get();
    }
    return nullptr;
}

void Supervisor::readReady(Child& child) {
    char byte;
    ssize_t n = ::read(child.proc.readyFd, &byte, 1);
    if (n == 1 && child.state == ChildState::Starting) {
        child.state = ChildState::Running;
        spdlog::info("{}: ready", child.name);
    }
    if (n == 0 || n == 1) {  // one byte, then the child closes its end
        ::close(child.proc.readyFd);
        child.proc.readyFd = -1;
    }
}

void Supervisor::readEvents(Child& child) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(child.proc.eventsFd, buf, sizeof buf);
        if (n <= 0) {
            if (n == 0) {
                ::close(child.proc.eventsFd);
                child.proc.eventsFd = -1;
            }
            return;
        }
        child.pendingLine.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = child.pendingLine.find('\n')) != std::string::npos) {
            childEvent(child, proto::parseChildEvent(child.pendingLine.substr(0, nl)));
            child.pendingLine.erase(0, nl + 1);
        }
        if (child.pendingLine.size() > 65536)
            child.pendingLine.clear();  // a broken child: drop
    }
}

void Supervisor::childEvent(Child& child, const std::vector<std::string>& f) {
    auto number = [&](std::size_t i) -> std::uint64_t {
        return i < f.size() ? std::strtoull(f[i].c_str(), nullptr, 10) : 0;
    };
    if (f[0] == "file_opened" && f.size() >= 2) {
        child.currentFile = f[1];
    } else if (f[0] == "file_completed" && f.size() >= 6) {
        if (child.currentFile == f[1])
            child.currentFile.clear();
        v1::Event e;
        e.set_instance(m_instance);
        e.set_unix_time_ns(unixNowNs());
        v1::FileCompleted* fc = e.mutable_file_completed();
        fc->set_target(child.name);
        fc->set_path(f[1]);
        fc->set_bytes(number(2));
        fc->set_packets(number(3));
        fc->set_first_packet_unix_ns(number(4));
        fc->set_last_packet_unix_ns(number(5));
        m_status->publish("file_completed", e);
    } else if (f[0] == "error" && f.size() >= 2) {
        child.lastError = f[1];
        spdlog::warn("{}: {}", child.name, f[1]);
    } else if (f[0] == "uploaded" && f.size() >= 4) {
        child.lastUploadUnixNs = unixNowNs();
    } else if (f[0] == "client" && f.size() >= 7) {
        m_collectorClients[f[1]] = f;
    } else if (f[0] == "collector" && f.size() >= 4) {
        m_collectorTotals = f;
    } else if (f[0] == "progress" && f.size() >= 3) {
        m_inputDone = number(1);
        if (number(2) != 0)
            m_inputTotal = number(2);
    }
}

void Supervisor::handleSignals() {
    signalfd_siginfo info{};
    while (::read(m_signalFd, &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
            case SIGCHLD:
                reap();
                break;
            case SIGTERM:
            case SIGINT:
                if (m_stopping) {
                    spdlog::warn("second {}: stopping now",
                                 strsignal(static_cast<int>(info.ssi_signo)));
                    m_stopDeadline = Clock::now();
                } else {
                    beginShutdown(strsignal(static_cast<int>(info.ssi_signo)));
                }
                break;
            case SIGHUP:
                reload();
                break;
            default:
                break;
        }
    }
}

void Supervisor::reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (Child* c = findChild(pid))
            childExited(*c, status);
    }
}

void Supervisor::childExited(Child& child, int status) {
    if (child.proc.readyFd >= 0)
        readReady(child);
    if (child.proc.eventsFd >= 0) {
        readEvents(child);
        if (child.proc.eventsFd >= 0)
            ::close(child.proc.eventsFd);
    }
    if (child.proc.readyFd >= 0)
        ::close(child.proc.readyFd);
    child.proc = SpawnedChild{};
    child.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    child.exitSignal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    const std::string how = describeExit(status);
    const auto now = Clock::now();
    const Progress progress = progressSince(child);

    ChildExit kind = ChildExit::Crashed;
    if (child.exitCode == 0)
        kind = ChildExit::Done;
    if (child.exitCode == workers::EXIT_BAD_CONFIG || child.exitCode == workers::EXIT_USAGE)
        kind = ChildExit::BadConfig;
    RestartDecision d;
    if (child.isCapture && child.exitCode == EXIT_INPUT_DAMAGED) {
        d.action = RestartDecision::Action::Fail;
        d.reason = "input damaged: " + (child.lastError.empty() ? how : child.lastError);
    } else if (child.isCapture && m_stopping) {
        // Asked to stop: however it ended (a SIGTERM that came before its handler was in place
        // kills it), it is not restarted, and the workers complete what it delivered.
        d.action = RestartDecision::Action::Stop;
        if (kind != ChildExit::Done) {
            spdlog::warn("{}: did not stop cleanly ({})", child.name, how);
            m_ring->markFinished();
        }
    } else if (child.isCapture && m_offline && kind == ChildExit::Done) {
        d.action = RestartDecision::Action::Stop;
    } else if (child.isCapture && kind == ChildExit::Done) {
        // A live capture has no reason to end.
        d = child.policy.exited(now, ChildExit::Crashed, progress);
    } else if (child.isCapture && kind == ChildExit::BadConfig) {
        d.action = RestartDecision::Action::Fail;
        d.reason = "capture rejected its arguments (" + how + ")" +
                   (child.lastError.empty() ? "" : ": " + child.lastError);
    } else if (child.stopRequested) {
        // We asked it to stop (reload). Even if it died of that signal before it could handle it,
        // or crashed on the way out, it is stopped: its replacement or removal goes ahead, and a
        // successor on the same slot completes whatever it left pending.
        d.action = RestartDecision::Action::Stop;
        if (kind != ChildExit::Done)
            spdlog::warn("{}: did not stop cleanly ({})", child.name, how);
    } else {
        d = child.policy.exited(now, kind, progress);
    }

    v1::Event e;
    e.set_instance(m_instance);
    e.set_unix_time_ns(unixNowNs());
    v1::ChildExited* ce = e.mutable_child_exited();
    ce->set_child(child.name);
    ce->set_exit_code(child.exitCode);
    ce->set_signal(child.exitSignal);

    switch (d.action) {
        case RestartDecision::Action::Stop:
            child.state = ChildState::Stopped;
            child.finished = true;
            ce->set_action("stopped");
            spdlog::info("{}: finished ({})", child.name, how);
            break;
        case RestartDecision::Action::Fail:
            child.state = ChildState::Failed;
            child.lastError = d.reason;
            ce->set_action("failed");
            ce->set_reason(d.reason);
            spdlog::error("{}: FAILED: {}", child.name, d.reason);
            m_failures.push_back(child.name + ": " + d.reason);
            if (child.isCapture) {
                m_ring->markFinished();  // let the workers complete what was delivered
                if (!m_offline && !m_stopping)
                    beginShutdown("capture failed");
            } else {
                m_ring->releaseConsumer(child.name);  // a lossless producer must not wait for it
            }
            break;
        case RestartDecision::Action::Restart: {
            child.state = ChildState::Restarting;
            child.restartPending = true;
            child.restartAt = d.restartAt;
            auto in = std::chrono::duration<double>(d.restartAt - now).count();
            child.lastError = child.lastError.empty() ? how : child.lastError;
            ce->set_action("restart");
            ce->set_restart_in_seconds(in);
            spdlog::warn("{}: exited with {}{}; restart #{} in {:.1f} s", child.name, how,
                         progress == Progress::Made ? "" : " (no progress since its start)",
                         child.policy.restarts(), in);
            break;
        }
    }
    m_status->publish("child_exited", e);

    // Whatever way the capture ended for good, the workers must drain and see end-of-stream.
    if (child.isCapture && child.state != ChildState::Restarting)
        m_ring->markFinished();
    if (!child.isCapture && child.state == ChildState::Stopped && child.replacement) {
        // A changed target: the old worker completed its files; the new one resumes its slot,
        // with the new delivery (set only now, so the old worker drained as it was promised).
        child.delivery = child.replacementDelivery;
        m_ring->addConsumer(child.name, m_offline, child.delivery);
        child.spec = *child.replacement;
        child.fingerprint = child.replacementFingerprint;
        child.replacement.reset();
        child.stopRequested = false;
        child.finished = false;
        child.policy = RestartPolicy(m_options.limits);
        spawn(child);
    } else if (!child.isCapture && child.state == ChildState::Stopped && child.removeWhenStopped) {
        m_ring->releaseConsumer(child.name);
        const std::string name = child.name;
        m_children.erase(std::remove_if(m_children.begin(), m_children.end(),
                                        [&](const auto& c) { return c->name == name; }),
                         m_children.end());
    }
}

void Supervisor::beginShutdown(const std::string& why) {
    spdlog::info("stopping ({}): capture stops, workers complete their files", why);
    m_stopping = true;
    m_stopDeadline = Clock::now() + m_options.shutdownTimeout;
    Child* capture = findChild("capture");
    if (capture != nullptr && capture->proc.pid > 0) {
        ::kill(capture->proc.pid, SIGTERM);
    } else {
        if (capture != nullptr)
            capture->restartPending = false;
        m_ring->markFinished();
    }
}

void Supervisor::reload() {
    v1::Event e;
    e.set_instance(m_instance);
    e.set_unix_time_ns(unixNowNs());
    v1::ConfigChanged* cc = e.mutable_config_changed();
    cc->set_file(m_config.file);
    PushConfig next;
    std::vector<TargetConfig> nextTargets;
    try {
        next = m_config.osmoFormat ? loadOsmoConfig(m_config.file) : loadConfig(m_config.file);
        // The capture keeps running: a new listen address, client list or TLS setting would
        // need a new capture process, and stopping one ends the ring for every worker.
        if (!next.collector.sameCapture(m_config.collector)) {
            spdlog::warn(
                "reload: collector changes (listen addresses, clients, TLS, max-snaplen) take "
                "effect at the next start; output settings apply now");
        }
        CollectorOutput output = next.collector.output;
        next.collector = m_config.collector;
        next.collector.output = output;
        nextTargets = allTargets(next);
        std::set<std::string> names;
        for (const TargetConfig& t : nextTargets) {
            sourceIdsFor(t, m_sources);
            if (!names.insert(t.desc).second) {
                throw ConfigError(t.label() + ": Desc: \"" + t.desc +
                                  "\" is also the name of a running collector client's output");
            }
        }
    } catch (const std::exception& ex) {
        spdlog::error("reload rejected, the running configuration stays: {}", ex.what());
        cc->set_accepted(false);
        cc->set_error(ex.what());
        m_status->publish("config_changed", e);
        return;
    }
    if (!m_options.statusEndpoint.empty())
        next.statusEndpoint = m_options.statusEndpoint;  // as the constructor did
    if (next.instance != m_config.instance || next.ringBytes != m_config.ringBytes ||
        next.ringMode != m_config.ringMode || next.interfaces != m_config.interfaces ||
        next.statusEndpoint != m_config.statusEndpoint) {
        spdlog::warn(
            "reload: Instance, RingSize, RingMode, Interface and StatusEndpoint changes take "
            "effect at the next start");
    }
    next.instance = m_config.instance;
    next.statusEndpoint = m_config.statusEndpoint;
    next.ringBytes = m_config.ringBytes;
    if (!m_options.logDir.empty())
        next.logDir = m_options.logDir;
    std::set<std::string> wanted;
    for (const TargetConfig& t : nextTargets) {
        wanted.insert(t.desc);
        Child* c = findChild(t.desc);
        if (c == nullptr) {
            startTarget(t);
            cc->add_started(t.desc);
            continue;
        }
        c->removeWhenStopped = false;
        if (c->fingerprint == t.fingerprint()) {
            // osmo-pcap-server starts new files on SIGHUP (for log rotation scripts); so do its
            // clients' outputs here. A worker not yet running has no file to complete.
            if (m_config.osmoFormat && !t.collectorClient.empty() && c->proc.pid > 0 &&
                c->state == ChildState::Running) {
                ::kill(c->proc.pid, SIGUSR1);
                cc->add_new_files(t.desc);
            }
            continue;
        }
        cc->add_restarted(t.desc);
        ChildSpec spec = workerSpec(t);
        if (c->proc.pid > 0) {
            c->replacement = spec;
            c->replacementFingerprint = t.fingerprint();
            c->replacementDelivery = deliveryFor(t);
            c->stopRequested = true;
            ::kill(c->proc.pid, SIGTERM);
        } else {  // restarting, failed or stopped: start the new version now
            c->delivery = deliveryFor(t);
            m_ring->addConsumer(t.desc, m_offline, c->delivery);
            c->spec = spec;
            c->fingerprint = t.fingerprint();
            c->policy = RestartPolicy(m_options.limits);
            c->lastError.clear();
            spawn(*c);
        }
    }
    for (auto& c : m_children) {
        if (c->isCapture || wanted.count(c->name) != 0)
            continue;
        cc->add_stopped(c->name);
        c->removeWhenStopped = true;
        c->stopRequested = true;
        c->replacement.reset();
        if (c->proc.pid > 0) {
            ::kill(c->proc.pid, SIGTERM);
        } else {
            c->restartPending = false;
            c->state = ChildState::Stopped;
        }
    }
    // Targets that were not running are removed at once.
    for (auto it = m_children.begin(); it != m_children.end();) {
        if ((*it)->removeWhenStopped && (*it)->proc.pid <= 0) {
            m_ring->releaseConsumer((*it)->name);
            it = m_children.erase(it);
        } else {
            ++it;
        }
    }
    m_config.targets = next.targets;
    m_config.collector.output = next.collector.output;
    cc->set_accepted(true);
    spdlog::info("reloaded {}: {} started, {} restarted, {} stopped, {} starting new files",
                 m_config.file, cc->started_size(), cc->restarted_size(), cc->stopped_size(),
                 cc->new_files_size());
    m_status->publish("config_changed", e);
}

void Supervisor::publishSnapshot() {
    const router::RingSnapshot ring = m_ring->snapshot();
    const auto now = Clock::now();
    if (m_lastRateAt != Clock::time_point{}) {
        double dt = std::chrono::duration<double>(now - m_lastRateAt).count();
        if (dt >= 0.1)
            m_byteRate = 0.7 * m_byteRate + 0.3 * double(ring.writePos - m_lastWritePos) / dt;
    }
    // A snapshot for a subscriber that just joined can come right after the last one: too
    // short an interval says nothing about the rate.
    if (now - m_lastRateAt >= std::chrono::milliseconds(100)) {
        m_lastWritePos = ring.writePos;
        m_lastRateAt = now;
    }

    v1::Snapshot s;
    s.set_instance(m_instance);
    s.set_version(PUSHCAP_VERSION);
    s.set_final(m_finalStatus);
    s.set_unix_time_ns(unixNowNs());
    s.set_uptime_seconds(std::chrono::duration<double>(now - m_started).count());
    std::uint64_t maxLag = 0;
    for (const auto& c : m_children) {
        if (c->isCapture)
            continue;
        v1::TargetStatus* t = s.add_targets();
        t->set_desc(c->name);
        t->set_state(toProto(c->state));
        t->set_pid(c->proc.pid > 0 ? static_cast<std::uint32_t>(c->proc.pid) : 0);
        t->set_restarts(c->policy.restarts());
        t->set_current_file(c->currentFile);
        t->set_last_error(c->lastError);
        t->set_last_upload_unix_ns(c->lastUploadUnixNs);
        t->set_delivery(deliveryName(c->delivery));  // a FAILED target's slot is gone
        for (const router::ConsumerSnapshot& slot : ring.consumers) {
            if (slot.name != c->name)
                continue;
            t->set_delivery(deliveryName(slot.delivery));
            t->set_held_source_seconds(double(slot.heldSourceNs) / 1e9);
            t->set_packets_seen(slot.counters[router::COUNTER_PACKETS_READ]);
            t->set_packets_lost(slot.counters[router::COUNTER_PACKETS_LOST]);
            t->set_bytes_lost(slot.counters[router::COUNTER_BYTES_LOST]);
            t->set_packets_matched(slot.counters[workers::WORKER_PACKETS_MATCHED]);
            t->set_packets_written(slot.counters[workers::WORKER_PACKETS_WRITTEN]);
            t->set_bytes_written(slot.counters[workers::WORKER_BYTES_WRITTEN]);
            t->set_files_completed(slot.counters[workers::WORKER_FILES_COMPLETED]);
            t->set_write_errors(slot.counters[workers::WORKER_WRITE_ERRORS]);
            t->set_uploads_completed(slot.counters[workers::WORKER_UPLOADS_COMPLETED]);
            t->set_upload_failures(slot.counters[workers::WORKER_UPLOAD_FAILURES]);
            const std::uint64_t pending = slot.counters[workers::WORKER_UPLOAD_PENDING];
            t->set_uploads_pending(workers::uploadPendingFiles(pending));
            t->set_upload_bytes_pending(workers::uploadPendingBytes(pending));
            const std::uint64_t lag = ring.writePos - std::min(ring.writePos, slot.readPos);
            t->set_lag_bytes(lag);
            t->set_lag_seconds(m_byteRate > 1 ? double(lag) / m_byteRate : 0.0);
            maxLag = std::max(maxLag, lag);
        }
    }
    v1::CaptureStatus* cap = s.add_captures();
    cap->set_source("capture");
    if (const Child* c = findChild("capture")) {
        cap->set_state(stateName(c->state));
        cap->set_pid(c->proc.pid > 0 ? static_cast<std::uint32_t>(c->proc.pid) : 0);
        cap->set_restarts(c->policy.restarts());
    }
    cap->set_ring_mode(ringModeName(ring.mode));
    cap->set_held_seconds(double(ring.producerWaitNs) / 1e9);
    cap->set_packets(ring.publishedPackets);
    cap->set_bytes(ring.publishedBytes);
    cap->set_kernel_drops(ring.sourceDrops);
    cap->set_kernel_if_drops(ring.sourceIfDrops);
    cap->set_ring_fill(ring.capacity ? std::min(1.0, double(maxLag) / double(ring.capacity)) : 0.0);
    cap->set_input_bytes_total(m_inputTotal);
    cap->set_input_bytes_done(m_inputDone);
    fillCollector(*cap);
    m_status->publish(s);
}

void Supervisor::fillCollector(v1::CaptureStatus& cap) const {
    auto number = [](const std::string& text) { return std::strtoull(text.c_str(), nullptr, 10); };
    auto text = [](const std::string& t) { return t == "-" ? std::string() : t; };
    for (const auto& [name, f] : m_collectorClients) {
        v1::CollectorClient* c = cap.add_clients();
        c->set_name(name);
        c->set_connected(f[2] == "1");
        c->set_peer(text(f[3]));
        c->set_packets(number(f[4]));
        c->set_connections(number(f[5]));
        c->set_last_close(text(f[6]));
    }
    if (m_collectorTotals.size() < 4)
        return;
    cap.set_refused_unknown(number(m_collectorTotals[1]));
    cap.set_refused_tls(number(m_collectorTotals[2]));
    std::stringstream reasons(text(m_collectorTotals[3]));
    for (std::string item; std::getline(reasons, item, ',');) {
        const std::size_t eq = item.find('=');
        if (eq != std::string::npos)
            (*cap.mutable_closed_by_reason())[item.substr(0, eq)] = number(item.substr(eq + 1));
    }
}

void Supervisor::showProgress(bool final) {
    if (!m_options.showProgress || !m_offline)
        return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - m_started).count();
    const double done = double(m_inputDone);
    const double total = double(std::max<std::uint64_t>(m_inputTotal, 1));
    const double rate = elapsed > 0 ? done / elapsed : 0;
    char eta[16] = "--:--";  // no estimate before the first megabyte
    if (done >= 1e6 && rate > 0) {
        const int left = int((total - done) / rate);
        std::snprintf(eta, sizeof eta, "%02d:%02d", left / 60, left % 60);
    }
    std::fprintf(stderr, "\r[pushcapd] %5.1f%%  %s of %s  %s/s  ETA %s  ", 100.0 * done / total,
                 humanBytes(done).c_str(), humanBytes(total).c_str(), humanBytes(rate).c_str(),
                 eta);
    if (final)
        std::fputc('\n', stderr);
    std::fflush(stderr);
}

void Supervisor::serveStatus() {
    // Each new subscriber gets the current snapshot at once; serving again afterwards, because
    // publishing can consume the readiness that poll() would otherwise have reported.
    while (m_status->serve() > 0)
        publishSnapshot();
}

void Supervisor::waitForSubscribers() {
    // ZeroMQ drops what a subscriber still connecting has not seen, and the replay lives only as
    // long as we do: stay until every subscriber says it holds everything (a ReplayRequest past
    // the final snapshot), at most --status-linger. A subscriber started before us joins within
    // its reconnect interval: wait that long from the bind for one to show up.
    const auto bound = Clock::now() + m_options.statusLinger;
    const auto joinBy = std::min(bound, m_statusBoundAt + STATUS_JOIN_GRACE);
    for (;;) {
        serveStatus();
        const auto now = Clock::now();
        const bool caughtUp = m_status->caughtUp() >= m_status->subscriptions();
        if (now >= bound || (now >= joinBy && caughtUp)) {
            if (!caughtUp)
                spdlog::info("status: {} subscription(s) not caught up after --status-linger",
                             m_status->subscriptions() - m_status->caughtUp());
            return;
        }
        std::vector<pollfd> fds;
        for (int fd : m_status->pollFds())
            fds.push_back({fd, POLLIN, 0});
        const auto wake = now < joinBy ? joinBy : bound;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
        ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(ms + 1, 1, 100)));
    }
}

bool Supervisor::allDone() const {
    for (const auto& c : m_children) {
        if (c->proc.pid > 0 || c->restartPending)
            return false;
    }
    return true;
}

int Supervisor::pollTimeoutMs() const {
    auto next = m_nextSnapshot;
    if (m_options.showProgress && m_offline)
        next = std::min(next, m_nextProgress);
    for (const auto& c : m_children) {
        if (c->restartPending)
            next = std::min(next, c->restartAt);
    }
    if (m_stopping)
        next = std::min(next, m_stopDeadline);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

int Supervisor::run() {
    m_started = Clock::now();
    setUp();
    m_nextSnapshot = m_started;
    m_nextProgress = m_started;
    for (;;) {
        std::vector<pollfd> fds{{m_signalFd, POLLIN, 0}};
        std::vector<Child*> owners{nullptr};
        for (auto& c : m_children) {
            if (c->proc.readyFd >= 0) {
                fds.push_back({c->proc.readyFd, POLLIN, 0});
                owners.push_back(c.get());
            }
            if (c->proc.eventsFd >= 0) {
                fds.push_back({c->proc.eventsFd, POLLIN, 0});
                owners.push_back(c.get());
            }
        }
        for (int fd : m_status->pollFds()) {
            fds.push_back({fd, POLLIN, 0});
            owners.push_back(nullptr);
        }
        serveStatus();
        ::poll(fds.data(), fds.size(), pollTimeoutMs());
        // Child pipes first: a child's last events must be read before its exit is handled.
        for (std::size_t i = 1; i < fds.size(); ++i) {
            if (fds[i].revents == 0 || owners[i] == nullptr)
                continue;
            Child* c = owners[i];
            if (fds[i].fd == c->proc.readyFd)
                readReady(*c);
            else if (fds[i].fd == c->proc.eventsFd)
                readEvents(*c);
        }
        if (fds[0].revents != 0)
            handleSignals();

        const auto now = Clock::now();
        for (std::size_t i = 0; i < m_children.size(); ++i) {
            Child& c = *m_children[i];
            if (c.restartPending && now >= c.restartAt && !(m_stopping && c.isCapture)) {
                try {
                    spawn(c);
                } catch (const std::exception& ex) {
                    spdlog::error("{}: cannot restart: {}", c.name, ex.what());
                    c.restartAt = now + std::chrono::seconds(1);
                }
            }
        }
        if (now >= m_nextSnapshot) {
            publishSnapshot();
            m_nextSnapshot = now + std::chrono::milliseconds(m_config.statusIntervalMs);
        }
        if (m_options.showProgress && m_offline && now >= m_nextProgress) {
            showProgress(false);
            m_nextProgress = now + std::chrono::milliseconds(250);
        }
        if (m_stopping && now >= m_stopDeadline && !m_stopForced) {
            m_stopForced = true;
            for (auto& c : m_children) {
                if (c->proc.pid > 0) {
                    spdlog::error("{}: did not stop within {} s; killing it", c->name,
                                  m_options.shutdownTimeout.count() / 1000);
                    m_failures.push_back(c->name + ": did not stop in time");
                    ::kill(c->proc.pid, SIGKILL);
                }
                c->restartPending = false;
            }
        }
        const Child* capture = findChild("capture");
        const bool captureDone =
            capture == nullptr || (capture->proc.pid <= 0 && !capture->restartPending);
        if (captureDone && allDone() && (m_offline || m_stopping))
            break;
    }
    m_finalStatus = true;
    publishSnapshot();
    showProgress(true);
    if (m_offline)
        waitForSubscribers();
    if (!m_failures.empty()) {
        std::string all;
        for (const std::string& f : m_failures)
            all += (all.empty() ? "" : "; ") + f;
        spdlog::error("finished with failures: {}", all);
        return workers::EXIT_RUNTIME_ERROR;
    }
    spdlog::info("{}", m_offline ? "offline push complete" : "stopped cleanly");
    return workers::EXIT_OK;
}

}  // namespace pushcap::supervisor
