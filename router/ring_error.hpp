#pragma once

#include <stdexcept>
#include <string>

namespace pushcap::router {

// Start-up and control-path failures of the ring (create, attach, validate). The message names
// the segment and what is wrong, so it can be shown to a user as is.
class RingError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace pushcap::router
