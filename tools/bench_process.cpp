#include "tools/bench_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>

namespace pushcap::tools {

double secondsSince(BenchClock::time_point t) {
    return std::chrono::duration<double>(BenchClock::now() - t).count();
}

std::string selfDir() {
    return std::filesystem::canonical("/proc/self/exe").parent_path().string();
}

pid_t spawnProgram(const std::vector<std::string>& argv, const std::string& out, int readyFd,
                   const std::string& err) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            ::dup2(fd, 1);
        const int errFd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (errFd >= 0)
            ::dup2(errFd, 2);
        if (readyFd >= 0)
            ::dup2(readyFd, 3);
        ::execvp(args[0], args.data());
        _exit(127);
    }
    return pid;
}

int waitProgram(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int runProgram(const std::vector<std::string>& argv, const std::string& out) {
    return waitProgram(spawnProgram(argv, out));
}

}  // namespace pushcap::tools
