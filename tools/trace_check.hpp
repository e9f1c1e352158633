// Reads the PCAP files a collector stored for one connection and compares their records, in
// order, with what that connection's sender (tools/osmo_senders.hpp) sent: the first `packets`
// records of its body, repeated. The collector may rewrite the file header and convert
// timestamps to nanoseconds, so records are compared by value (timestamp, lengths, data), not
// as header bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/osmo_senders.hpp"

namespace pushcap::tools {

struct StoredTrace {
    std::size_t files = 0;
    std::uint64_t packets = 0;
    // The osmo-pcap bytes these packets were sent as (4 B message + 16 B record header + data
    // each): the unit SendResult::bytes and the floor count, so stored == sent when nothing is
    // lost.
    std::uint64_t bytes = 0;
    std::uint64_t dataBytes = 0;  // captured bytes (the records' caplen)
    // Every record sent is stored, in order, equal, and nothing else is.
    bool exact = false;
    // !exact: the index of the first stored record that differs from the sent one at that
    // index (== packets when the stored records are a prefix of the sent ones).
    std::uint64_t firstDifference = 0;
    std::string problem;  // a file that is not a readable pcap or ends inside a record
};

// `files` in the order the collector wrote them.
StoredTrace checkTrace(const std::vector<std::string>& files, const Stream& sent,
                       std::uint64_t sentPackets);

}  // namespace pushcap::tools
