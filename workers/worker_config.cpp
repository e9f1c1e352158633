#include "workers/worker_config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <sstream>

#include "workers/config_error.hpp"
#include "workers/number_parse.hpp"
#include "workers/rclone_remote.hpp"

namespace pushcap::workers {
namespace {

const std::map<std::string, NameMode>& nameFlags() {
    static const std::map<std::string, NameMode> flags = {
        {"--filename-epoch-sec-startend", NameMode::EpochSecStartEnd},
        {"--filename-epoch-sec", NameMode::EpochSec},
        {"--filename-epoch-msec", NameMode::EpochMsec},
        {"--filename-epoch-usec", NameMode::EpochUsec},
        {"--filename-epoch-nsec", NameMode::EpochNsec},
        {"--filename-tstr-HHMM", NameMode::TstrHHMM},
        {"--filename-tstr-HHMMSS", NameMode::TstrHHMMSS},
        {"--filename-tstr-HHMMSS_TZ", NameMode::TstrHHMMSS_TZ},
        {"--filename-tstr-HHMMSS_NS", NameMode::TstrHHMMSS_NS},
        {"--filename-tstr-HHMMSS_SUB", NameMode::TstrHHMMSS_SUB},
        {"--filename-osmo", NameMode::Osmo},
    };
    return flags;
}

}  // namespace

std::string workerUsage() {
    return "usage: pushcap-worker --ring SEGMENT --name DESC --path PATH [--mode "
           "file|rclone|remote]\n"
           "  [--split-time NS] [--split-byte N] [--max-file-size N] [--rotate-localtime \"UNIT "
           "[mod N]\"]\n"
           "  [--filename-epoch-sec-startend | --filename-epoch-sec | --filename-epoch-msec |\n"
           "   --filename-epoch-usec | --filename-epoch-nsec | --filename-tstr-HHMM |\n"
           "   --filename-tstr-HHMMSS | --filename-tstr-HHMMSS_TZ | --filename-tstr-HHMMSS_NS |\n"
           "   --filename-tstr-HHMMSS_SUB | --filename-strftime FMT | --filename-osmo]\n"
           "  [--filter BPF] [--suffix .pcap] [--completed-path DIR] [--idle-grace-ms N]\n"
           "  [--log-dir DIR [--quiet]] [--ready-fd FD] [--events-fd FD] [--sources ID,ID] "
           "[--check]\n"
           "  [--format pcap|pcapng|auto] [--file-per-connection] [--file-mode OCTAL] "
           "[--no-fsync]\n"
           "  --format: nanosecond PCAP (default), pcapng, or auto: pcapng for collector clients\n"
           "   that stream pcapng (suffix .pcap becomes .pcapng), PCAP otherwise\n"
           "  --file-per-connection: complete the file when the source's connection ends or is\n"
           "   replaced (collector clients, as osmo-pcap-server does)\n"
           "  --file-mode: mode of complete files (default 0644; .pending files are 0600)\n"
           "  --no-fsync: do not fsync a complete file before its rename nor its directory "
           "after;\n"
           "   faster on NFS, but a power cut may then leave a final name short or empty\n"
           "  SIGUSR1: complete the open file now; the next packet starts a new one\n"
           "  --quiet: only warnings and errors on stderr; everything goes to the --log-dir file\n"
           "  --mode rclone: PATH is \"remote:bucket/dir/prefix\"; files are written to a spool\n"
           "   directory, then uploaded with rclone (temporary name, size check, moveto):\n"
           "    --spool-dir DIR (required)   --spool-max BYTES (stop taking packets when reached)\n"
           "    --uploads N (parallel, 2)    --keep-local (move uploaded files to DIR/uploaded)\n"
           "    --rclone PROGRAM (rclone)    --rclone-config FILE\n"
           "    --upload-retries N (0: forever)   --upload-backoff-max-ms N (60000)\n"
           "  --mode remote: PATH is a collector's HOST:PORT (pushcap or osmo-pcap-server); "
           "packets\n"
           "   stream there with the osmo-pcap protocol; reconnects with backoff; a full queue\n"
           "   drops and counts:\n"
           "    --remote-format pcap|pcapng (pcap)   --remote-queue BYTES (32 MiB)\n"
           "    --remote-tls [--remote-ca F] [--remote-cert F --remote-key F] "
           "[--remote-no-verify]\n"
           "    [--remote-hostname NAME (the host)]\n";
}

WorkerConfig parseWorkerArgs(const std::vector<std::string>& args) {
    WorkerConfig c;
    int nameModes = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size())
                throw UsageError(a + ": missing value");
            return args[++i];
        };
        if (a == "--ring")
            c.ring = value();
        else if (a == "--name")
            c.name = value();
        else if (a == "--path")
            c.naming.path = value();
        else if (a == "--remote-format") {
            const std::string f = value();
            if (f != "pcap" && f != "pcapng")
                throw ConfigError("--remote-format: expected pcap or pcapng, got \"" + f + "\"");
            c.remote.pcapng = f == "pcapng";
        } else if (a == "--remote-queue")
            c.remote.queueBytes = parseCount(a, value());
        else if (a == "--remote-tls")
            c.remote.tls = true;
        else if (a == "--remote-no-verify")
            c.remote.verify = false;
        else if (a == "--remote-ca")
            c.remote.caFile = value();
        else if (a == "--remote-cert")
            c.remote.certFile = value();
        else if (a == "--remote-key")
            c.remote.keyFile = value();
        else if (a == "--remote-hostname")
            c.remote.tlsHostname = value();
        else if (a == "--mode") {
            c.mode = value();
            std::transform(c.mode.begin(), c.mode.end(), c.mode.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        } else if (a == "--split-time")
            c.split.splitTimeNs = parseCount(a, value());
        else if (a == "--split-byte")
            c.split.splitBytes = parseCount(a, value());
        else if (a == "--max-file-size")
            c.split.maxFileBytes = parseCount(a, value());
        else if (a == "--rotate-localtime")
            c.split.localtime = LocaltimeRotation::parse(value());
        else if (a == "--filter")
            c.filter = value();
        else if (a == "--suffix")
            c.naming.suffix = value();
        else if (a == "--completed-path")
            c.completedPath = value();
        else if (a == "--format") {
            const std::string f = value();
            if (f == "pcap")
                c.format = OutputFormat::Pcap;
            else if (f == "pcapng")
                c.format = OutputFormat::Pcapng;
            else if (f == "auto")
                c.format = OutputFormat::Auto;
            else
                throw ConfigError("--format: expected pcap, pcapng or auto, got \"" + f + "\"");
        } else if (a == "--file-per-connection")
            c.filePerConnection = true;
        else if (a == "--file-mode") {
            const std::string m = value();
            char* end = nullptr;
            const unsigned long mode = std::strtoul(m.c_str(), &end, 8);
            if (m.empty() || *end != '\0' || mode > 07777)
                throw ConfigError("--file-mode: expected an octal mode such as 0440, got \"" + m +
                                  "\"");
            c.fileMode = static_cast<unsigned>(mode);
        } else if (a == "--no-fsync")
            c.fsync = false;
        else if (a == "--idle-grace-ms")
            c.idleGraceNs = parseCount(a, value()) * 1'000'000ULL;
        else if (a == "--log-dir")
            c.logDir = value();
        else if (a == "--quiet")
            c.quietConsole = true;
        else if (a == "--ready-fd")
            c.readyFd = static_cast<int>(parseCount(a, value()));
        else if (a == "--events-fd")
            c.eventsFd = static_cast<int>(parseCount(a, value()));
        else if (a == "--check")
            c.check = true;
        else if (a == "--spool-dir")
            c.spoolDir = value();
        else if (a == "--spool-max")
            c.spoolMaxBytes = parseCount(a, value());
        else if (a == "--uploads")
            c.uploads = static_cast<unsigned>(parseCount(a, value()));
        else if (a == "--keep-local")
            c.keepLocal = true;
        else if (a == "--rclone")
            c.rclonePath = value();
        else if (a == "--rclone-config")
            c.rcloneConfig = value();
        else if (a == "--upload-retries")
            c.uploadRetries = static_cast<unsigned>(parseCount(a, value()));
        else if (a == "--upload-backoff-max-ms")
            c.uploadBackoffMaxMs = parseCount(a, value());
        else if (a == "--sources") {
            std::stringstream in(value());
            std::string item;
            while (std::getline(in, item, ',')) {
                const std::uint64_t id = parseCount("--sources", item);
                if (id > 0xffff)
                    throw ConfigError("--sources: id out of range: " + item);
                c.sources.push_back(static_cast<std::uint16_t>(id));
            }
        } else if (a == "--filename-strftime") {
            c.naming.mode = NameMode::Strftime;
            c.naming.strftimeFormat = value();
            ++nameModes;
        } else if (auto it = nameFlags().find(a); it != nameFlags().end()) {
            c.naming.mode = it->second;
            ++nameModes;
        } else {
            throw UsageError("unknown option '" + a + "'");
        }
    }
    if (c.name.empty())
        throw UsageError("--name is required");
    const std::string target = "target '" + c.name + "': ";
    if (c.ring.empty() && !c.check)
        throw UsageError(target + "--ring is required");
    if (c.naming.path.empty())
        throw ConfigError(target + "--path is required");
    if (nameModes > 1)
        throw ConfigError(target + "more than one --filename-* mode given");
    if (c.mode != "file" && c.format != OutputFormat::Pcap)
        throw ConfigError(target + "--format " +
                          (c.format == OutputFormat::Auto ? "auto" : "pcapng") +
                          " is only supported with --mode file");
    if (c.mode == "rclone") {
        if (c.spoolDir.empty())
            throw ConfigError(target + "--mode rclone needs --spool-dir");
        if (!c.completedPath.empty())
            throw ConfigError(target + "--completed-path has no meaning with --mode rclone");
        if (c.uploads == 0 || c.uploads > 64)
            throw ConfigError(target + "--uploads: must be 1..64");
        RemotePath remote;
        try {
            remote = splitRemotePath(c.naming.path);
        } catch (const ConfigError& e) {
            throw ConfigError(target + "--path: " + e.what());
        }
        c.remotePath = c.naming.path;
        // The spool is named exactly like a File target whose Path is SPOOL/prefix: the same
        // names then appear on the remote under the remote directory.
        c.naming.path = c.spoolDir + "/" + remote.prefix;
    } else if (c.mode == "remote") {
        // HOST:PORT or [V6]:PORT.
        const std::string& hp = c.naming.path;
        const std::size_t colon = hp.rfind(':');
        std::string host = colon == std::string::npos ? "" : hp.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        std::uint64_t port = 0;
        try {
            port = colon == std::string::npos ? 0 : parseCount("port", hp.substr(colon + 1));
        } catch (const ConfigError&) {
            port = 0;
        }
        if (host.empty() || port == 0 || port > 65535)
            throw ConfigError(target + "--path: expected the collector as HOST:PORT, got \"" + hp +
                              "\"");
        c.remote.host = host;
        c.remote.port = static_cast<std::uint16_t>(port);
        if (c.remote.tls && c.remote.verify && c.remote.caFile.empty())
            throw ConfigError(target + "--remote-tls needs --remote-ca (or --remote-no-verify)");
        if (!c.completedPath.empty())
            throw ConfigError(target + "--completed-path has no meaning with --mode remote");
    } else if (c.mode != "file") {
        throw ConfigError(target + "Mode \"" + c.mode +
                          "\" is not supported by this worker (file, rclone or remote)");
    }
    if (c.naming.path.size() > 1024)
        throw ConfigError(target + "--path is too long");
    c.naming.osmoSource = c.name;
    return c;
}

}  // namespace pushcap::workers
