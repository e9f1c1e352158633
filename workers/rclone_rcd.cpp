#include "workers/rclone_rcd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace pushcap::workers {
namespace {

using namespace std::chrono_literals;

// Far beyond any transfer: Go's server would otherwise cut a copy that outlasts its default
// 1 h request deadlines (the answer is written when the copy ends).
const std::vector<std::string> RCD_ARGS = {
    "rcd", "--rc-addr", "127.0.0.1:0", "--rc-server-read-timeout", "87600h",
    "--rc-server-write-timeout", "87600h",
    // NOTICE, not the children's ERROR: the port chosen by the kernel is in a NOTICE line.
    "--log-level", "NOTICE"};
constexpr auto START_TIMEOUT = 30s;
constexpr auto STOP_TIMEOUT = 3s;
constexpr std::size_t MAX_ANSWER = 16u << 20;

std::string trimmed(const std::string& s) {
    const std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string lowered(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string randomHex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    std::size_t got = 0;
    while (got < bytes) {
        const ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
        got += static_cast<std::size_t>(n);
    }
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (const char c : raw) {
        hex += digits[static_cast<unsigned char>(c) >> 4];
        hex += digits[static_cast<unsigned char>(c) & 15];
    }
    return hex;
}

std::string base64(const std::string& in) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                           static_cast<unsigned char>(in[i + 1]) << 8 |
                           static_cast<unsigned char>(in[i + 2]);
        out += {table[v >> 18], table[v >> 12 & 63], table[v >> 6 & 63], table[v & 63]};
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += {table[v >> 18], table[v >> 12 & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const unsigned v =
            static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
        out += {table[v >> 18], table[v >> 12 & 63], table[v >> 6 & 63], '='};
    }
    return out;
}

// rclone's log lines start with "YYYY/MM/DD HH:MM:SS "; our own log has its own time.
std::string withoutTimestamp(const std::string& line) {
    if (line.size() > 20 && line[4] == '/' && line[7] == '/' && line[10] == ' ' &&
        line[13] == ':' && line[16] == ':' && line[19] == ' ') {
        return line.substr(20);
    }
    return line;
}

// "... Serving remote control on http://127.0.0.1:PORT/": the port, 0 if not that line.
int servingPort(const std::string& line) {
    const std::size_t at = line.find("remote control on");
    if (at == std::string::npos)
        return 0;
    const std::string host = "127.0.0.1:";
    const std::size_t h = line.find(host, at);
    if (h == std::string::npos)
        return 0;
    const long port = std::strtol(line.c_str() + h + host.size(), nullptr, 10);
    return port > 0 && port < 65536 ? static_cast<int>(port) : 0;
}

std::string describeExit(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status));
    return "ended";
}

std::optional<std::string> dechunk(const std::string& in) {
    std::string out;
    std::size_t at = 0;
    for (;;) {
        const std::size_t eol = in.find("\r\n", at);
        if (eol == std::string::npos)
            return std::nullopt;
        const unsigned long size = std::strtoul(in.c_str() + at, nullptr, 16);
        at = eol + 2;
        if (size == 0)
            return out;
        if (at + size + 2 > in.size())
            return std::nullopt;
        out.append(in, at, size);
        at += size + 2;
    }
}

void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// The JSON string starting at json[at] == '"': its text, and `end` just past its closing quote.
std::optional<std::string> parseString(const std::string& json, std::size_t at, std::size_t& end) {
    std::string out;
    std::size_t i = at + 1;
    auto hex4 = [&](std::size_t p) -> std::optional<std::uint32_t> {
        if (p + 4 > json.size())
            return std::nullopt;
        std::uint32_t v = 0;
        for (std::size_t k = p; k < p + 4; ++k) {
            const char c = json[k];
            if (!std::isxdigit(static_cast<unsigned char>(c)))
                return std::nullopt;
            v = v * 16 + static_cast<std::uint32_t>(std::isdigit(static_cast<unsigned char>(c))
                                                        ? c - '0'
                                                        : std::tolower(c) - 'a' + 10);
        }
        return v;
    };
    while (i < json.size()) {
        const char c = json[i];
        if (c == '"') {
            end = i + 1;
            return out;
        }
        if (c != '\\') {
            out += c;
            ++i;
            continue;
        }
        if (i + 1 >= json.size())
            return std::nullopt;
        const char e = json[i + 1];
        i += 2;
        switch (e) {
            case 'n':
                out += '\n';
                break;
            case 't':
                out += '\t';
                break;
            case 'r':
                out += '\r';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'u': {
                std::optional<std::uint32_t> cp = hex4(i);
                if (!cp)
                    return std::nullopt;
                i += 4;
                if (*cp >= 0xd800 && *cp < 0xdc00 && i + 6 <= json.size() && json[i] == '\\' &&
                    json[i + 1] == 'u') {
                    if (const std::optional<std::uint32_t> low = hex4(i + 2);
                        low && *low >= 0xdc00 && *low < 0xe000) {
                        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (*low - 0xdc00);
                        i += 6;
                    }
                }
                appendUtf8(out, *cp);
                break;
            }
            default:  // '"', '\\', '/'
                out += e;
        }
    }
    return std::nullopt;
}

