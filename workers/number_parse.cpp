#include "workers/number_parse.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "workers/config_error.hpp"

namespace pushcap::workers {

std::uint64_t parseCount(const std::string& what, const std::string& text) {
    if (text.empty())
        throw ConfigError(what + ": empty number");
    const bool plain = text.find_first_not_of("0123456789") == std::string::npos;
    errno = 0;
    char* end = nullptr;
    if (plain) {
        // Exact for every 64-bit value, which a double is not.
        const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
        if (errno != 0 || *end != '\0')
            throw ConfigError(what + ": number out of range: " + text);
        return v;
    }
    const double v = std::strtod(text.c_str(), &end);
    if (errno != 0 || end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 ||
        v >= 18446744073709551616.0 || v != std::floor(v)) {
        throw ConfigError(what + ": not a non-negative whole number: " + text);
    }
    return static_cast<std::uint64_t>(v);
}

}  // namespace pushcap::workers
