// Parsing of the numbers users write in FMADIO configs ("60e9", "1e9", Lua's "60000000000.0").
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::workers {

// A non-negative whole number, plain or in scientific notation. Throws ConfigError naming `what`.
std::uint64_t parseCount(const std::string& what, const std::string& text);

}  // namespace pushcap::workers
