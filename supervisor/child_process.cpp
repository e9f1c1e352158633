#include "supervisor/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace pushcap::supervisor {
namespace {

void closePair(int fds[2]) {
    ::close(fds[0]);
    ::close(fds[1]);
}

// Runs in the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void execChild(const ChildSpec& spec, char** argv, pid_t parent, uid_t uid, gid_t gid,
                            bool drop) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent)
        _exit(70);  // the supervisor died before prctl took effect
    // The supervisor blocks these for its signalfd; a child must start with them unblocked.
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    // SIGHUP is pushcapd's reload, never a child's end: `pkill -HUP pushcap` matches the children
    // too, and the kernel hangs up a whole process group (pushcapd's, under systemd an orphaned
    // one) when a stopped child is in it. A child that died of it would restart for nothing.
    ::signal(SIGHUP, SIG_IGN);
    if (drop) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
            const char msg[] = "pushcapd: child cannot drop privileges\n";
            ssize_t ignored = ::write(2, msg, sizeof msg - 1);
            (void)ignored;
            _exit(70);
        }
    }
    ::execv(spec.program.c_str(), argv);
    const char msg[] = "pushcapd: cannot execute child program\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

}  // namespace

SpawnedChild spawnChild(const ChildSpec& spec) {
    int ready[2], events[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    if (::pipe2(events, O_CLOEXEC) != 0) {
        closePair(ready);
        throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    }
    uid_t uid = 0;
    gid_t gid = 0;
    const bool drop = !spec.user.empty() && ::geteuid() == 0;
    if (drop) {
        const passwd* pw = ::getpwnam(spec.user.c_str());
        if (pw == nullptr) {
            closePair(ready);
            closePair(events);
            throw std::runtime_error("user '" + spec.user + "' does not exist");
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    // The child gets the write ends under fixed numbers (3 and 4), so argv can name them before
    // fork and the child does nothing but dup2.
    std::vector<std::string> args = spec.args;
    args.push_back("--ready-fd");
    args.push_back("3");
    args.push_back("--events-fd");
    args.push_back("4");
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(spec.program.c_str()));
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        closePair(ready);
        closePair(events);
        throw std::runtime_error("fork for " + spec.program + ": " + std::strerror(errno));
    }
    if (pid == 0) {
        // dup2 clears O_CLOEXEC on the new descriptors, so exactly these two survive exec.
        int readyW = ::fcntl(ready[1], F_DUPFD_CLOEXEC, 10);
        int eventsW = ::fcntl(events[1], F_DUPFD_CLOEXEC, 10);
        if (readyW < 0 || eventsW < 0 || ::dup2(readyW, 3) != 3 || ::dup2(eventsW, 4) != 4)
            _exit(71);
        execChild(spec, argv.data(), parent, uid, gid, drop);
    }
    ::close(ready[1]);
    ::close(events[1]);
    ::fcntl(events[0], F_SETFL, ::fcntl(events[0], F_GETFL) | O_NONBLOCK);
    ::fcntl(ready[0], F_SETFL, ::fcntl(ready[0], F_GETFL) | O_NONBLOCK);
    return SpawnedChild{pid, ready[0], events[0]};
}

std::string siblingProgram(const std::string& name) {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        std::filesystem::path candidate = self.parent_path() / name;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate.string();
    }
    if (const char* path = std::getenv("PATH")) {
        std::string p = path;
        std::size_t start = 0;
        while (start <= p.size()) {
            std::size_t end = p.find(':', start);
            if (end == std::string::npos)
                end = p.size();
            std::filesystem::path candidate =
                std::filesystem::path(p.substr(start, end - start)) / name;
            if (::access(candidate.c_str(), X_OK) == 0)
                return candidate.string();
            start = end + 1;
        }
    }
    throw std::runtime_error("cannot find program '" + name + "' next to pushcapd or on PATH");
}

}  // namespace pushcap::supervisor
