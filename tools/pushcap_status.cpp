// pushcap-status: watch a running pushcapd (a ZeroMQ subscriber of its status stream).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <zmq.hpp>

#include "status.pb.h"
#include "tools/status_view.hpp"

namespace {

const char* const USAGE =
    R"(usage: pushcap-status [--endpoint ENDPOINT] [--once] [--json] [--timeout SEC]

Shows what a running pushcapd does: the capture line, then one row per target (state,
packets/s, Gbit/s, lag, files, restarts, lost packets, delivery, write errors, current file or
last error; "held the source N s" when a lossless target made the capture wait for it).

  --endpoint ENDPOINT  pushcapd's status endpoint (default tcp://127.0.0.1:5577)
  --once               print one snapshot and exit
  --json               one JSON object per line, snapshots and events (for scripts)
  --timeout SEC        with --once: give up after SEC seconds without data (default 5)
Exit codes: 0 ok, 1 nothing is publishing, 2 usage.
)";

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
    zmq::context_t context;
    zmq::socket_t sub(context, zmq::socket_type::sub);
    try {
        sub.set(zmq::sockopt::subscribe, json ? "pushcap." : "pushcap.status");
        sub.set(zmq::sockopt::rcvtimeo, 1000);
        sub.connect(endpoint);
    } catch (const zmq::error_t& e) {
        std::fprintf(stderr, "pushcap-status: %s: %s\n", endpoint.c_str(), e.what());
        return 2;
    }
    pushcap::tools::StatusView view;
    const bool tty = ::isatty(1) && !json;
    auto lastData = std::chrono::steady_clock::now();
    std::time_t lastWall = 0;
    bool warned = false;
    for (;;) {
        zmq::message_t topic, body;
        if (!sub.recv(topic)) {
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
        if (!topic.more() || !sub.recv(body))
            continue;
        lastData = std::chrono::steady_clock::now();
        lastWall = std::time(nullptr);
        warned = false;
        const std::string t = topic.to_string();
        if (t == "pushcap.status") {
            pushcap::v1::Snapshot s;
            if (!s.ParseFromArray(body.data(), static_cast<int>(body.size())))
                continue;
            if (json) {
                std::printf("%s\n", pushcap::tools::StatusView::json(s, t).c_str());
            } else {
                std::string text = view.table(s);
                std::printf("%s%s", tty ? "\033[H\033[2J" : "", text.c_str());
            }
        } else if (json) {
            pushcap::v1::Event e;
            if (!e.ParseFromArray(body.data(), static_cast<int>(body.size())))
                continue;
            std::printf("%s\n", pushcap::tools::StatusView::json(e, t).c_str());
        }
        std::fflush(stdout);
        if (once && t == "pushcap.status")
            return 0;
    }
}
