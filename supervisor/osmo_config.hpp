// `pushcapd --osmo-config FILE`: an existing osmo-pcap-server configuration (VTY syntax, as
// osmo-pcap 0.5 to 0.8 save it) read into the equivalent pushcapd configuration: a collector
// with the same clients, listen address and TLS settings, and one default output per storing
// client (trace-<name>-YYYYMMDD_HHMMSS.pcap under base-path, rotated and completed the same way).
// Blocks that have no meaning for pushcap (`log ...`, `line vty`, `stats ...`) are ignored with a
// notice; every command of the `server` node is understood or refused by name.
#pragma once

#include <string>

#include "supervisor/config.hpp"

namespace pushcap::supervisor {

// osmo-pcap-server's defaults for what a file leaves out (its sources, 0.8.0).
inline constexpr std::uint64_t OSMO_DEFAULT_MAX_FILE_SIZE = 1073741824;  // 1 GiB
inline constexpr const char* OSMO_DEFAULT_ROTATE = "day";
inline constexpr const char* OSMO_DEFAULT_FILE_MODE = "0440";

// A pure function of the text: nothing on disk is looked at. `file` names the file in
// messages. Throws ConfigError listing every problem as "FILE:LINE: ...".
PushConfig parseOsmoConfig(const std::string& text, const std::string& file);

// Reads `path` and parses it.
PushConfig loadOsmoConfig(const std::string& path);

}  // namespace pushcap::supervisor
