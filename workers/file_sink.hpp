// Sink for a local or NFS directory (FMADIO Mode "File"). Files are written as `<name>.pending`
// through one large buffer (pwrite at the tracked offset) and renamed, or moved to
// CompletedPath, when complete. See sink.hpp for the contract.
#pragma once

#include <memory>

#include "workers/file_naming.hpp"
#include "workers/sink.hpp"

namespace pushcap::workers {

struct FileSinkConfig {
    std::string directory;   // Path's directory (the namer's)
    std::string filePrefix;  // this target's file-name prefix (finds its leftovers)
    std::string suffix = ".pcap";
    std::string pcapngSuffix;  // files opened as pcapng; empty: this target writes none
    std::string completedDir;  // empty: complete in place
    unsigned fileMode = 0644;  // of complete files (pending files stay private to the worker)
    // fsync each complete file before its rename and its directory after (Fsync = false: NFS
    // users who prefer speed to surviving a power cut).
    bool fsync = true;
    std::size_t bufferBytes = 4 << 20;
};

class FileSink final : public Sink {
  public:
    explicit FileSink(FileSinkConfig config);
    ~FileSink() override;

    ResumeOutcome resume(const OpenFileRef& ref) override;
    std::vector<CompletedFile> recoverLeftovers(const std::string& keep) override;
    IoStatus open(const std::string& stem, const std::string& suffix, const FileFormat& format,
                  std::string& chosenName) override;
    IoStatus append(const std::byte* data, std::size_t bytes) override;
    IoStatus flush() override;
    std::uint64_t bytes() const override { return m_written + m_buffered; }
    bool isOpen() const override { return m_fd >= 0; }
    IoStatus complete(CompletedFile& done) override;
    bool canRollBack() const override { return true; }
    IoStatus rollBack(std::uint64_t bytes) override;
    const std::string& lastError() const override { return m_lastError; }

  private:
    IoStatus fail(const std::string& what, int error);
    // Writes [data, data+n) at m_written; on failure cuts the file back to where it was.
    bool writeAt(const std::byte* data, std::size_t n);
    void closeFd();

    FileSinkConfig m_config;
    std::unique_ptr<std::byte[]> m_buffer;
    std::size_t m_buffered = 0;
    std::uint64_t m_written = 0;  // bytes in the file, all handed to the kernel
    int m_fd = -1;
    std::string m_name;    // final name (without ".pending")
    std::string m_suffix;  // of m_name
    // Gives a complete file its mode and, with fsync, puts it on disk; 0 or an errno.
    int settle(int fd) const;
    int settle(const std::string& path) const;
    // Moves a settled file to its final place; 0 or an errno.
    int place(const std::string& pending, const std::string& finalName, const std::string& suffix,
              std::string& location);
    IoStatus placed(CompletedFile& done, int rc, const std::string& location);
    std::string m_lastError;
    // Set while a file has its final name but a directory sync failed: complete() retries that.
    std::string m_placedAt;
};

}  // namespace pushcap::workers
