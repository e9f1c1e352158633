#pragma once

#include <stdexcept>
#include <string>

namespace pushcap::supervisor {

// A configuration a user must fix. The message names the file and line, or the target and key.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace pushcap::supervisor
