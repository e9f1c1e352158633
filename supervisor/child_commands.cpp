#include "supervisor/child_commands.hpp"

#include <algorithm>

#include "supervisor/config_error.hpp"

namespace pushcap::supervisor {

namespace {

void addLogAndSources(std::vector<std::string>& a, const std::string& logDir,
                      const std::vector<int>& sourceIds) {
    if (!logDir.empty())
        a.insert(a.end(), {"--log-dir", logDir, "--quiet"});
    if (!sourceIds.empty()) {
        std::string list;
        for (int id : sourceIds)
            list += (list.empty() ? "" : ",") + std::to_string(id);
        a.insert(a.end(), {"--sources", list});
    }
}

// The worker syncs by default: only turning it off needs saying.
void addFsync(std::vector<std::string>& a, const TargetConfig& t) {
    if (!t.fsync && t.mode != TargetMode::Remote)
        a.push_back("--no-fsync");
}

// NAME=ADDR[:no-store][:tls], as pushcap-capture --client takes it.
std::string clientArgument(const CollectorClient& c) {
    return c.name + "=" + c.address + (c.store ? "" : ":no-store") + (c.tls ? ":tls" : "");
}

void addCollector(std::vector<std::string>& a, const CollectorConfig& c) {
    for (const std::string& l : c.listen)
        a.insert(a.end(), {"--listen", l});
    for (const CollectorClient& client : c.clients)
        a.insert(a.end(), {"--client", clientArgument(client)});
    a.insert(a.end(), {"--max-snaplen", std::to_string(c.maxSnaplen)});
    const std::pair<const char*, const NamedPath*> files[] = {{"--tls-cert", &c.tls.cert},
                                                              {"--tls-key", &c.tls.key},
                                                              {"--tls-ca", &c.tls.ca},
                                                              {"--tls-crl", &c.tls.crl}};
    for (const auto& [flag, file] : files) {
        if (!file->path.empty())
            a.insert(a.end(), {flag, file->path});
    }
    if (!c.tls.priority.empty())
        a.insert(a.end(), {"--tls-priority", c.tls.priority});
    if (!c.tls.clientAuth.empty())
        a.insert(a.end(), {"--tls-client-auth", c.tls.clientAuth});
}

}  // namespace

std::vector<std::string> clientOutputArguments(const TargetConfig& t, const std::string& segment,
                                               const std::string& logDir,
                                               const std::vector<int>& sourceIds) {
    std::vector<std::string> a = {"--ring",          segment,    "--mode", "file",
                                  "--name",          t.desc,     "--path", t.path,
                                  "--filename-osmo", "--format", "auto",   "--file-per-connection"};
    addLogAndSources(a, logDir, sourceIds);
    if (t.maxFileSize != 0)
        a.insert(a.end(), {"--max-file-size", std::to_string(t.maxFileSize)});
    if (!t.rotateLocaltime.empty())
        a.insert(a.end(), {"--rotate-localtime", t.rotateLocaltime});
    if (!t.completedPath.empty())
        a.insert(a.end(), {"--completed-path", t.completedPath});
    if (!t.fileMode.empty())
        a.insert(a.end(), {"--file-mode", t.fileMode});
    addFsync(a, t);
    a.insert(a.end(), {"--idle-grace-ms", std::to_string(t.idleGraceMs)});
    return a;
}

std::vector<std::string> workerArguments(const TargetConfig& t, const std::string& segment,
                                         const std::string& logDir,
                                         const std::vector<int>& sourceIds) {
    if (!t.collectorClient.empty())
        return clientOutputArguments(t, segment, logDir, sourceIds);
    std::vector<std::string> a = {"--ring", segment, "--name", t.desc, "--path", t.path};
    if (t.splitTimeNs != 0)
        a.insert(a.end(), {"--split-time", std::to_string(t.splitTimeNs)});
    if (t.splitBytes != 0)
        a.insert(a.end(), {"--split-byte", std::to_string(t.splitBytes)});
    a.push_back(t.fileNameFlag);
    if (!t.fileNameFormat.empty())
        a.push_back(t.fileNameFormat);
    if (!t.filter.empty())
        a.insert(a.end(), {"--filter", t.filter});
    a.insert(a.end(), {"--suffix", t.suffix});
    if (!t.completedPath.empty())
        a.insert(a.end(), {"--completed-path", t.completedPath});
    if (t.maxFileSize != 0)
        a.insert(a.end(), {"--max-file-size", std::to_string(t.maxFileSize)});
    if (!t.rotateLocaltime.empty())
        a.insert(a.end(), {"--rotate-localtime", t.rotateLocaltime});
    a.insert(a.end(), {"--idle-grace-ms", std::to_string(t.idleGraceMs)});
    addFsync(a, t);
    if (t.mode == TargetMode::Remote) {
        a.insert(a.end(), {"--mode", "remote", "--remote-format", t.remoteFormat});
        if (t.remoteQueue != 0)
            a.insert(a.end(), {"--remote-queue", std::to_string(t.remoteQueue)});
        if (t.remoteTls)
            a.push_back("--remote-tls");
        if (!t.remoteVerify)
            a.push_back("--remote-no-verify");
        if (!t.remoteCa.empty())
            a.insert(a.end(), {"--remote-ca", t.remoteCa});
        if (!t.remoteCert.empty())
            a.insert(a.end(), {"--remote-cert", t.remoteCert});
        if (!t.remoteKey.empty())
            a.insert(a.end(), {"--remote-key", t.remoteKey});
        if (!t.remoteHostname.empty())
            a.insert(a.end(), {"--remote-hostname", t.remoteHostname});
    }
    if (t.mode == TargetMode::Rclone) {
        a.insert(a.end(), {"--mode", "rclone", "--spool-dir", t.spoolDir, "--uploads",
                           std::to_string(t.uploads)});
        if (t.spoolMax != 0)
            a.insert(a.end(), {"--spool-max", std::to_string(t.spoolMax)});
        if (t.keepLocal)
            a.push_back("--keep-local");
        if (!t.rclonePath.empty())
            a.insert(a.end(), {"--rclone", t.rclonePath});
        if (!t.rcloneConfig.empty())
            a.insert(a.end(), {"--rclone-config", t.rcloneConfig});
        if (t.uploadRetries != 0)
            a.insert(a.end(), {"--upload-retries", std::to_string(t.uploadRetries)});
    }
    addLogAndSources(a, logDir, sourceIds);
    return a;
}

std::vector<std::string> captureArguments(const PushConfig& config, const std::string& segment,
                                          const std::vector<std::string>& files,
                                          const std::vector<std::string>& interfaces, bool quiet) {
    std::vector<std::string> a = {"--ring", segment};
    if (quiet)
        a.push_back("--quiet");
    for (const std::string& f : files)
        a.insert(a.end(), {"--file", f});
    for (const std::string& i : interfaces)
        a.insert(a.end(), {"-i", i});
    if (!interfaces.empty())
        a.insert(a.end(), {"--snaplen", std::to_string(config.snaplen)});
    const bool collector = config.collector.enabled && files.empty();
    if (collector)
        addCollector(a, config.collector);
    if ((!interfaces.empty() || collector) && !config.user.empty())
        a.insert(a.end(), {"--user", config.user});
    return a;
}

std::vector<std::string> sourceNames(const std::vector<std::string>& interfaces,
                                     const CollectorConfig& collector) {
    std::vector<std::string> names = interfaces;
    if (collector.enabled) {
        for (const CollectorClient& c : collector.clients)
            names.push_back(c.name);
    }
    return names;
}

std::vector<int> sourceIdsFor(const TargetConfig& t, const std::vector<std::string>& sources) {
    std::vector<int> ids;
    for (const std::string& name : t.sources) {
        auto it = std::find(sources.begin(), sources.end(), name);
        if (it != sources.end()) {
            ids.push_back(static_cast<int>(it - sources.begin()));
        } else if (!name.empty() && name.size() < 6 &&
                   std::all_of(name.begin(), name.end(), ::isdigit)) {
            ids.push_back(std::stoi(name));
        } else {
            const std::string hint = closestWord(name, sources);
            std::string known;
            for (const std::string& s : sources)
                known += (known.empty() ? "" : ", ") + s;
            throw ConfigError(
                t.label() + ": Source: \"" + name +
                "\" is not a captured interface, a collector client or a source "
                "number" +
                (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                (known.empty() ? "; there are no named sources" : "; sources: " + known));
        }
    }
    return ids;
}

std::string shellQuoted(const std::string& program, const std::vector<std::string>& args) {
    auto quote = [](const std::string& s) {
        bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string("-_./=:,%+").find(c) != std::string::npos;
        });
        if (plain)
            return s;
        std::string q = "'";
        for (char c : s)
            q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    std::string out = quote(program);
    for (const std::string& a : args)
        out += " " + quote(a);
    return out;
}

}  // namespace pushcap::supervisor
