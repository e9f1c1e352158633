// Turns pushcapd's status messages into what pushcap-status prints: a table for people, JSON
// lines for scripts. Rates come from the difference between consecutive snapshots.
#pragma once

#include <map>
#include <string>

#include "status.pb.h"

namespace pushcap::tools {

class StatusView {
  public:
    // The live table for this snapshot (rates against the previous one).
    std::string table(const v1::Snapshot& snapshot);
    static std::string json(const google::protobuf::Message& message, const std::string& topic);

  private:
    struct Previous {
        double at = 0;
        std::uint64_t packets = 0;
        std::uint64_t bytes = 0;
    };
    std::map<std::string, Previous> m_previous;
};

}  // namespace pushcap::tools
