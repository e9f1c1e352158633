// --inject: AF_PACKET + sendmmsg, paced per batch so a rate needs one syscall per batch.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "tools/gen_traffic.hpp"

namespace pushcap::tools {
namespace {

std::uint64_t nowNs() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

void sleepUntil(std::uint64_t deadlineNs) {
    timespec ts{static_cast<time_t>(deadlineNs / 1'000'000'000ULL),
                static_cast<long>(deadlineNs % 1'000'000'000ULL)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

struct Socket {
    int fd = -1;
    ~Socket() {
        if (fd >= 0)
            ::close(fd);
    }
};

}  // namespace

InjectResult injectTraffic(const InjectOptions& o) {
    if (o.pps == 0)
        throw std::runtime_error("--pps: must be > 0");
    const unsigned ifindex = ::if_nametoindex(o.interface.c_str());
    if (ifindex == 0)
        throw std::runtime_error("--inject " + o.interface + ": no such interface");
    Socket sock;
    sock.fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (sock.fd < 0) {
        throw std::runtime_error("--inject " + o.interface + ": AF_PACKET socket: " +
                                 std::strerror(errno) + " (needs CAP_NET_RAW)");
    }
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(ifindex);
    addr.sll_protocol = 0;  // send only: receive nothing
    if (::bind(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error("--inject " + o.interface + ": bind: " + std::strerror(errno));
    }
    int sndbuf = 16 << 20;
    ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

    ifreq ifr{};
    std::strncpy(ifr.ifr_name, o.interface.c_str(), IFNAMSIZ - 1);
    std::uint32_t maxFrame = TrafficGenerator::MAX_FRAME;
    if (::ioctl(sock.fd, SIOCGIFMTU, &ifr) == 0)
        maxFrame = static_cast<std::uint32_t>(ifr.ifr_mtu) + 18;

    // About one batch per 100 us at high rates; single frames at low rates keep the spacing.
    const unsigned batch =
        o.batch ? o.batch : static_cast<unsigned>(std::clamp<std::uint64_t>(o.pps / 10000, 1, 256));
    std::vector<std::byte> frames(std::size_t(batch) * TrafficGenerator::MAX_FRAME);
    std::vector<iovec> iov(batch);
    std::vector<mmsghdr> msgs(batch);
    TrafficGenerator gen(o.traffic);

    InjectResult result;
    const std::uint64_t start = nowNs();
    while (result.sent < o.count) {
        const unsigned n =
            static_cast<unsigned>(std::min<std::uint64_t>(batch, o.count - result.sent));
        for (unsigned i = 0; i < n; ++i) {
            std::byte* f = frames.data() + std::size_t(i) * TrafficGenerator::MAX_FRAME;
            std::uint32_t len = gen.next(f);
            if (len > maxFrame) {
                throw std::runtime_error("--inject " + o.interface + ": frame of " +
                                         std::to_string(len) +
                                         " B exceeds the MTU; use a smaller --size");
            }
            iov[i] = {f, len};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const std::uint64_t due =
            start +
            static_cast<std::uint64_t>((unsigned __int128)result.sent * 1'000'000'000ULL / o.pps);
        if (due > nowNs())
            sleepUntil(due);
        unsigned done = 0;
        while (done < n) {
            const int sent = ::sendmmsg(sock.fd, msgs.data() + done, n - done, 0);
            if (sent < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == ENOBUFS || errno == EAGAIN) {
                    ++result.retries;
                    sleepUntil(nowNs() + 50'000);
                    continue;
                }
                throw std::runtime_error("--inject " + o.interface +
                                         ": sendmmsg: " + std::strerror(errno));
            }
            done += static_cast<unsigned>(sent);
        }
        result.sent += n;
    }
    result.seconds = double(nowNs() - start) / 1e9;
    return result;
}

}  // namespace pushcap::tools
