#include "tools/status_view.hpp"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

namespace pushcap::tools {
namespace {

std::string format(const char* fmt, auto... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

std::string shortened(const std::string& s, std::size_t width) {
    if (s.size() <= width)
        return s;
    return "..." + s.substr(s.size() - (width - 3));
}

// "12.3 s" at a glance: tenths below a minute, whole seconds after.
std::string seconds(double s) {
    return format(s < 60 ? "%.1f s" : "%.0f s", s);
}

// The DELIVERY column: "lossless", "best-eff", or "-" from a pushcapd that does not say.
std::string shortDelivery(const std::string& delivery) {
    if (delivery == "best-effort")
        return "best-eff";
    return delivery.empty() ? "-" : delivery;
}

}  // namespace

std::string StatusView::table(const v1::Snapshot& s) {
    const double now = double(s.unix_time_ns()) / 1e9;
    auto rate = [&](const std::string& key, std::uint64_t packets, std::uint64_t bytes, double& pps,
                    double& gbps) {
        Previous& p = m_previous[key];
        pps = gbps = 0;
        if (p.at > 0 && now > p.at) {
            pps = double(packets - std::min(packets, p.packets)) / (now - p.at);
            gbps = double(bytes - std::min(bytes, p.bytes)) * 8 / (now - p.at) / 1e9;
        }
        p = Previous{now, packets, bytes};
    };
    std::string out =
        format("pushcap %s  instance %s  up %.0f s  (seq %llu)\n", s.version().c_str(),
               s.instance().c_str(), s.uptime_seconds(), (unsigned long long)s.sequence());
    for (const v1::CaptureStatus& c : s.captures()) {
        double pps, gbps;
        rate("capture:" + c.source(), c.packets(), c.bytes(), pps, gbps);
        out += format(
            "capture %-10s %-10s pid %-7u %10.0f pkt/s %7.3f Gbit/s  packets %llu  kernel drops "
            "%llu/%llu  "
            "ring %.0f%%  restarts %llu",
            c.source().c_str(), c.state().c_str(), c.pid(), pps, gbps,
            (unsigned long long)c.packets(), (unsigned long long)c.kernel_drops(),
            (unsigned long long)c.kernel_if_drops(), c.ring_fill() * 100,
            (unsigned long long)c.restarts());
        if (!c.ring_mode().empty())
            out += "  " + c.ring_mode() + " ring";
        if (c.held_seconds() > 0)
            out += "  held " + seconds(c.held_seconds());
        if (c.input_bytes_total() > 0) {
            out += format("  input %.1f%%",
                          100.0 * double(c.input_bytes_done()) / double(c.input_bytes_total()));
        }
        out += "\n";
        if (c.clients_size() != 0) {
            std::string closed;
            for (const auto& [reason, n] : c.closed_by_reason())
                closed += format(" %s %llu", reason.c_str(), (unsigned long long)n);
            out +=
                format("collector: refused %llu unknown, %llu TLS; malformed closes:%s\n",
                       (unsigned long long)c.refused_unknown(), (unsigned long long)c.refused_tls(),
                       closed.empty() ? " none" : closed.c_str());
        }
        for (const v1::CollectorClient& cl : c.clients()) {
            double pps, gbps;
            rate("client:" + cl.name(), cl.packets(), 0, pps, gbps);
            out += format(
                "  client %-16s %-12s %-24s %10.0f pkt/s  packets %llu  connections %llu%s%s\n",
                shortened(cl.name(), 16).c_str(), cl.connected() ? "connected" : "disconnected",
                cl.peer().c_str(), pps, (unsigned long long)cl.packets(),
                (unsigned long long)cl.connections(),
                cl.last_close().empty() ? "" : "  last close: ",
                shortened(cl.last_close(), 40).c_str());
        }
    }
    out += format("\n%-20s %-10s %7s %10s %8s %9s %7s %9s %9s %-8s %8s  %s\n", "TARGET", "STATE",
                  "PID", "pkt/s", "Gbit/s", "lag s", "files", "restarts", "lost", "delivery",
                  "wr.err", "CURRENT FILE / LAST ERROR");
    for (const v1::TargetStatus& t : s.targets()) {
        double pps, gbps;
        rate("target:" + t.desc(), t.packets_written(), t.bytes_written(), pps, gbps);
        std::string note = shortened(
            t.state() == v1::FAILED || t.current_file().empty() ? t.last_error() : t.current_file(),
            60);
        if (t.uploads_completed() != 0 || t.uploads_pending() != 0 || t.upload_failures() != 0) {
            // RCLONE target: what waits in the spool matters more than the file being written.
            note = format("[up %llu, wait %llu (%.1f MB), fail %llu] ",
                          (unsigned long long)t.uploads_completed(),
                          (unsigned long long)t.uploads_pending(),
                          double(t.upload_bytes_pending()) / 1e6,
                          (unsigned long long)t.upload_failures()) +
                   note;
        }
        if (t.held_source_seconds() > 0) {
            // A lossless target that slows the source: the first thing to look at when the
            // capture (or the collector's clients) cannot keep up.
            note = "[held the source " + seconds(t.held_source_seconds()) + "] " + note;
        }
        const bool alarm =
            t.state() == v1::FAILED || t.state() == v1::RESTARTING || t.lag_seconds() > 5;
        out += format("%s%-20s %-10s %7u %10.0f %8.3f %9.2f %7llu %9llu %9llu %-8s %8llu  %s%s\n",
                      alarm ? "\033[1;31m" : "", shortened(t.desc(), 20).c_str(),
                      v1::TargetState_Name(t.state()).c_str(), t.pid(), pps, gbps, t.lag_seconds(),
                      (unsigned long long)t.files_completed(), (unsigned long long)t.restarts(),
                      (unsigned long long)t.packets_lost(), shortDelivery(t.delivery()).c_str(),
                      (unsigned long long)t.write_errors(), note.c_str(), alarm ? "\033[0m" : "");
    }
    return out;
}

std::string StatusView::json(const google::protobuf::Message& message, const std::string& topic) {
    std::string body;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(message, &body, options).ok())
        body = "{}";
    return "{\"topic\":\"" + topic + "\",\"message\":" + body + "}";
}

}  // namespace pushcap::tools
