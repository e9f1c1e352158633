#include "workers/localtime_rotation.hpp"

#include <ctime>
#include <sstream>

#include "workers/config_error.hpp"
#include "workers/number_parse.hpp"

namespace pushcap::workers {
namespace {

constexpr std::uint64_t NS = 1'000'000'000ULL;

// Pointers into struct tm, smallest unit first, with each unit's lowest value.
int* field(std::tm& tm, int index) {
    switch (index) {
        case 0:
            return &tm.tm_sec;
        case 1:
            return &tm.tm_min;
        case 2:
            return &tm.tm_hour;
        case 3:
            return &tm.tm_mday;
        case 4:
            return &tm.tm_mon;
        default:
            return &tm.tm_year;
    }
}
int lowest(int index) {
    return index == 3 ? 1 : 0;
}

std::time_t makeLocal(std::tm tm, int isdst) {
    tm.tm_isdst = isdst;
    return std::mktime(&tm);
}

// True if `c` falls in the same osmo period as `ref` (same group of the unit, same larger units).
bool samePeriod(std::time_t c, const std::tm& ref, int u, int n) {
    std::tm tm{};
    localtime_r(&c, &tm);
    for (int i = u + 1; i <= 5; ++i) {
        if (*field(tm, i) != *field(const_cast<std::tm&>(ref), i))
            return false;
    }
    const int a = *field(tm, u);
    const int b = *field(const_cast<std::tm&>(ref), u);
    return a - a % n == b - b % n;
}

}  // namespace

LocaltimeRotation LocaltimeRotation::parse(const std::string& text) {
    std::istringstream in(text);
    std::string unitText, modWord, modText, extra;
    in >> unitText >> modWord >> modText >> extra;
    Unit unit;
    if (unitText == "second")
        unit = Unit::Second;
    else if (unitText == "minute")
        unit = Unit::Minute;
    else if (unitText == "hour")
        unit = Unit::Hour;
    else if (unitText == "day")
        unit = Unit::Day;
    else if (unitText == "month")
        unit = Unit::Month;
    else if (unitText == "year")
        unit = Unit::Year;
    else
        throw ConfigError("--rotate-localtime: unknown unit '" + unitText + "' in \"" + text +
                          "\" (second|minute|hour|day|month|year [mod N])");
    unsigned modulo = 1;
    if (!modWord.empty()) {
        if (modWord != "mod" || modText.empty() || !extra.empty()) {
            throw ConfigError("--rotate-localtime: expected \"UNIT [mod N]\", got \"" + text +
                              "\"");
        }
        const std::uint64_t n = parseCount("--rotate-localtime mod", modText);
        if (n == 0 || n > 1000000)
            throw ConfigError("--rotate-localtime: mod out of range in \"" + text + "\"");
        modulo = static_cast<unsigned>(n);
    }
    return LocaltimeRotation(unit, modulo);
}

Period LocaltimeRotation::periodFor(std::uint64_t tsNs) const {
    const std::time_t t = static_cast<std::time_t>(tsNs / NS);
    std::tm now{};
    localtime_r(&t, &now);
    const int u = static_cast<int>(m_unit);
    const int n = static_cast<int>(m_modulo);

    std::tm start = now;
    for (int i = 0; i < u; ++i)
        *field(start, i) = lowest(i);
    int& value = *field(start, u);
    const int group = value - value % n;
    value = group < lowest(u) ? lowest(u) : group;

    // The period ends at the next group of the unit or when the next larger unit begins,
    // whichever comes first (osmo: "or any larger unit changes").
    std::tm nextGroup = start;
    *field(nextGroup, u) = group + n;
    std::time_t end = makeLocal(nextGroup, -1);
    if (u < 5) {
        std::tm nextLarger = start;
        *field(nextLarger, u) = lowest(u);
        *field(nextLarger, u + 1) += 1;
        const std::time_t larger = makeLocal(nextLarger, -1);
        if (larger > t && larger < end)
            end = larger;
    }

    // In a repeated hour (DST ends) the same wall time exists twice: take the earliest instant
    // not after the packet that still carries the same local value.
    std::time_t begin = t;
    for (const int isdst : {now.tm_isdst, now.tm_isdst > 0 ? 0 : 1}) {
        const std::time_t c = makeLocal(start, isdst);
        if (c <= begin && samePeriod(c, now, u, n))
            begin = c;
    }
    if (end <= t)
        end = t + 1;
    return Period{static_cast<std::uint64_t>(begin) * NS, static_cast<std::uint64_t>(end) * NS};
}

}  // namespace pushcap::workers
