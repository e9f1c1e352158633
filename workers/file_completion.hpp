// Turning a `.pending` file into a complete one, and repairing `.pending` files of a crashed run.
// No tool watching Path or CompletedPath ever sees a partial file under a final name:
//   - same filesystem: renameat2(RENAME_NOREPLACE) (link + unlink where unsupported);
//   - CompletedPath on another filesystem: copy to `<dest>.pending`, fsync, rename, then unlink
//     the source. Repeating a completion that was interrupted is safe.
// Durable (Fsync, the default): the caller has fsynced the file before; the directories the
// move touched are fsynced after it, the new name's before the source of a copy goes. A file
// under its final name then survives a power cut whole.
// Never overwrites: a name that exists gets a counter before the suffix ("x_1.pcap").
// Errors come back as errno values so the caller can retry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pushcap::workers {

// "dir/stem" + ("" | "_N") + suffix.
std::string withCounter(const std::string& stem, unsigned counter, const std::string& suffix);

// Creates `dir` and its parents. Returns 0 or an errno.
int makeDirectories(const std::string& dir);

// Moves `pending` (a complete file) to its final name: `finalName` (in its own directory), or
// the same base name in `completedDir` when that is not empty. On a clash a counter is added
// before `suffix`. `scratch` is a buffer for cross-filesystem copies. Returns 0 and sets
// `location`, or an errno (ENOENT if `pending` is gone). An errno with `location` set: the file
// has its final name but a directory sync failed; retry with finishPlacing().
int completePending(const std::string& pending, const std::string& finalName,
                    const std::string& suffix, const std::string& completedDir, bool durable,
                    std::byte* scratch, std::size_t scratchBytes, std::string& location);

// What follows the rename of `pending` to `location`: the directory syncs (when `durable`) and
// the removal of a copied source. 0 or an errno; safe to repeat.
int finishPlacing(const std::string& pending, const std::string& location, bool durable);

struct RepairResult {
    bool validHeader = false;
    std::uint64_t bytes = 0;  // size after cutting off a trailing partial record
    std::uint64_t packets = 0;
};

// Cuts a PCAP (or this worker's pcapng) file back to its last whole record. Returns 0 or an
// errno.
int repairPcap(const std::string& path, std::byte* scratch, std::size_t scratchBytes,
               RepairResult& result);

}  // namespace pushcap::workers
