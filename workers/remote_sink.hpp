// Mode "Remote": a target that streams its packets to a collector (pushcap's, or a real
// osmo-pcap-server) with the osmo-pcap protocol instead of writing files. The worker thread only
// encodes into a bounded queue (once per run of records, no syscall); a sender thread owns the
// connection: it connects (plain or TLS), sends the link header first on every connection,
// drains the queue, and reconnects with backoff. What does not fit the queue is dropped and
// counted: a slow or dead collector never stalls the ring.
//
// There are no files: open() starts a stream format, complete() ends nothing. Delivery is
// at most once: packets queued but unsent when the worker dies are lost (and not counted).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "workers/sink.hpp"

namespace pushcap::workers {

struct RemoteSinkOptions {
    std::string host;
    std::uint16_t port = 0;
    bool pcapng = false;                 // osmo-pcap >= 0.6 "pcap file-format pcapng"
    std::size_t queueBytes = 32u << 20;  // encoded messages waiting for the network
    std::uint32_t snaplenCap = 9000;     // osmo-pcap-server's default max-snaplen
    // TLS (GnuTLS): verify the collector against caFile and tlsHostname unless verify is false;
    // present certFile/keyFile when given.
    bool tls = false;
    bool verify = true;
    std::string caFile, certFile, keyFile, tlsHostname;
};

struct RemoteSinkStats {
    std::uint64_t packetsQueued = 0;
    std::uint64_t packetsLost = 0;  // dropped because the queue was full
    std::uint64_t bytesSent = 0;
    std::uint64_t connects = 0;
    std::uint64_t connectFailures = 0;
};

class RemoteSink final : public Sink {
  public:
    // Checks the options (TLS files load) and starts the sender thread; throws ConfigError.
    explicit RemoteSink(RemoteSinkOptions options);
    ~RemoteSink() override;  // stops the sender after it has tried to send what is queued

    ResumeOutcome resume(const OpenFileRef& ref) override;
    std::vector<CompletedFile> recoverLeftovers(const std::string&) override { return {}; }
    IoStatus open(const std::string& stem, const std::string& suffix, const FileFormat& format,
                  std::string& chosenName) override;
    IoStatus append(const std::byte* data, std::size_t bytes) override;
    IoStatus flush() override { return IoStatus::Ok; }
    std::uint64_t bytes() const override { return m_bytes; }
    bool isOpen() const override { return m_open; }
    IoStatus complete(CompletedFile& done) override;
    const std::string& lastError() const override { return m_error; }

    RemoteSinkStats stats() const;
    // Waits until everything queued is sent (or `timeoutMs` passes). For shutdown and tests.
    bool drain(int timeoutMs);

  private:
    struct Connection;
    void run();
    bool connect();
    bool sendLinkHeader();
    void enqueue(const std::byte* data, std::size_t size);

    RemoteSinkOptions m_options;
    std::string m_peer;
    FileFormat m_format;
    bool m_open = false;
    bool m_haveFormat = false;  // a link header for m_format has been queued
    std::uint64_t m_bytes = 0;
    std::string m_error;
    std::vector<std::byte> m_scratch;  // one encoded run, reused

    // Shared with the sender thread, under m_mutex (taken once per append, not per packet).
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<std::byte> m_queue;  // ring of whole messages
    std::size_t m_head = 0, m_size = 0;
    std::uint64_t m_formatGeneration = 0;
    FileFormat m_sharedFormat;
    RemoteSinkStats m_stats;
    bool m_stop = false;
    bool m_sending = false;  // the sender holds a chunk it has not finished sending
    std::unique_ptr<Connection> m_connection;
    std::thread m_sender;
};

}  // namespace pushcap::workers
