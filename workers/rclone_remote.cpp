#include "workers/rclone_remote.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "workers/config_error.hpp"

extern char** environ;

namespace pushcap::workers {
namespace {

// Flags for every call: fail fast and let the uploader's backoff decide when to try again.
const std::vector<std::string> COMMON_FLAGS = {
    "--retries",           "1",   "--low-level-retries", "2",     "--contimeout", "5s",
    "--timeout",           "60s", "--log-level",         "ERROR", "--stats",      "0",
    "--use-json-log=false"};

std::string trimmed(const std::string& s) {
    const std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return "";
    const std::size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

}  // namespace

RemotePath splitRemotePath(const std::string& path) {
    // The remote ends at the last ':' before the first '/', so on-the-fly remotes
    // (":s3,provider=Minio:bucket/x") split right too.
    const std::size_t firstSlash = path.find('/');
    const std::size_t colon =
        path.rfind(':', firstSlash == std::string::npos ? path.npos : firstSlash);
    if (colon == std::string::npos || colon == 0) {
        throw ConfigError("Path \"" + path +
                          "\": an RCLONE Path is \"remote:bucket/dir/prefix\" (no remote name)");
    }
    RemotePath r;
    r.remoteName = path[0] == ':' ? "" : path.substr(0, path.find(':'));
    const std::string rest = path.substr(colon + 1);
    const std::size_t slash = rest.rfind('/');
    if (slash == std::string::npos) {
        r.directory = path.substr(0, colon + 1);
        r.prefix = rest;
    } else {
        r.directory = path.substr(0, colon + 1) + rest.substr(0, slash);
        r.prefix = rest.substr(slash + 1);
    }
    return r;
}

std::string remoteJoin(const std::string& directory, const std::string& name) {
    if (directory.empty() || directory.back() == ':' || directory.back() == '/')
        return directory + name;
    return directory + "/" + name;
}

std::string RcloneResult::summary() const {
    std::string last = err;
    const std::size_t nl = last.rfind('\n');
    if (nl != std::string::npos)
        last = last.substr(nl + 1);
    return "exit " + std::to_string(exitCode) + (last.empty() ? "" : ": " + last);
}

// The program's path: as given if it has a '/', else the first executable on PATH ("" if none).
static std::string resolveProgram(const std::string& program) {
    if (program.find('/') != std::string::npos)
        return ::access(program.c_str(), X_OK) == 0 ? program : "";
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return "";
}

RcloneRunner::RcloneRunner(RcloneSettings settings)
    : m_settings(std::move(settings)), m_program(resolveProgram(m_settings.program)) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (std::strncmp(*e, "AWS_CA_BUNDLE=", 14) != 0)
            m_environment.emplace_back(*e);
    }
}

namespace {

// fork + exec rather than posix_spawn: the child asks for SIGKILL when the forking thread dies
// (PR_SET_PDEATHSIG), so an rclone of a SIGKILLed worker cannot finish an upload behind the back
// of its restarted successor. Only async-signal-safe calls between fork and exec.
pid_t forkExec(std::vector<std::string>& argv, std::vector<std::string>& env, int outFd,
               int errFd) {
    std::vector<char*> cargv;
    for (std::string& a : argv)
        cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (std::string& e : env)
        cenv.push_back(e.data());
    cenv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid != 0)
        return pid;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
        ::_exit(127);
    const int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull >= 0)
        ::dup2(devNull, 0);
    ::dup2(outFd, 1);
    ::dup2(errFd, 2);
    // A long-lived rclone (rcd) must not keep the worker's other descriptors (sockets, the
    // ring, pipes of pushcapd) open after the worker closed them.
    ::close_range(3, ~0U, 0);
    // The worker ignores SIGPIPE and may block signals; an ignored signal would stay ignored
    // across exec.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(cargv[0], cargv.data(), cenv.data());
    static const char message[] = "cannot execute rclone\n";
    [[maybe_unused]] const ssize_t n = ::write(2, message, sizeof message - 1);
    ::_exit(127);
}

}  // namespace

