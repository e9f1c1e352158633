// What a child (pushcap-capture, pushcap-worker) tells pushcapd on the pipe it got as
// --events-fd N: one line per event, tab-separated, so it is readable in a terminal too.
//
//   file_opened     PATH
//   file_completed  PATH BYTES PACKETS FIRST_PACKET_UNIX_NS LAST_PACKET_UNIX_NS
//   error           MESSAGE
//   progress        DONE_BYTES TOTAL_BYTES        (offline push: input bytes read)
//   uploaded        LOCAL_PATH REMOTE_NAME BYTES  (RCLONE target: a file is on its remote)
//   client          NAME CONNECTED(0|1) PEER PACKETS CONNECTIONS LAST_CLOSE   (collector, 1/s)
//   collector       REFUSED_UNKNOWN REFUSED_TLS CLOSED  (CLOSED: "reason=N,reason=N" or "-")
//
// The child's end is non-blocking and an event that does not fit is dropped: status must never
// stall the data path. Never used per packet.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pushcap::proto {

class ChildEventWriter {
  public:
    ChildEventWriter() = default;
    explicit ChildEventWriter(int fd) : m_fd(fd) {
        if (m_fd >= 0)
            ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
    }
    bool enabled() const { return m_fd >= 0; }

    void fileOpened(const std::string& path) { line({"file_opened", clean(path)}); }
    void fileCompleted(const std::string& path, std::uint64_t bytes, std::uint64_t packets,
                       std::uint64_t firstNs, std::uint64_t lastNs) {
        line({"file_completed", clean(path), std::to_string(bytes), std::to_string(packets),
              std::to_string(firstNs), std::to_string(lastNs)});
    }
    void error(const std::string& message) { line({"error", clean(message)}); }
    void progress(std::uint64_t done, std::uint64_t total) {
        line({"progress", std::to_string(done), std::to_string(total)});
    }
    // Also called from uploader threads: each event is one write(2) of less than PIPE_BUF
    // bytes, so lines from different threads never interleave.
    void uploaded(const std::string& localPath, const std::string& remote, std::uint64_t bytes) {
        line({"uploaded", clean(localPath), clean(remote), std::to_string(bytes)});
    }

    void client(const std::string& name, bool connected, const std::string& peer,
                std::uint64_t packets, std::uint64_t connections, const std::string& lastClose) {
        line({"client", clean(name), connected ? "1" : "0", peer.empty() ? "-" : clean(peer),
              std::to_string(packets), std::to_string(connections),
              lastClose.empty() ? "-" : clean(lastClose)});
    }
    void collector(std::uint64_t refusedUnknown, std::uint64_t refusedTls,
                   const std::string& closedByReason) {
        line({"collector", std::to_string(refusedUnknown), std::to_string(refusedTls),
              closedByReason.empty() ? "-" : clean(closedByReason)});
    }

  private:
    static std::string clean(std::string s) {
        for (char& c : s) {
            if (c == '\t' || c == '\n')
                c = ' ';
        }
        return s;
    }
    void line(const std::vector<std::string>& fields) {
        if (m_fd < 0)
            return;
        std::string text;
        for (const std::string& f : fields)
            text += (text.empty() ? "" : "\t") + f;
        text += '\n';
        ssize_t ignored = ::write(m_fd, text.data(), text.size());  // a full pipe drops the event
        (void)ignored;
    }

    int m_fd = -1;
};

// Splits one line (without its '\n') into fields.
inline std::vector<std::string> parseChildEvent(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t tab = line.find('\t', start);
        fields.push_back(
            line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos)
            break;
        start = tab + 1;
    }
    return fields;
}

}  // namespace pushcap::proto
