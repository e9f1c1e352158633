#include "tools/osmo_senders.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include "tools/bench_process.hpp"

namespace pushcap::tools {

Slices sliceBody(const std::vector<char>& body, std::size_t bytes) {
    Slices out;
    std::size_t from = 0;
    std::uint64_t packets = 0;
    for (std::size_t at = 0; at < body.size();) {
        const std::size_t len =
            (std::size_t(std::uint8_t(body[at + 2])) << 8) | std::uint8_t(body[at + 3]);
        at += 4 + len;
        ++packets;
        if (at - from >= bytes || at >= body.size()) {
            out.emplace_back(at, packets);
            from = at;
            packets = 0;
        }
    }
    return out;
}

Stream encodeStream() {
    Stream s;
    auto message = [](std::vector<char>& out, std::uint8_t type, const void* p, std::size_t n) {
        out.push_back(char(type));
        out.push_back(0);
        out.push_back(char((n >> 8) & 0xff));
        out.push_back(char(n & 0xff));
        const char* c = static_cast<const char*>(p);
        out.insert(out.end(), c, c + n);
    };
    const std::uint32_t hdr[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 9000, 1};
    message(s.header, 0, hdr, sizeof hdr);
    const std::uint32_t sizes[] = {64, 576, 64, 64, 1500, 64, 576, 64, 576, 64, 576, 64};
    std::vector<char> record;
    for (int i = 0; s.body.size() < (4u << 20); ++i) {
        const std::uint32_t len = sizes[i % 12];
        record.assign(16 + len, char(i));
        const std::uint32_t rh[4] = {1700000000u + std::uint32_t(i / 1000),
                                     std::uint32_t(i % 1000) * 1000, len, len};
        std::memcpy(record.data(), rh, sizeof rh);
        message(s.body, 1, record.data(), record.size());
        ++s.packetsPerBody;
    }
    s.slices = sliceBody(s.body, DEFAULT_SLICE_BYTES);
    return s;
}

SendResult sendFor(int index, std::uint16_t port, const Stream& s, double seconds,
                   const SendOptions& o) {
    SendResult r;
    const Slices own =
        o.sliceBytes == DEFAULT_SLICE_BYTES ? Slices{} : sliceBody(s.body, o.sliceBytes);
    const Slices& slices = own.empty() ? s.slices : own;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    // Before connect, so the window scale the connection starts with matches the buffer.
    if (o.sendBufferBytes > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.sendBufferBytes, sizeof o.sendBufferBytes);
    socklen_t optLen = sizeof r.sendBufferBytes;
    ::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &r.sendBufferBytes, &optLen);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    self.sin_addr.s_addr = htonl(0x7f000001u + std::uint32_t(index));
    // The source address is the client's identity to a collector: sending from another one
    // would measure a rejected connection.
    if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error("sender cannot bind 127.0.0." + std::to_string(1 + index) + ": " +
                                 std::strerror(error));
    }
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(port);
    peer.sin_addr.s_addr = htonl(0x7f000001u);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) {
        ::close(fd);
        throw std::runtime_error("sender cannot connect: " + std::string(std::strerror(errno)));
    }
    auto sendAll = [&](const char* data, std::size_t size) {
        std::size_t off = 0;
        while (off < size) {
            const ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            off += std::size_t(n);
        }
        return true;
    };
    sendAll(s.header.data(), s.header.size());
    const auto start = BenchClock::now();
    const bool paced = o.bytesPerSecond > 0;
    if (paced && o.recordLateness)
        r.lateness.reserve(std::size_t(seconds * o.bytesPerSecond / double(o.sliceBytes)) + 16);
    bool ok = true;
    while (ok && secondsSince(start) < seconds) {
        std::size_t from = 0;
        for (const auto& [end, packets] : slices) {
            // The schedule, not the last send: a slice that was late does not push the later
            // ones back, so the sender catches up and its average rate is the one asked for.
            BenchClock::time_point due{};
            if (paced) {
                due =
                    start + std::chrono::duration_cast<BenchClock::duration>(
                                std::chrono::duration<double>(double(r.bytes) / o.bytesPerSecond));
                std::this_thread::sleep_until(due);
            }
            if (!(ok = sendAll(s.body.data() + from, end - from)))
                break;
            if (paced && o.recordLateness)
                r.lateness.push_back(
                    std::chrono::duration<double>(BenchClock::now() - due).count());
            r.bytes += end - from;
            r.packets += packets;
            from = end;
            if (secondsSince(start) >= seconds)
                break;
        }
    }
    r.seconds = secondsSince(start);
    ::close(fd);
    return r;
}

std::vector<SendResult> runSendersEach(int n, std::uint16_t port, const Stream& s, double seconds,
                                       double gbps) {
    std::vector<SendResult> results(static_cast<std::size_t>(n));
    // A sender that fails throws here, after every thread has ended (not std::terminate).
    std::vector<std::exception_ptr> failures(static_cast<std::size_t>(n));
    std::vector<std::thread> threads;
    const double each = gbps * 1e9 / 8 / n;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            try {
                results[std::size_t(i)] = sendFor(i, port, s, seconds, {.bytesPerSecond = each});
            } catch (...) {
                failures[std::size_t(i)] = std::current_exception();
            }
        });
    }
    for (auto& t : threads)
        t.join();
    for (const std::exception_ptr& f : failures) {
        if (f)
            std::rethrow_exception(f);
    }
    return results;
}

SendResult runSenders(int n, std::uint16_t port, const Stream& s, double seconds, double gbps) {
    SendResult total;
    for (const SendResult& r : runSendersEach(n, port, s, seconds, gbps)) {
        total.bytes += r.bytes;
        total.packets += r.packets;
    }
    return total;
}

}  // namespace pushcap::tools