std::vector<std::string> RcloneRunner::argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {m_program};
    if (!m_settings.configFile.empty())
        argv.insert(argv.end(), {"--config", m_settings.configFile});
    argv.insert(argv.end(), COMMON_FLAGS.begin(), COMMON_FLAGS.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::string RcloneRunner::notFound() const {
    return "cannot run " + m_settings.program + ": not found" +
           (m_settings.program.find('/') == std::string::npos ? " on PATH" : "");
}

pid_t RcloneRunner::start(const std::vector<std::string>& args, const std::string& dropPrefix,
                          const std::vector<std::string>& extraEnv, int& output,
                          std::string& error) const {
    output = -1;
    if (m_program.empty()) {
        error = notFound();
        return -1;
    }
    std::vector<std::string> all = argv(args);
    std::vector<std::string> env;
    for (const std::string& e : m_environment) {
        if (dropPrefix.empty() || e.rfind(dropPrefix, 0) != 0)
            env.push_back(e);
    }
    env.insert(env.end(), extraEnv.begin(), extraEnv.end());
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        return -1;
    }
    const pid_t pid = forkExec(all, env, pipeFds[1], pipeFds[1]);
    const int spawnError = errno;
    ::close(pipeFds[1]);
    if (pid < 0) {
        ::close(pipeFds[0]);
        error = "cannot run " + m_settings.program + ": " + std::strerror(spawnError);
        return -1;
    }
    output = pipeFds[0];
    return pid;
}

RcloneResult RcloneRunner::run(const std::vector<std::string>& args) const {
    RcloneResult result;
    if (m_program.empty()) {
        result.err = notFound();
        return result;
    }
    std::vector<std::string> all = argv(args);
    std::vector<std::string> env = m_environment;

    int outPipe[2], errPipe[2];
    if (::pipe2(outPipe, O_CLOEXEC) != 0) {
        result.err = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    if (::pipe2(errPipe, O_CLOEXEC) != 0) {
        result.err = std::string("pipe: ") + std::strerror(errno);
        ::close(outPipe[0]);
        ::close(outPipe[1]);
        return result;
    }
    const pid_t pid = forkExec(all, env, outPipe[1], errPipe[1]);
    const int spawnError = pid < 0 ? errno : 0;
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (pid < 0) {
        ::close(outPipe[0]);
        ::close(errPipe[0]);
        result.err = "cannot run " + m_settings.program + ": " + std::strerror(spawnError);
        return result;
    }

    pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open = 2;
    char buffer[8192];
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                // Bounded: a chatty rclone must not grow the worker without limit.
                if (sinks[i]->size() < (16u << 20))
                    sinks[i]->append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    for (const pollfd& p : fds) {
        if (p.fd >= 0)
            ::close(p.fd);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (WIFSIGNALED(status))
        result.err += "\nkilled by signal " + std::to_string(WTERMSIG(status));
    result.err = trimmed(result.err);
    return result;
}

std::string rcloneProblem(const RcloneSettings& settings, const std::string& path) {
    RemotePath remote;
    try {
        remote = splitRemotePath(path);
    } catch (const ConfigError& e) {
        return e.what();
    }
    const RcloneRunner runner(settings);
    const RcloneResult version = runner.run({"version"});
    if (version.exitCode != 0) {
        return "rclone (" + settings.program +
               ") cannot be run: " + (version.err.empty() ? version.summary() : version.err) +
               " (install the rclone package or set RclonePath)";
    }
    if (remote.remoteName.empty())
        return "";  // an on-the-fly remote: nothing to look up
    const RcloneResult list = runner.run({"listremotes"});
    if (list.exitCode != 0)
        return "rclone listremotes failed: " + list.summary();
    std::istringstream lines(list.out);
    for (std::string line; std::getline(lines, line);) {
        if (trimmed(line) == remote.remoteName + ":")
            return "";
    }
    return "rclone does not know the remote \"" + remote.remoteName + "\"" +
           (settings.configFile.empty() ? "" : " (config " + settings.configFile + ")") +
           "; known: " + (trimmed(list.out).empty() ? "none" : trimmed(list.out));
}

}  // namespace pushcap::workers