std::size_t skipSpace(const std::string& json, std::size_t i) {
    while (i < json.size() && std::isspace(static_cast<unsigned char>(json[i])))
        ++i;
    return i;
}

// Where the value of the first member named `key` at or after `from` starts; npos if none.
// Walks string tokens, so a key-like text inside a string value never matches.
std::size_t findValue(const std::string& json, const std::string& key, std::size_t from = 0) {
    std::size_t i = from;
    while (i < json.size()) {
        if (json[i] != '"') {
            ++i;
            continue;
        }
        std::size_t end = 0;
        const std::optional<std::string> text = parseString(json, i, end);
        if (!text)
            return std::string::npos;
        const std::size_t colon = skipSpace(json, end);
        if (colon < json.size() && json[colon] == ':') {
            if (*text == key)
                return skipSpace(json, colon + 1);
            i = colon + 1;
        } else {
            i = end;
        }
    }
    return std::string::npos;
}

}  // namespace

std::string jsonQuote(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::optional<std::string> jsonStringField(const std::string& json, const std::string& key) {
    const std::size_t at = findValue(json, key);
    if (at >= json.size() || json[at] != '"')
        return std::nullopt;
    std::size_t end = 0;
    return parseString(json, at, end);
}

std::optional<std::int64_t> statSize(const std::string& json) {
    const std::size_t item = findValue(json, "item");
    if (item >= json.size())
        return std::nullopt;
    if (json.compare(item, 4, "null") == 0)
        return -1;
    if (json[item] != '{')
        return std::nullopt;
    const std::size_t size = findValue(json, "Size", item);
    if (size >= json.size())
        return std::nullopt;
    char* end = nullptr;
    const long long v = std::strtoll(json.c_str() + size, &end, 10);
    if (end == json.c_str() + size)
        return std::nullopt;
    return v;
}

std::string RcReply::summary() const {
    if (status == 0)
        return error;
    return "HTTP " + std::to_string(status) + (error.empty() ? "" : ": " + error);
}

RcloneDaemon::RcloneDaemon(RcloneSettings settings)
    : m_runner(std::move(settings)), m_password(randomHex(16)) {
    m_authorization = "Basic " + base64("pushcap:" + m_password);
}

RcloneDaemon::~RcloneDaemon() {
    stop();
}

pid_t RcloneDaemon::pid() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_state == State::Running ? m_pid : 0;
}

bool RcloneDaemon::ensureRunning(std::unique_lock<std::mutex>& lock, std::string& error) {
    for (;;) {
        if (m_stopping) {
            error = "rclone rcd: stopping";
            return false;
        }
        if (m_state == State::Running)
            return true;
        if (m_state == State::Starting) {
            m_changed.wait(lock);
            continue;
        }
        // Down: the drainer of the previous daemon has reaped it and is finishing.
        if (m_drainer.joinable())
            m_drainer.join();
        int output = -1;
        std::string why;
        // The server is ours alone: RCLONE_RC_* of the environment (a TLS certificate, a base
        // URL, other credentials; Go takes the first of duplicate variables) would break the
        // calls or their authentication.
        const pid_t pid =
            m_runner.start(RCD_ARGS, "RCLONE_RC_",
                           {"RCLONE_RC_USER=pushcap", "RCLONE_RC_PASS=" + m_password}, output, why);
        if (pid < 0) {
            error = "rclone rcd: " + why;
            return false;
        }
        m_pid = pid;
        m_port = 0;
        m_lastLine.clear();
        m_state = State::Starting;
        m_drainer = std::thread([this, output, pid] { drain(output, pid); });
        const auto deadline = std::chrono::steady_clock::now() + START_TIMEOUT;
        while (m_state == State::Starting && m_pid == pid && !m_stopping) {
            if (m_changed.wait_until(lock, deadline) == std::cv_status::timeout &&
                m_state == State::Starting && m_pid == pid) {
                // Still unreaped (the drainer reaps under this lock): the pid is ours to kill.
                ::kill(pid, SIGKILL);
                error = "rclone rcd did not start within " + std::to_string(START_TIMEOUT.count()) +
                        " s" + (m_lastLine.empty() ? "" : ": " + m_lastLine);
                return false;
            }
        }
        if (m_state == State::Running)
            return true;
        if (m_stopping) {
            error = "rclone rcd: stopping";
            return false;
        }
        error = "rclone rcd " + m_exit;
        return false;
    }
}

