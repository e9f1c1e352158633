// A configuration error: permanent, so the worker exits with EXIT_BAD_CONFIG and the supervisor
// does not restart it in a loop. The message names the target and the offending option.
#pragma once

#include <stdexcept>
#include <string>

namespace pushcap::workers {

class ConfigError : public std::runtime_error {
  public:
    explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace pushcap::workers
