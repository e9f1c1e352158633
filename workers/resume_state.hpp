// What a worker commits with each ring position (the slot's resume blob, <= 1536 bytes), so a
// restarted worker continues its open file exactly where the committed data ends.
//
// `skipPosition`/`skipPackets`: commits made in the middle of a batch (when a file is completed
// or opened) record the batch's start as the ring position and how many of its packets are
// already in files; the restarted worker skips those when it reads that batch again.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "workers/sink.hpp"
#include "workers/split_policy.hpp"

namespace pushcap::workers {

struct OpenFileState {
    bool open = false;
    bool completing = false;  // committed just before completion: finish it on restart
    std::string name;         // full final name (sink's view), clash counter included
    FileFormat format;
    std::uint64_t bytes = 0;  // incl. PCAP header
    std::uint64_t packets = 0;
    std::uint64_t firstTsNs = 0;
    std::uint64_t lastTsNs = 0;
    Period period;
    std::uint64_t openedUnixNs = 0;  // wall clock, for the completion log line
    std::uint16_t session = 0;       // the source connection it belongs to (--file-per-connection)
};

struct ResumeState {
    OpenFileState file;
    std::uint64_t skipPosition = 0;
    std::uint32_t skipPackets = 0;
};

// Fails (throws std::runtime_error) if the state does not fit in a blob.
std::vector<std::uint8_t> encodeResumeState(const ResumeState& state);
// nullopt for an empty blob (a new consumer); throws std::runtime_error on a damaged one.
std::optional<ResumeState> decodeResumeState(std::span<const std::uint8_t> blob);

}  // namespace pushcap::workers
