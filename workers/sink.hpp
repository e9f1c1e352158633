// Where a target's files go. The worker decides what goes into which file and when a file is
// complete; a sink decides how bytes reach their destination and how a file becomes final:
//   - FileSink (file_sink.hpp): a local or NFS path, `<name>.pending` renamed (or moved to
//     CompletedPath) when complete;
//   - later an Rclone sink (spool through a FileSink, then `rclone moveto`), and a Remote sink
//     (stream to a collector; open/complete become protocol messages).
//
// Contract for exactly-once: bytes() counts what was appended to the open file; after flush()
// returns Ok, all of it has been handed to the kernel/peer, so the worker may commit bytes() as
// the file's offset. After a crash, resume() cuts the file back to the committed offset.
//
// Errors: a failing operation returns IoStatus::Retry after putting the file back in the state
// it had before the call (nothing half-appended), so the worker can back off and call it again
// with the same arguments. Only the worker thread calls a sink. append() is called once per run
// of matching records; it copies into a large buffer and makes a system call only when that is
// full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "workers/pcap_format.hpp"
#include "workers/pcapng_format.hpp"

namespace pushcap::workers {

enum class IoStatus { Ok, Retry };

struct FileFormat {
    std::uint32_t linkType = 1;
    std::uint32_t snaplen = 262144;
    bool pcapng = false;  // pcapng (workers/pcapng_format.hpp) instead of nanosecond PCAP
};

// Size of the file header a sink writes for `format`.
inline std::uint64_t fileHeaderBytes(const FileFormat& format) {
    return format.pcapng ? PCAPNG_FILE_HEADER_BYTES : PCAP_FILE_HEADER_BYTES;
}

// A file a sink has open, as the resume blob remembers it.
struct OpenFileRef {
    std::string name;  // full name without ".pending", clash counter included
    FileFormat format;
    std::uint64_t bytes = 0;  // committed size, incl. the PCAP header
};

struct CompletedFile {
    std::string location;  // where the complete file now is
    std::uint64_t bytes = 0;
    std::uint64_t packets = 0;  // only known for repaired leftovers
};

enum class ResumeOutcome { Reopened, AlreadyCompleted, Lost };

class Sink {
  public:
    virtual ~Sink() = default;

    // Start-up, before anything else: reopen a file of an earlier run cut back to ref.bytes
    // (Reopened), or report that it already reached its final place (AlreadyCompleted), or that
    // it is gone (Lost). Throws on a permanent failure.
    virtual ResumeOutcome resume(const OpenFileRef& ref) = 0;
    // Start-up: completes this target's files of earlier runs that no commit refers to (their
    // trailing partial record cut off). `keep` is the name resume() reopened, if any. Files with
    // no packet at all are removed: the same name is about to be written again.
    virtual std::vector<CompletedFile> recoverLeftovers(const std::string& keep) = 0;

    // Starts a file named `stem` + [clash counter] + `suffix` and appends its PCAP header.
    // On Ok, `chosenName` is the full name used.
    virtual IoStatus open(const std::string& stem, const std::string& suffix,
                          const FileFormat& format, std::string& chosenName) = 0;
    virtual IoStatus append(const std::byte* data, std::size_t bytes) = 0;
    virtual IoStatus flush() = 0;
    virtual std::uint64_t bytes() const = 0;
    virtual bool isOpen() const = 0;
    // Makes the open (flushed) file final. On Ok, `done` says where it went.
    virtual IoStatus complete(CompletedFile& done) = 0;
    // Whether rollBack() works: a best-effort worker then writes straight from the ring and
    // cuts back what a batch overwritten meanwhile added.
    virtual bool canRollBack() const { return false; }
    // Cuts the open file back to `bytes` (not below its last flush-and-commit size), as if what
    // followed had never been appended. On Retry the file is unchanged.
    virtual IoStatus rollBack(std::uint64_t /*bytes*/) { return IoStatus::Retry; }
    // Text of the last error, for logs.
    virtual const std::string& lastError() const = 0;
};

}  // namespace pushcap::workers
