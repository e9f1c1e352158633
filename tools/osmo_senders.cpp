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
namespace {

constexpr std::size_t SLICE_BYTES = 64u << 10;

}  // namespace

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
        if (s.slices.empty() ? s.body.size() >= SLICE_BYTES
                             : s.body.size() - s.slices.back().first >= SLICE_BYTES) {
            s.slices.emplace_back(s.body.size(), 0);
        }
    }
    s.slices.emplace_back(s.body.size(), 0);
    // Count packets per slice by walking the messages again.
    std::size_t at = 0, slice = 0;
    while (at < s.body.size()) {
        const std::size_t len =
            (std::size_t(std::uint8_t(s.body[at + 2])) << 8) | std::uint8_t(s.body[at + 3]);
        at += 4 + len;
        while (at > s.slices[slice].first)
            ++slice;
        ++s.slices[slice].second;
    }
    return s;
}

SendResult sendFor(int index, std::uint16_t port, const Stream& s, double seconds,
                   double bytesPerSecond) {
    SendResult r;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    bool ok = true;
    while (ok && secondsSince(start) < seconds) {
        std::size_t from = 0;
        for (const auto& [end, packets] : s.slices) {
            if (bytesPerSecond > 0) {
                const double due = double(r.bytes) / bytesPerSecond - secondsSince(start);
                if (due > 0)
                    std::this_thread::sleep_for(std::chrono::duration<double>(due));
            }
            if (!(ok = sendAll(s.body.data() + from, end - from)))
                break;
            r.bytes += end - from;
            r.packets += packets;
            from = end;
            if (secondsSince(start) >= seconds)
                break;
        }
    }
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
                results[std::size_t(i)] = sendFor(i, port, s, seconds, each);
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
