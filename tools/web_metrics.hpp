// /metrics for pushcap-web: the Prometheus text exposition format (version 0.0.4) of the last
// status snapshot. Names follow Prometheus' conventions: `pushcap_` prefix, base units (bytes,
// seconds, ratios 0..1), `_total` on counters; labels are `instance` (pushcapd's instance) and
// `target` (a target's Desc) or `source` (a capture source), never a file name.
//
// Target state is one 0/1 series per state, `pushcap_target_state{state="RUNNING"} 1`, so an
// alert is `pushcap_target_state{state="FAILED"} == 1` without a number mapping to remember.
// Counters come from the workers' ring slots; they survive worker restarts and start again at 0
// when pushcapd restarts, which Prometheus' rate() treats as a counter reset. When pushcapd
// stops, the last snapshot's values stay (with pushcap_status_up 0), so a push's final counters
// are scraped.
#pragma once

#include <string>
#include <string_view>

#include "tools/web_state.hpp"

namespace pushcap::tools {

// Content-Type of the body renderMetrics() returns.
inline constexpr std::string_view METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

// `version`: pushcap-web's own version, for pushcap_build_info.
std::string renderMetrics(const WebStateView& state, std::string_view version);

// A label value escaped as the text format requires (\\, \", \n).
std::string escapeLabel(std::string_view value);

}  // namespace pushcap::tools
