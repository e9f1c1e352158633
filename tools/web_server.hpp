// pushcap-web's two halves: StatusSubscriber (one thread, the only user of its StatusStream)
// feeds a WebState; WebServer (cpp-httplib, a thread pool) serves it over HTTP:
//   /             the dashboard (embedded static files, tools/web/)
//   /metrics      Prometheus text format (web_metrics.hpp)
//   /api/status   the last snapshot and recent completed files as JSON
//   /api/events   Server-Sent Events: "snapshot", "file_completed", "child_exited",
//                 "config_changed"; each data line is the message as proto3 JSON
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "tools/status_stream.hpp"
#include "tools/web_state.hpp"

namespace httplib {
class Server;
}

namespace pushcap::tools {

class StatusSubscriber {
  public:
    // Connects at once; throws std::invalid_argument with a readable message for an endpoint
    // ZeroMQ rejects. ZeroMQ reconnects by itself, so a pushcapd that restarts, or starts after
    // us, is picked up without anything here.
    StatusSubscriber(const std::string& endpoint, WebState& state);
    ~StatusSubscriber();  // stops and joins the thread
    StatusSubscriber(const StatusSubscriber&) = delete;
    StatusSubscriber& operator=(const StatusSubscriber&) = delete;

    void start();
    void stop();

  private:
    void run();
    void deliver(const StreamMessage& message);
    std::unique_ptr<StatusStream> m_stream;
    WebState& m_state;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

class WebServer {
  public:
    WebServer(WebState& state, std::string endpoint, std::string version);
    ~WebServer();
    WebServer(const WebServer&) = delete;
    WebServer& operator=(const WebServer&) = delete;

    // Binds `host`:`port` (0: any free port) and returns the port; throws std::runtime_error
    // saying why it could not (in use, not permitted, unknown host).
    int bind(const std::string& host, int port);
    // Serves until stop(); returns false if the server failed.
    bool run();
    void stop();  // any thread; SSE streams end within a second

  private:
    void routes();
    std::unique_ptr<httplib::Server> m_server;
    WebState& m_state;
    std::string m_endpoint, m_version;
    std::atomic<int> m_streams{0};
};

}  // namespace pushcap::tools