void RcloneDaemon::drain(int fd, pid_t pid) {
    std::string partial;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        partial.append(buffer, static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
            const std::string line = withoutTimestamp(trimmed(partial.substr(0, nl)));
            partial.erase(0, nl + 1);
            if (line.empty())
                continue;
            std::lock_guard<std::mutex> lock(m_mutex);
            // Its notices ("Config file ... not found - using defaults") and the errors of calls
            // (answered to the caller already) would only hide the line that explains a death.
            if (line.rfind("NOTICE", 0) != 0 && line.rfind("INFO", 0) != 0 &&
                line.rfind("DEBUG", 0) != 0 && line.find(": rc: \"") == std::string::npos) {
                m_lastLine = line.substr(0, 1000);
            }
            if (m_state == State::Starting && m_pid == pid) {
                if (const int port = servingPort(line); port != 0) {
                    m_port = port;
                    m_state = State::Running;
                    m_changed.notify_all();
                }
            }
        }
        if (partial.size() > 64 * 1024)
            partial.clear();  // no newline in sight: not a log line worth keeping
    }
    ::close(fd);
    // Wait for the exit without reaping, so the pid cannot be reused while stop() or a timed-out
    // start may still signal it under the lock; reap under the lock.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_exit = describeExit(status) + (m_lastLine.empty() ? "" : ": " + m_lastLine);
    m_pid = 0;
    m_port = 0;
    m_state = State::Down;
    m_changed.notify_all();
}

RcReply RcloneDaemon::call(const std::string& method, const std::string& params) {
    int fd = -1, port = 0;
    pid_t daemon = 0;
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        RcReply failed;
        if (!ensureRunning(lock, failed.error))
            return failed;
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            failed.error = std::string("socket: ") + std::strerror(errno);
            return failed;
        }
        m_calls.insert(fd);
        port = m_port;
        daemon = m_pid;
    }
    RcReply reply = post(fd, port, method, params);
    std::unique_lock<std::mutex> lock(m_mutex);
    // Closed under the lock: stop() shuts down only sockets still registered.
    m_calls.erase(fd);
    ::close(fd);
    if (reply.status == 0 && !m_stopping) {
        // No answer usually means the daemon died: wait briefly for its drainer to say how, so
        // the error names the cause; the next call starts a new daemon.
        const bool gone = m_changed.wait_for(
            lock, 2s, [&] { return m_stopping || m_pid != daemon || m_state != State::Running; });
        if (gone && !m_stopping)
            reply.error += "; rclone rcd " + m_exit;
    }
    return reply;
}

RcReply RcloneDaemon::post(int fd, int port, const std::string& method, const std::string& params) {
    RcReply reply;
    const std::string where = "rclone rcd (127.0.0.1:" + std::to_string(port) + ")";
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        reply.error = where + ": connect: " + std::strerror(errno);
        return reply;
    }
    const std::string request =
        "POST /" + method +
        " HTTP/1.1\r\n"
        "Host: 127.0.0.1:" +
        std::to_string(port) + "\r\nAuthorization: " + m_authorization +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(params.size()) +
        "\r\nConnection: close\r\n\r\n" + params;
    for (std::size_t sent = 0; sent < request.size();) {
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            reply.error = where + ": send: " + std::strerror(errno);
            return reply;
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buffer[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            reply.error = where + ": receive: " + std::strerror(errno);
            return reply;
        }
        if (n == 0)
            break;
        if (answer.size() + static_cast<std::size_t>(n) > MAX_ANSWER) {
            reply.error = where + ": answer larger than " + std::to_string(MAX_ANSWER) + " bytes";
            return reply;
        }
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    const std::size_t headerEnd = answer.find("\r\n\r\n");
    if (answer.compare(0, 7, "HTTP/1.") != 0 || answer.size() < 12 ||
        headerEnd == std::string::npos) {
        reply.error = where + (answer.empty() ? ": closed the connection without an answer"
                                              : ": incomplete answer");
        return reply;
    }
    const std::string headers = lowered(answer.substr(0, headerEnd + 2));
    std::string body = answer.substr(headerEnd + 4);
    if (headers.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
        std::optional<std::string> whole = dechunk(body);
        if (!whole) {
            reply.error = where + ": incomplete answer";
            return reply;
        }
        body = std::move(*whole);
    } else if (const std::size_t cl = headers.find("\r\ncontent-length:");
               cl != std::string::npos) {
        const std::size_t length = std::strtoull(headers.c_str() + cl + 17, nullptr, 10);
        if (body.size() < length) {
            reply.error = where + ": incomplete answer";
            return reply;
        }
        body.resize(length);
    }
    reply.status = std::atoi(answer.c_str() + 9);
    if (reply.status == 0)
        reply.error = where + ": malformed status line";
    else if (reply.status != 200)
        reply.error = jsonStringField(body, "error").value_or(trimmed(body.substr(0, 300)));
    reply.body = std::move(body);
    return reply;
}

void RcloneDaemon::stop() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_stopping = true;
    for (const int fd : m_calls)
        ::shutdown(fd, SHUT_RDWR);
    m_changed.notify_all();
    // SIGTERM first: rclone then aborts what it can (e.g. S3 multipart uploads) on its way out.
    if (m_pid > 0)
        ::kill(m_pid, SIGTERM);
    if (!m_changed.wait_for(lock, STOP_TIMEOUT, [&] { return m_state == State::Down; })) {
        if (m_pid > 0)
            ::kill(m_pid, SIGKILL);
        m_changed.wait(lock, [&] { return m_state == State::Down; });
    }
    lock.unlock();
    if (m_drainer.joinable())
        m_drainer.join();
}

}  // namespace pushcap::workers
