// pushcap-web: Prometheus metrics and a live dashboard for a running pushcapd, as one more
// subscriber of its status stream (never in the data path).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "tools/web_server.hpp"
#include "tools/web_state.hpp"

namespace {

const char* const USAGE =
    R"(usage: pushcap-web [--endpoint ENDPOINT] [--listen HOST:PORT] [--quiet]

Serves what a running pushcapd publishes on its status endpoint, over HTTP:
  /             a live dashboard: capture rates, per-target state, rates, lag, lost packets,
                restarts, current file and the last completed files
  /metrics      Prometheus metrics (pushcap_*; labels instance and target)
  /api/status   the last status snapshot as JSON
  /api/events   Server-Sent Events of snapshots and events

  --endpoint ENDPOINT  pushcapd's status endpoint (default tcp://127.0.0.1:5577); pushcapd may
                       start later or restart: pushcap-web reconnects by itself
  --listen HOST:PORT   where to serve (default 127.0.0.1:9577; port 0 picks a free one, printed
                       on stdout as "listening on http://HOST:PORT/")
  --quiet              print nothing but errors
  -h, --help           this text
  -V, --version        the version
Prometheus: scrape with honor_labels: true, so pushcap's own "instance" label is kept.
Exit codes: 0 stopped by SIGTERM/SIGINT, 1 cannot serve (e.g. port in use), 2 usage.
)";

struct Listen {
    std::string host;
    int port = 0;
};

Listen parseListen(const std::string& text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size())
        throw std::invalid_argument("--listen '" + text + "': expected HOST:PORT");
    Listen l{text.substr(0, colon), 0};
    if (l.host.size() >= 2 && l.host.front() == '[' && l.host.back() == ']')
        l.host = l.host.substr(1, l.host.size() - 2);
    if (l.host.empty())
        l.host = "0.0.0.0";
    char* end = nullptr;
    const long port = std::strtol(text.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        throw std::invalid_argument("--listen '" + text + "': port must be 0..65535");
    l.port = static_cast<int>(port);
    return l;
}

}  // namespace

int main(int argc, char** argv) {
    std::string endpoint = "tcp://127.0.0.1:5577";
    std::string listenText = "127.0.0.1:9577";
    bool quiet = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(USAGE, stdout);
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::printf("pushcap-web %s\n", PUSHCAP_VERSION);
            return 0;
        } else if (a == "--endpoint" && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (a == "--listen" && i + 1 < argc) {
            listenText = argv[++i];
        } else if (a == "--quiet") {
            quiet = true;
        } else {
            std::fprintf(stderr, "pushcap-web: unknown or incomplete argument '%s' (see --help)\n",
                         a.c_str());
            return 2;
        }
    }

    // Signals go to one thread that stops the server; the HTTP and ZeroMQ threads never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // A browser closing a stream mid-write must not kill us.
    ::signal(SIGPIPE, SIG_IGN);

    Listen listen;
    pushcap::tools::WebState state;
    std::unique_ptr<pushcap::tools::StatusSubscriber> subscriber;
    try {
        listen = parseListen(listenText);
        subscriber = std::make_unique<pushcap::tools::StatusSubscriber>(endpoint, state);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "pushcap-web: %s\n", e.what());
        return 2;
    }
    pushcap::tools::WebServer server(state, endpoint, PUSHCAP_VERSION);
    int port = 0;
    try {
        port = server.bind(listen.host, listen.port);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pushcap-web: %s\n", e.what());
        return 1;
    }
    subscriber->start();
    if (!quiet) {
        const bool v6 = listen.host.find(':') != std::string::npos;
        std::printf("pushcap-web: listening on http://%s%s%s:%d/ (status from %s)\n", v6 ? "[" : "",
                    listen.host.c_str(), v6 ? "]" : "", port, endpoint.c_str());
        std::fflush(stdout);
    }
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        server.stop();
    });
    const bool ok = server.run();
    subscriber->stop();
    if (!ok) {
        // run() returned without a signal: wake the waiter so it can be joined.
        ::kill(::getpid(), SIGTERM);
        waiter.join();
        std::fprintf(stderr, "pushcap-web: the HTTP server stopped unexpectedly\n");
        return 1;
    }
    waiter.join();
    return 0;
}
