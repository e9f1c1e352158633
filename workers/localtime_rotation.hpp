// osmo-pcap's `rotate-localtime UNIT [mod N]`: a new period starts when `value - value % N` of
// UNIT grows or any larger unit changes, in local time (TZ). pushcap evaluates it on packet time
// (deterministic for offline pushes and restarts); idle files close on the wall clock.
//
// Not on the per-packet path: the worker asks for a period only when a packet leaves the current
// one, so localtime_r/mktime run once per file.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::workers {

struct Period {
    std::uint64_t startNs = 0;
    std::uint64_t endNs = 0;  // exclusive; 0: no end (no time rule)
};

class LocaltimeRotation {
  public:
    enum class Unit { Second, Minute, Hour, Day, Month, Year };

    // "hour", "minute mod 20", ...; throws ConfigError.
    static LocaltimeRotation parse(const std::string& text);
    LocaltimeRotation(Unit unit, unsigned modulo) : m_unit(unit), m_modulo(modulo) {}

    // The local-time period holding `tsNs` (UTC ns), with whole-second bounds.
    Period periodFor(std::uint64_t tsNs) const;

    Unit unit() const { return m_unit; }
    unsigned modulo() const { return m_modulo; }

  private:
    Unit m_unit;
    unsigned m_modulo;
};

}  // namespace pushcap::workers
