#include "tools/web_metrics.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <vector>

namespace pushcap::tools {
namespace {

const char* const TARGET_STATES[] = {"STARTING", "RUNNING", "RESTARTING", "FAILED", "STOPPED"};
const char* const CAPTURE_STATES[] = {"running", "restarting", "finished", "stopped"};

std::string number(double v) {
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : "0";
}

std::string number(std::uint64_t v) {
    return std::to_string(v);
}

// Writes one family: HELP and TYPE once, then a sample per row, so every family is contiguous
// as the format requires.
class Writer {
  public:
    explicit Writer(std::string& out) : m_out(out) {}

    template <class Row>
    void family(const char* name, const char* type, const char* help, const std::vector<Row>& rows,
                const std::function<void(const Row&, std::string_view name)>& emit) {
        if (rows.empty())
            return;
        m_out += "# HELP ";
        m_out += name;
        m_out += ' ';
        m_out += help;
        m_out += "\n# TYPE ";
        m_out += name;
        m_out += ' ';
        m_out += type;
        m_out += '\n';
        for (const Row& r : rows)
            emit(r, name);
    }

    void sample(std::string_view name, const std::string& labels, const std::string& value) {
        m_out += name;
        if (!labels.empty()) {
            m_out += '{';
            m_out += labels;
            m_out += '}';
        }
        m_out += ' ';
        m_out += value;
        m_out += '\n';
    }

