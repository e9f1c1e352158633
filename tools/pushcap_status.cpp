// pushcap-status: watch a running pushcapd (a ZeroMQ subscriber of its status stream).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

#include "status.pb.h"
#include "tools/status_stream.hpp"
#include "tools/status_view.hpp"

namespace {

const char* const USAGE =
    R"(usage: pushcap-status [--endpoint ENDPOINT] [--once] [--json] [--timeout SEC]

Shows what a running pushcapd does: the capture line, then one row per target (state,
packets/s, Gbit/s, lag, files, restarts, lost packets, delivery, write errors, current file or
last error; "held the source N s" when a lossless target made the capture wait for it).

  --endpoint ENDPOINT  pushcapd's status endpoint (default tcp://127.0.0.1:5577)
  --once               print one snapshot and exit
  --json               one JSON object per line, snapshots and events (for scripts): every
                       message from the first pushcapd still holds, in sequence order (what
                       a late start or a gap left out is fetched from pushcapd's replay)
  --timeout SEC        with --once: give up after SEC seconds without data (default 5)
Exit codes: 0 ok, 1 nothing is publishing, 2 usage.
)";

// One JSON line: the message, with its topic.
void show(const pushcap::tools::StreamMessage& m) {
    if (m.topic == "pushcap.status") {
        pushcap::v1::Snapshot s;
        if (s.ParseFromString(m.body))
            std::printf("%s\n", pushcap::tools::StatusView::json(s, m.topic).c_str());
    } else {
        pushcap::v1::Event e;
        if (e.ParseFromString(m.body))
            std::printf("%s\n", pushcap::tools::StatusView::json(e, m.topic).c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string endpoint = "tcp://127.0.0.1:5577";
    bool once = false, json = false;
    double timeout = 5;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(USAGE, stdout);
            return 0;
        } else if (a == "--endpoint" && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (a == "--once") {
            once = true;
        } else if (a == "--json") {
            json = true;
        } else if (a == "--timeout" && i + 1 < argc) {
            timeout = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr,
                         "pushcap-status: unknown or incomplete argument '%s' (see --help)\n",
                         a.c_str());
            return 2;
        }
    }
    std::unique_ptr<pushcap::tools::StatusStream> stream;
    try {
        // --once wants the snapshot a new subscriber gets at once, nothing older.
        stream = std::make_unique<pushcap::tools::StatusStream>(endpoint, /*recover=*/!once);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "pushcap-status: %s\n", e.what());
        return 2;
    }
    pushcap::tools::StatusView view;
    const bool tty = ::isatty(1) && !json;
    auto lastData = std::chrono::steady_clock::now();
    std::time_t lastWall = 0;
    bool warned = false;
    for (;;) {
        const std::vector<pushcap::tools::StreamMessage> messages =
            stream->receive(std::chrono::milliseconds(1000));
        if (messages.empty()) {
            const double idle =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - lastData).count();
            if (once && idle >= timeout) {
                std::fprintf(stderr,
                             "pushcap-status: nothing is publishing on %s (waited %.0f s): is "
                             "pushcapd running?\n",
                             endpoint.c_str(), idle);
                return 1;
            }
            if (!once && idle >= 3 && !warned) {
                char when[32] = "never";
                if (lastWall != 0)
                    std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&lastWall));
                std::fprintf(stderr, "pushcap-status: no data from %s since %s (waiting)\n",
                             endpoint.c_str(), when);
                warned = true;
            }
            continue;
        }
        lastData = std::chrono::steady_clock::now();
        lastWall = std::time(nullptr);
        warned = false;
        // After a replay many snapshots come at once: the table shows the newest.
        const pushcap::tools::StreamMessage* newest = nullptr;
        for (const pushcap::tools::StreamMessage& m : messages) {
            if (m.sequence == 0)
                continue;
            if (m.topic == "pushcap.status")
                newest = &m;
            if (json)
                show(m);
        }
        if (newest != nullptr && !json) {
            pushcap::v1::Snapshot s;
            s.ParseFromString(newest->body);
            std::string text = view.table(s);
            std::printf("%s%s", tty ? "\033[H\033[2J" : "", text.c_str());
        }
        std::fflush(stdout);
        if (once && newest != nullptr)
            return 0;
    }
}
