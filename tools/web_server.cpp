#include "tools/web_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tools/web_assets.hpp"
#include "tools/web_metrics.hpp"

namespace pushcap::tools {
namespace {

// SSE clients each hold one pool thread for as long as the page is open; past this many a new
// one gets 503, so /metrics (Prometheus) always has threads left.
constexpr int MAX_STREAMS = 16;
constexpr int POOL_THREADS = MAX_STREAMS + 8;

// Why binding failed, in words: cpp-httplib only says that it did.
std::string bindError(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
        return "unknown host '" + host + "': " + ::gai_strerror(rc);
    std::string why = "unknown reason";
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            why = std::strerror(errno);
            continue;
        }
        int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
            why = errno == EADDRINUSE ? "the port is already in use (another pushcap-web?)"
                                      : std::strerror(errno);
        }
        ::close(fd);
    }
    ::freeaddrinfo(found);
    return why;
}

}  // namespace

StatusSubscriber::StatusSubscriber(const std::string& endpoint, WebState& state)
    : m_stream(std::make_unique<StatusStream>(endpoint)), m_state(state) {}

StatusSubscriber::~StatusSubscriber() {
    stop();
}

void StatusSubscriber::start() {
    m_thread = std::thread([this] { run(); });
}

void StatusSubscriber::stop() {
    m_stop = true;
    if (m_thread.joinable())
        m_thread.join();
}

void StatusSubscriber::run() {
    while (!m_stop) {
        // In sequence order, with what a late start or a gap left out fetched from the replay.
        for (const StreamMessage& m : m_stream->receive(std::chrono::milliseconds(250)))
            deliver(m);
    }
}

void StatusSubscriber::deliver(const StreamMessage& m) {
    const auto now = WallClock::now();
    if (m.sequence == 0) {
        m_state.onUndecodable();
    } else if (m.topic == "pushcap.status") {
        v1::Snapshot s;
        s.ParseFromString(m.body);
        m_state.onSnapshot(s, now);
    } else {
        v1::Event e;
        e.ParseFromString(m.body);
        m_state.onEvent(m.topic.substr(sizeof "pushcap.event." - 1), e, now);
    }
}

WebServer::WebServer(WebState& state, std::string endpoint, std::string version)
    : m_server(std::make_unique<httplib::Server>()),
      m_state(state),
      m_endpoint(std::move(endpoint)),
      m_version(std::move(version)) {
    m_server->new_task_queue = [] { return new httplib::ThreadPool(POOL_THREADS); };
    // cpp-httplib's default sets SO_REUSEPORT, which would let a second pushcap-web share the
    // port silently; SO_REUSEADDR alone still allows a quick restart.
    m_server->set_socket_options([](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    routes();
}

WebServer::~WebServer() = default;

int WebServer::bind(const std::string& host, int port) {
    int bound = port;
    if (port == 0)
        bound = m_server->bind_to_any_port(host);
    else if (!m_server->bind_to_port(host, port))
        bound = -1;
    if (bound <= 0) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 bindError(host, port));
    }
    return bound;
}

bool WebServer::run() {
    return m_server->listen_after_bind();
}

void WebServer::stop() {
    m_state.shutdown();
    m_server->stop();
}

void WebServer::routes() {
    httplib::Server& s = *m_server;
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(renderMetrics(m_state.view(WallClock::now()), m_version),
                        std::string(METRICS_CONTENT_TYPE));
    });
    s.Get("/api/status", [this](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        res.set_content(m_state.statusJson(m_endpoint, WallClock::now()), "application/json");
    });
    s.Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
        if (m_streams.fetch_add(1) >= MAX_STREAMS) {
            m_streams.fetch_sub(1);
            res.status = 503;
            res.set_content("too many event streams open\n", "text/plain");
            return;
        }
        res.set_header("Cache-Control", "no-store");
        res.set_header("X-Accel-Buffering", "no");  // proxies must not hold events back
        auto cursor = std::make_shared<std::uint64_t>(0);
        auto started = std::make_shared<bool>(false);
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, cursor, started](std::size_t, httplib::DataSink& sink) {
                std::vector<WebMessage> batch;
                if (!*started) {
                    *started = true;
                    batch = m_state.start(*cursor);
                    // Tell EventSource to retry quickly if pushcap-web restarts.
                    if (!sink.write("retry: 1000\n\n", 13))
                        return false;
                } else {
                    batch = m_state.waitAfter(*cursor, std::chrono::seconds(1));
                }
                if (m_state.isShutdown())
                    return false;
                std::string out;
                for (const WebMessage& m : batch) {
                    out += "id: " + std::to_string(m.id) + "\nevent: " + m.event +
                           "\ndata: " + m.json + "\n\n";
                }
                // A comment line when idle: finds clients that went away.
                if (out.empty())
                    out = ": idle\n\n";
                return sink.write(out.data(), out.size());
            },
            [this](bool) { m_streams.fetch_sub(1); });
    });
    auto asset = [](const httplib::Request& req, httplib::Response& res) {
        const std::string path = req.path == "/" ? "/index.html" : req.path;
        for (const WebAsset& a : webAssets()) {
            if (a.path == path) {
                res.set_content(std::string(a.body), std::string(a.contentType));
                return;
            }
        }
        res.status = 404;
        res.set_content("not found\n", "text/plain");
    };
    s.Get("/", asset);
    s.Get(R"(/[a-z_]+\.(html|js|css|svg))", asset);
}

}  // namespace pushcap::tools