  private:
    std::string& m_out;
};

std::string label(std::string_view key, std::string_view value) {
    return std::string(key) + "=\"" + escapeLabel(value) + "\"";
}

}  // namespace

std::string escapeLabel(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string renderMetrics(const WebStateView& state, std::string_view version) {
    std::string out;
    Writer w(out);
    const std::string instance = state.snapshot ? state.snapshot->instance() : "";
    const std::string inst = label("instance", instance);

    struct Self {};
    const std::vector<Self> self{Self{}};
    w.family<Self>("pushcap_build_info", "gauge",
                   "Always 1; labels carry pushcap-web's version and the publishing pushcapd's.",
                   self, [&](const Self&, std::string_view n) {
                       std::string labels = label("version", version);
                       if (state.snapshot) {
                           labels += "," + label("pushcapd_version", state.snapshot->version()) +
                                     "," + inst;
                       }
                       w.sample(n, labels, "1");
                   });
    w.family<Self>("pushcap_status_up", "gauge",
                   "1 if pushcapd's status stream delivered a message recently, else 0.", self,
                   [&](const Self&, std::string_view n) {
                       w.sample(n, state.snapshot ? inst : "", state.stale ? "0" : "1");
                   });
    w.family<Self>(
        "pushcap_status_messages_total", "counter",
        "Status messages (snapshots and events) received from pushcapd.", self,
        [&](const Self&, std::string_view n) { w.sample(n, "", number(state.messages)); });
    w.family<Self>(
        "pushcap_status_messages_missed_total", "counter",
        "Status messages skipped in the sequence: dropped, and no longer in pushcapd's replay.",
        self, [&](const Self&, std::string_view n) { w.sample(n, "", number(state.missed)); });
    w.family<Self>(
        "pushcap_status_messages_undecodable_total", "counter",
        "Status messages with an unknown topic or an undecodable body.", self,
        [&](const Self&, std::string_view n) { w.sample(n, "", number(state.undecodable)); });
    w.family<Self>(
        "pushcap_status_publisher_restarts_total", "counter",
        "Times the status sequence started again: a new pushcapd.", self,
        [&](const Self&, std::string_view n) { w.sample(n, "", number(state.publisherRestarts)); });
    if (!state.snapshot)
        return out;
    const v1::Snapshot& s = *state.snapshot;
    const double at = std::chrono::duration<double>(state.receivedAt.time_since_epoch()).count();
    w.family<Self>("pushcap_status_last_message_timestamp_seconds", "gauge",
                   "Unix time at which the last status message arrived.", self,
                   [&](const Self&, std::string_view n) { w.sample(n, inst, number(at)); });
    w.family<Self>(
        "pushcap_uptime_seconds", "gauge", "Seconds since pushcapd started.", self,
        [&](const Self&, std::string_view n) { w.sample(n, inst, number(s.uptime_seconds())); });

    using Capture = v1::CaptureStatus;
    const std::vector<Capture> captures(s.captures().begin(), s.captures().end());
    auto capLabels = [&](const Capture& c) { return inst + "," + label("source", c.source()); };
    auto capCounter = [&](const char* name, const char* help, auto get) {
        w.family<Capture>(name, "counter", help, captures,
                          [&](const Capture& c, std::string_view n) {
                              w.sample(n, capLabels(c), number(get(c)));
                          });
    };
    capCounter("pushcap_capture_packets_total", "Packets the capture published into the ring.",
               [](const Capture& c) { return c.packets(); });
    capCounter("pushcap_capture_bytes_total", "Captured bytes published into the ring.",
               [](const Capture& c) { return c.bytes(); });
    capCounter("pushcap_capture_kernel_drops_total",
               "Packets the kernel dropped for lack of buffer space (pcap_stats ps_drop).",
               [](const Capture& c) { return c.kernel_drops(); });
    capCounter("pushcap_capture_interface_drops_total",
               "Packets the interface or driver dropped (pcap_stats ps_ifdrop).",
               [](const Capture& c) { return c.kernel_if_drops(); });
    capCounter("pushcap_capture_restarts_total", "Restarts of the capture process.",
               [](const Capture& c) { return c.restarts(); });
    capCounter("pushcap_capture_held_seconds_total",
               "Seconds the capture waited for room in the ring (lossless and backpressured "
               "rings; the collector stops reading its sockets meanwhile).",
               [](const Capture& c) { return c.held_seconds(); });
    capCounter("pushcap_capture_input_read_bytes_total",
               "Offline push: bytes of the input files read so far.",
               [](const Capture& c) { return c.input_bytes_done(); });
    w.family<Capture>("pushcap_capture_input_size_bytes", "gauge",
                      "Offline push: total size of the input files (0 for a live capture).",
                      captures, [&](const Capture& c, std::string_view n) {
                          w.sample(n, capLabels(c), number(c.input_bytes_total()));
                      });
    capCounter("pushcap_collector_refused_unknown_total",
               "Collector connections from addresses not in the allow list.",
               [](const Capture& c) { return c.refused_unknown(); });
    capCounter("pushcap_collector_refused_tls_total",
               "Collector connections refused in the TLS handshake.",
               [](const Capture& c) { return c.refused_tls(); });
    struct Closed {
        const Capture* capture;
        std::string reason;
        std::uint64_t count;
    };
    std::vector<Closed> closed;
    struct Client {
        const Capture* capture;
        const v1::CollectorClient* client;
    };
    std::vector<Client> clients;
    for (const Capture& c : captures) {
        for (const auto& [reason, n] : c.closed_by_reason())
            closed.push_back(Closed{&c, reason, n});
        for (const v1::CollectorClient& cl : c.clients())
            clients.push_back(Client{&c, &cl});
    }
    w.family<Closed>("pushcap_collector_closed_total", "counter",
                     "Collector connections closed for a malformed stream, by reason.", closed,
                     [&](const Closed& c, std::string_view n) {
                         w.sample(n, capLabels(*c.capture) + "," + label("reason", c.reason),
                                  number(c.count));
                     });
    auto clientLabels = [&](const Client& c) {
        return capLabels(*c.capture) + "," + label("client", c.client->name());
    };
    w.family<Client>("pushcap_collector_client_packets_total", "counter",
                     "Packets received from a collector client over all its connections.", clients,
                     [&](const Client& c, std::string_view n) {
                         w.sample(n, clientLabels(c), number(c.client->packets()));
                     });
    w.family<Client>("pushcap_collector_client_connections_total", "counter",
                     "Connections a collector client has made.", clients,
                     [&](const Client& c, std::string_view n) {
                         w.sample(n, clientLabels(c), number(c.client->connections()));
                     });
    w.family<Client>(
        "pushcap_collector_client_connected", "gauge", "1 while the collector client is connected.",
        clients, [&](const Client& c, std::string_view n) {
            w.sample(n, clientLabels(c), number(std::uint64_t(c.client->connected() ? 1 : 0)));
        });
    w.family<Capture>(
        "pushcap_capture_ring_fill_ratio", "gauge",
        "Slowest consumer's distance from the producer over the ring capacity (0..1).", captures,
        [&](const Capture& c, std::string_view n) {
            w.sample(n, capLabels(c), number(c.ring_fill()));
        });
    w.family<Capture>("pushcap_capture_state", "gauge",
                      "1 for the capture process' current state, 0 for the others.", captures,
                      [&](const Capture& c, std::string_view n) {
                          bool known = false;
                          for (const char* st : CAPTURE_STATES) {
                              known |= c.state() == st;
                              w.sample(n, capLabels(c) + "," + label("state", st),
                                       c.state() == st ? "1" : "0");
                          }
                          if (!known && !c.state().empty())
                              w.sample(n, capLabels(c) + "," + label("state", c.state()), "1");
                      });

    using Target = v1::TargetStatus;
    const std::vector<Target> targets(s.targets().begin(), s.targets().end());
    auto tLabels = [&](const Target& t) { return inst + "," + label("target", t.desc()); };
    auto tFamily = [&](const char* name, const char* type, const char* help, auto get) {
        w.family<Target>(name, type, help, targets, [&](const Target& t, std::string_view n) {
            w.sample(n, tLabels(t), number(get(t)));
        });
    };
    tFamily("pushcap_target_packets_seen_total", "counter",
            "Packets the target's worker read from the ring.",
            [](const Target& t) { return t.packets_seen(); });
    tFamily("pushcap_target_packets_matched_total", "counter",
            "Packets that matched the target's source and BPF filter.",
            [](const Target& t) { return t.packets_matched(); });
    tFamily("pushcap_target_packets_written_total", "counter",
            "Packets written to the target's files.",
            [](const Target& t) { return t.packets_written(); });
    tFamily("pushcap_target_bytes_written_total", "counter", "Bytes written to the target's files.",
            [](const Target& t) { return t.bytes_written(); });
    tFamily("pushcap_target_files_completed_total", "counter",
            "Files completed (renamed to their final name).",
            [](const Target& t) { return t.files_completed(); });
    tFamily("pushcap_target_packets_lost_total", "counter",
            "Packets the target missed because it fell a ring behind (live mode).",
            [](const Target& t) { return t.packets_lost(); });
    tFamily("pushcap_target_bytes_lost_total", "counter",
            "Bytes the target missed because it fell a ring behind (live mode).",
            [](const Target& t) { return t.bytes_lost(); });
    tFamily("pushcap_target_write_errors_total", "counter", "Failed writes to the target's sink.",
            [](const Target& t) { return t.write_errors(); });
    tFamily("pushcap_target_restarts_total", "counter", "Restarts of the target's worker.",
            [](const Target& t) { return t.restarts(); });
    tFamily("pushcap_target_held_source_seconds_total", "counter",
            "Seconds the capture waited for this lossless target's room: how long it held the "
            "source back.",
            [](const Target& t) { return t.held_source_seconds(); });
    tFamily("pushcap_target_lag_bytes", "gauge",
            "Bytes captured but not yet consumed by the target.",
            [](const Target& t) { return t.lag_bytes(); });
    tFamily("pushcap_target_lag_seconds", "gauge",
            "Lag in bytes over the recent capture rate: how far behind the target is.",
            [](const Target& t) { return t.lag_seconds(); });
    // Upload figures of RCLONE targets, looked up by name: they are newer than this exporter's
    // first version, so a status.proto without them still builds, and the families are absent.
    struct Optional {
        const char* field;
        const char* name;
        const char* type;
        const char* help;
    };
    const Optional uploads[] = {
        {"uploads_completed", "pushcap_target_uploads_completed_total", "counter",
         "Files uploaded by an RCLONE target."},
        {"upload_failures", "pushcap_target_upload_failures_total", "counter",
         "Failed upload attempts of an RCLONE target (each retried unless permanent)."},
        {"uploads_pending", "pushcap_target_upload_queue_files", "gauge",
         "Complete files in an RCLONE target's spool, waiting for upload."},
        {"upload_bytes_pending", "pushcap_target_upload_queue_bytes", "gauge",
         "Bytes in an RCLONE target's spool, waiting for upload."},
    };
    for (const Optional& o : uploads) {
        const auto* field = Target::descriptor()->FindFieldByName(o.field);
        if (field == nullptr ||
            field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT64)
            continue;
        w.family<Target>(o.name, o.type, o.help, targets, [&](const Target& t, std::string_view n) {
            w.sample(n, tLabels(t), number(t.GetReflection()->GetUInt64(t, field)));
        });
    }
    w.family<Target>("pushcap_target_state", "gauge",
                     "1 for the target's current state (STARTING, RUNNING, RESTARTING, FAILED, "
                     "STOPPED), 0 for the others.",
                     targets, [&](const Target& t, std::string_view n) {
                         const std::string current = v1::TargetState_Name(t.state());
                         for (const char* st : TARGET_STATES) {
                             w.sample(n, tLabels(t) + "," + label("state", st),
                                      current == st ? "1" : "0");
                         }
                     });
    return out;
}

}  // namespace pushcap::tools
