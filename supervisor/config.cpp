#include "supervisor/config.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <lua.hpp>
#include <sstream>

#include "router/ring_layout.hpp"
#include "supervisor/collector_lua.hpp"
#include "supervisor/collector_outputs.hpp"
#include "supervisor/config_error.hpp"
#include "supervisor/lua_reader.hpp"
#include "supervisor/lua_sandbox.hpp"
#include "workers/config_error.hpp"
#include "workers/number_parse.hpp"
#include "workers/rclone_remote.hpp"

namespace pushcap::supervisor {
namespace {

const std::vector<std::string> TOP_KEYS = {
    "Target",      "Instance",       "Interface",      "Snaplen",  "RingSize",
    "RingMode",    "StatusEndpoint", "StatusInterval", "LogDir",   "User",
    "FollowStart", "Decap",          "TimeoutRing",    "StateDir", "Collector"};
const std::vector<std::string> IGNORED_FMADIO_KEYS = {"FollowStart", "Decap", "TimeoutRing"};
const std::vector<std::string> TARGET_KEYS = {
    "Desc",           "Mode",         "Path",          "Split",        "FileName",
    "FilterBPF",      "FileSuffix",   "CompletedPath", "MaxFileSize",  "RotateLocaltime",
    "IdleGrace",      "Source",       "PipeCmd",       "SplitCmd",     "CPU",
    "Post",           "RcloneConfig", "RclonePath",    "SpoolDir",     "SpoolMax",
    "Uploads",        "KeepLocal",    "UploadRetries", "RemoteFormat", "RemoteQueue",
    "RemoteTLS",      "RemoteVerify", "RemoteCA",      "RemoteCert",   "RemoteKey",
    "RemoteHostname", "Delivery",     "Fsync"};
const std::vector<std::string> REMOTE_TARGET_KEYS = {"RemoteFormat", "RemoteQueue",   "RemoteTLS",
                                                     "RemoteVerify", "RemoteCA",      "RemoteCert",
                                                     "RemoteKey",    "RemoteHostname"};
const std::vector<std::string> RCLONE_TARGET_KEYS = {
    "RcloneConfig", "RclonePath", "SpoolDir", "SpoolMax", "Uploads", "KeepLocal", "UploadRetries"};
const std::vector<std::string> UNSUPPORTED_TARGET_KEYS = {"PipeCmd", "SplitCmd", "CPU", "Post"};
const std::vector<std::string> FILENAME_FLAGS = {
    "--filename-epoch-sec-startend", "--filename-epoch-sec",      "--filename-epoch-msec",
    "--filename-epoch-usec",         "--filename-epoch-nsec",     "--filename-tstr-HHMM",
    "--filename-tstr-HHMMSS",        "--filename-tstr-HHMMSS_TZ", "--filename-tstr-HHMMSS_NS",
    "--filename-tstr-HHMMSS_SUB",    "--filename-strftime",       "--filename-osmo"};
const std::vector<std::string> LOCALTIME_UNITS = {"second", "minute", "hour",
                                                  "day",    "month",  "year"};

bool contains(const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

void checkFilter(LuaReader& r, const std::string& where, const std::string& filter) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    bpf_program program{};
    if (pcap_compile(dead, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        r.error(where, "FilterBPF: " + quoted(filter) + ": " + pcap_geterr(dead));
    } else {
        pcap_freecode(&program);
    }
    pcap_close(dead);
}

void checkRotateLocaltime(LuaReader& r, const std::string& where, const std::string& spec) {
    if (!validRotateLocaltime(spec)) {
        r.error(
            where,
            "RotateLocaltime: expected \"UNIT\" or \"UNIT mod N\" with UNIT one of second, minute, "
            "hour, day, month, year, got " +
                quoted(spec));
    }
}

void checkFileName(LuaReader& r, const std::string& where, const std::string& text,
                   TargetConfig& t) {
    std::string trimmed = text;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
        trimmed.pop_back();
    std::size_t start = trimmed.find_first_not_of(" \t");
    trimmed = start == std::string::npos ? "" : trimmed.substr(start);
    const std::string strftimeFlag = "--filename-strftime";
    if (trimmed.rfind(strftimeFlag, 0) == 0) {
        std::string fmt = trimmed.substr(strftimeFlag.size());
        std::size_t s = fmt.find_first_not_of(" \t");
        fmt = s == std::string::npos ? "" : fmt.substr(s);
        if (fmt.size() >= 2 && (fmt.front() == '"' || fmt.front() == '\'') &&
            fmt.back() == fmt.front()) {
            fmt = fmt.substr(1, fmt.size() - 2);
        }
        if (fmt.empty()) {
            r.error(where,
                    "FileName: --filename-strftime needs a format, e.g. \"--filename-strftime "
                    "%Y%m%d_%H%M\"");
            return;
        }
        t.fileNameFlag = strftimeFlag;
        t.fileNameFormat = fmt;
        return;
    }
    if (!contains(FILENAME_FLAGS, trimmed) || trimmed == strftimeFlag) {
        std::string hint = closestWord(trimmed, FILENAME_FLAGS);
        r.error(where, "FileName: unknown naming mode " + quoted(text) +
                           (hint.empty() ? "" : " (did you mean " + quoted(hint) + "?)"));
        return;
    }
    t.fileNameFlag = trimmed;
}

void checkName(LuaReader& r, const std::string& where, const std::string& key,
               const std::string& v) {
    bool ok = !v.empty() && v.size() <= 63;
    for (char c : v)
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    if (!ok)
        r.error(where, key + ": " + quoted(v) + " must be 1-63 letters, digits, '_', '-' or '.'");
}

TargetConfig readTarget(lua_State* L, LuaReader& r, int index) {
    TargetConfig t;
    t.index = index;
    const int table = lua_gettop(L);
    // Desc first, so every other message can name the target.
    lua_getfield(L, table, "Desc");
    std::string prefix = "Target[" + std::to_string(index) + "]";
    if (lua_isnil(L, -1)) {
        r.error(prefix + ": ", "Desc: missing (every target needs a name)");
    } else if (r.string(-1, prefix + ": ", "Desc", t.desc)) {
        prefix += " " + quoted(t.desc);
        checkName(r, prefix + ": ", "Desc", t.desc);
    }
    lua_pop(L, 1);
    const std::string where = prefix + ": ";

    bool hasPath = false;
    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            r.error(where, "keys must be names, got " + describeLua(L, -2));
            lua_pop(L, 1);
            continue;
        }
        const std::string key = lua_tostring(L, -2);
        std::string s;
        std::uint64_t n = 0;
        if (key == "Desc") {
        } else if (key == "Mode") {
            if (r.string(-1, where, key, s)) {
                std::string m = lowerCase(s);
                if (m == "file")
                    t.mode = TargetMode::File;
                else if (m == "rclone")
                    t.mode = TargetMode::Rclone;
                else if (m == "remote")
                    t.mode = TargetMode::Remote;
                else
                    r.error(where,
                            "Mode: expected \"File\", \"RCLONE\" or \"Remote\", got " + quoted(s));
            }
        } else if (key == "Path") {
            if (r.string(-1, where, key, t.path))
                hasPath = !t.path.empty();
            if (t.path.empty())
                r.error(where, "Path: must not be empty");
        } else if (key == "Split") {
            if (r.string(-1, where, key, s)) {
                try {
                    parseSplit(where, s, t);
                } catch (const ConfigError& e) {
                    r.error("", e.what());
                }
            }
        } else if (key == "FileName") {
            if (r.string(-1, where, key, s))
                checkFileName(r, where, s, t);
        } else if (key == "FilterBPF") {
            if (r.string(-1, where, key, t.filter) && !t.filter.empty())
                checkFilter(r, where, t.filter);
        } else if (key == "FileSuffix") {
            r.string(-1, where, key, t.suffix);
            if (t.suffix.find('/') != std::string::npos)
                r.error(where, "FileSuffix: must not contain '/'");
        } else if (key == "CompletedPath") {
            r.string(-1, where, key, t.completedPath);
        } else if (key == "MaxFileSize") {
            r.count(-1, where, key, t.maxFileSize);
        } else if (key == "RotateLocaltime") {
            if (r.string(-1, where, key, t.rotateLocaltime))
                checkRotateLocaltime(r, where, t.rotateLocaltime);
        } else if (key == "IdleGrace") {
            if (r.count(-1, where, key, n))
                t.idleGraceMs = n * 1000;
        } else if (key == "Source") {
            if (r.stringList(-1, where, key, t.sources) &&
                t.sources.size() > router::TRACKED_SOURCES) {
                r.error(where, "Source: names " + std::to_string(t.sources.size()) +
                                   " sources; a target reads at most " +
                                   std::to_string(router::TRACKED_SOURCES) +
                                   " (leave Source out for every source)");
            }
        } else if (key == "RcloneConfig") {
            r.string(-1, where, key, t.rcloneConfig);
        } else if (key == "RclonePath") {
            r.string(-1, where, key, t.rclonePath);
        } else if (key == "SpoolDir") {
            if (r.string(-1, where, key, t.spoolDir) && t.spoolDir.empty())
                r.error(where, "SpoolDir: must not be empty");
        } else if (key == "SpoolMax") {
            r.count(-1, where, key, t.spoolMax);
        } else if (key == "Uploads") {
            if (r.count(-1, where, key, t.uploads) && (t.uploads == 0 || t.uploads > 64))
                r.error(where, "Uploads: must be 1..64, got " + std::to_string(t.uploads));
        } else if (key == "KeepLocal") {
            if (r.boolean(-1, where, key))
                t.keepLocal = lua_toboolean(L, -1) != 0;
        } else if (key == "UploadRetries") {
            r.count(-1, where, key, t.uploadRetries);
        } else if (key == "RemoteFormat") {
            if (r.string(-1, where, key, t.remoteFormat) && t.remoteFormat != "pcap" &&
                t.remoteFormat != "pcapng")
                r.error(where, "RemoteFormat: expected \"pcap\" or \"pcapng\", got " +
                                   quoted(t.remoteFormat));
        } else if (key == "RemoteQueue") {
            r.count(-1, where, key, t.remoteQueue);
        } else if (key == "RemoteTLS") {
            if (r.boolean(-1, where, key))
                t.remoteTls = lua_toboolean(L, -1) != 0;
        } else if (key == "RemoteVerify") {
            if (r.boolean(-1, where, key))
                t.remoteVerify = lua_toboolean(L, -1) != 0;
        } else if (key == "RemoteCA") {
            r.string(-1, where, key, t.remoteCa);
        } else if (key == "RemoteCert") {
            r.string(-1, where, key, t.remoteCert);
        } else if (key == "RemoteKey") {
            r.string(-1, where, key, t.remoteKey);
        } else if (key == "RemoteHostname") {
            r.string(-1, where, key, t.remoteHostname);
        } else if (key == "Fsync") {
            if (r.boolean(-1, where, key))
                t.fsync = lua_toboolean(L, -1) != 0;
        } else if (key == "Delivery") {
            if (r.string(-1, where, key, s)) {
                if (const std::string why = parseDeliveryChoice(s, t.delivery); !why.empty())
                    r.error(where, "Delivery: " + why);
            }
        } else if (contains(UNSUPPORTED_TARGET_KEYS, key)) {
            r.error(where, key + ": not supported by this version of pushcap yet; remove it");
        } else {
            r.unknownKey(where, key, TARGET_KEYS);
        }
        lua_pop(L, 1);
    }
    if (!hasPath && t.path.empty())
        r.error(where, "Path: missing (a directory plus file-name prefix)");
    if (t.mode == TargetMode::Remote) {
        const std::size_t colon = t.path.rfind(':');
        std::uint64_t port = 0;
        if (hasPath && (colon == std::string::npos || colon == 0 ||
                        !parseCount(t.path.substr(colon + 1), port) || port == 0 || port > 65535))
            r.error(where, "Path: a Remote target's Path is the collector's \"HOST:PORT\", got " +
                               quoted(t.path));
        if (t.remoteTls && t.remoteVerify && t.remoteCa.empty())
            r.error(where, "RemoteCA: needed to verify the collector (or RemoteVerify = false)");
        if (!t.completedPath.empty())
            r.error(where, "CompletedPath: has no meaning with Mode \"Remote\"");
        lua_getfield(L, table, "Fsync");
        if (!lua_isnil(L, -1))
            r.error(where, "Fsync: has no meaning with Mode \"Remote\" (it writes no files)");
        lua_pop(L, 1);
    } else {
        for (const std::string& key : REMOTE_TARGET_KEYS) {
            lua_getfield(L, table, key.c_str());
            if (!lua_isnil(L, -1))
                r.error(where, key + ": only used with Mode = \"Remote\"");
            lua_pop(L, 1);
        }
    }
    if (t.mode == TargetMode::Rclone) {
        if (hasPath) {
            try {
                workers::splitRemotePath(t.path);
            } catch (const workers::ConfigError& e) {
                r.error(where, e.what());
            }
        }
        if (!t.completedPath.empty())
            r.error(where, "CompletedPath: has no meaning with Mode \"RCLONE\" (files go to Path)");
    } else {
        // Present but unused would hide a forgotten Mode = "RCLONE".
        for (const std::string& key : RCLONE_TARGET_KEYS) {
            lua_getfield(L, table, key.c_str());
            if (!lua_isnil(L, -1))
                r.error(where, key + ": only used with Mode = \"RCLONE\"");
            lua_pop(L, 1);
        }
    }
    return t;
}

}  // namespace

bool validRotateLocaltime(const std::string& spec) {
    const std::vector<std::string> w = splitWords(spec);
    std::uint64_t n = 0;
    return (w.size() == 1 || (w.size() == 3 && w[1] == "mod" && parseCount(w[2], n) && n > 0)) &&
           contains(LOCALTIME_UNITS, w[0]);
}

bool parseCount(const std::string& text, std::uint64_t& value) {
    // One parser for the numbers FMADIO configs hold, shared with the worker that will use them.
    try {
        value = workers::parseCount("number", text);
        return true;
    } catch (const workers::ConfigError&) {
        return false;
    }
}

void parseSplit(const std::string& where, const std::string& split, TargetConfig& target) {
    const std::vector<std::string> w = splitWords(split);
    auto bad = [&] {
        throw ConfigError(where +
                          "Split: expected \"--split-time NS\" or \"--split-byte N\", got " +
                          quoted(split));
    };
    if (w.empty() || w.size() % 2 != 0)
        bad();
    for (std::size_t i = 0; i < w.size(); i += 2) {
        std::uint64_t v = 0;
        if (!parseCount(w[i + 1], v) || v == 0)
            bad();
        if (w[i] == "--split-time")
            target.splitTimeNs = v;
        else if (w[i] == "--split-byte")
            target.splitBytes = v;
        else
            bad();
    }
}

std::string closestWord(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t bestDistance = ~std::size_t{0};
    const std::string a = lowerCase(word);
    for (const std::string& candidate : candidates) {
        const std::string b = lowerCase(candidate);
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j)
            row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                std::size_t next = std::min(
                    {row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diagonal = row[j];
                row[j] = next;
            }
        }
        if (row[b.size()] < bestDistance) {
            bestDistance = row[b.size()];
            best = candidate;
        }
    }
    // Only suggest what is plausibly a typo.
    return bestDistance <= std::max<std::size_t>(2, word.size() / 3) ? best : "";
}

std::string TargetConfig::label() const {
    if (!collectorClient.empty())
        return "Collector client " + quoted(collectorClient) + " output";
    return "Target[" + std::to_string(index) + "] " + quoted(desc);
}

namespace {

// Default and "lossless" run alike in every ring (lossless where the ring may wait, best-effort
// in a live one): writing down the default must not restart the target on a reload.
int deliveryKey(DeliveryChoice d) {
    return static_cast<int>(d == DeliveryChoice::Default ? DeliveryChoice::Lossless : d);
}

}  // namespace

std::string TargetConfig::fingerprint() const {
    std::ostringstream out;
    out << desc << '\n'
        << static_cast<int>(mode) << '\n'
        << path << '\n'
        << splitTimeNs << '\n'
        << splitBytes << '\n'
        << fileNameFlag << '\n'
        << fileNameFormat << '\n'
        << filter << '\n'
        << suffix << '\n'
        << completedPath << '\n'
        << maxFileSize << '\n'
        << rotateLocaltime << '\n'
        << idleGraceMs << '\n'
        << rclonePath << '\n'
        << rcloneConfig << '\n'
        << spoolDir << '\n'
        << spoolMax << '\n'
        << uploads << '\n'
        << keepLocal << '\n'
        << uploadRetries << '\n'
        << remoteFormat << '\n'
        << remoteQueue << '\n'
        << remoteTls << remoteVerify << '\n'
        << remoteCa << '\n'
        << remoteCert << '\n'
        << remoteKey << '\n'
        << remoteHostname << '\n'
        << collectorClient << '\n'
        << fileMode << '\n'
        << deliveryKey(delivery) << '\n'
        << fsync << '\n';
    for (const std::string& s : sources)
        out << s << ',';
    return out.str();
}

namespace {

// Where a File target's files go: the directory and the prefix every one of its names starts
// with, as the worker's FileNamer builds them (the osmo name's "trace-<name>-" included).
std::pair<std::string, std::string> fileSpace(const TargetConfig& t) {
    const std::size_t slash = t.path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : t.path.substr(0, slash);
    std::string prefix = slash == std::string::npos ? t.path : t.path.substr(slash + 1);
    if (!prefix.empty())
        prefix += "_";
    if (t.fileNameFlag == "--filename-osmo")
        prefix += "trace-" + t.desc + "-";
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    return {dir.empty() ? "/" : dir, prefix};
}

void checkDistinctPaths(LuaReader& r, const std::vector<TargetConfig>& targets) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (targets[i].mode != TargetMode::File)
            continue;
        const auto [dirI, prefixI] = fileSpace(targets[i]);
        for (std::size_t j = 0; j < i; ++j) {
            if (targets[j].mode != TargetMode::File)
                continue;
            const auto [dirJ, prefixJ] = fileSpace(targets[j]);
            if (dirI != dirJ || (prefixI.rfind(prefixJ, 0) != 0 && prefixJ.rfind(prefixI, 0) != 0))
                continue;
            r.error(targets[i].label() + ": ",
                    "Path " + quoted(targets[i].path) + " overlaps " + targets[j].label() +
                        "'s Path " + quoted(targets[j].path) +
                        ": one target's file names would match the other's, so their files "
                        "mix and a restarted worker would complete the other's open file; "
                        "give each target its own directory or Path prefix");
        }
    }
}

}  // namespace

PushConfig loadConfig(const std::string& path) {
    LuaSandbox box;
    box.runFile(path);
    lua_State* L = box.state();
    const int table = lua_gettop(L);
    PushConfig cfg;
    cfg.file = path;
    LuaReader r(L);
    const std::string where = path + ": Config: ";

    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            r.error(path + ": ", "Config keys must be names, got " + describeLua(L, -2));
            lua_pop(L, 1);
            continue;
        }
        const std::string key = lua_tostring(L, -2);
        std::string s;
        std::uint64_t n = 0;
        if (key == "Target") {
            if (!lua_istable(L, -1)) {
                r.error(where, "Target: expected a list of targets, got " + describeLua(L, -1));
            } else {
                lua_Integer count = luaL_len(L, -1);
                for (lua_Integer i = 1; i <= count; ++i) {
                    lua_geti(L, -1, i);
                    if (lua_istable(L, -1)) {
                        cfg.targets.push_back(readTarget(L, r, static_cast<int>(i)));
                    } else {
                        r.error("Target[" + std::to_string(i) + "]: ",
                                "expected a table, got " + describeLua(L, -1));
                    }
                    lua_pop(L, 1);
                }
            }
        } else if (key == "Instance") {
            if (r.string(-1, where, key, cfg.instance))
                checkName(r, where, key, cfg.instance);
        } else if (key == "Interface") {
            r.stringList(-1, where, key, cfg.interfaces);
        } else if (key == "Snaplen") {
            if (r.count(-1, where, key, n)) {
                if (n < 64 || n > 262144)
                    r.error(where, "Snaplen: must be 64..262144, got " + std::to_string(n));
                cfg.snaplen = static_cast<std::uint32_t>(n);
            }
        } else if (key == "RingSize") {
            if (r.count(-1, where, key, n)) {
                if (n < (1u << 20) || (n & (n - 1)) != 0) {
                    r.error(
                        where,
                        "RingSize: must be a power of two of at least 1 MiB (e.g. 256*2^20), got " +
                            std::to_string(n));
                }
                cfg.ringBytes = n;
                cfg.ringBytesSet = true;
            }
        } else if (key == "RingMode") {
            if (r.string(-1, where, key, s)) {
                if (lowerCase(s) == "live")
                    cfg.ringMode = RingModeChoice::Live;
                else if (lowerCase(s) == "lossless")
                    cfg.ringMode = RingModeChoice::Lossless;
                else
                    r.error(where, "RingMode: expected \"live\" or \"lossless\", got " + quoted(s));
            }
        } else if (key == "StatusEndpoint") {
            r.string(-1, where, key, cfg.statusEndpoint);
        } else if (key == "StatusInterval") {
            if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0) {
                cfg.statusIntervalMs = static_cast<std::uint64_t>(lua_tonumber(L, -1) * 1000);
            } else {
                r.error(where, "StatusInterval: expected seconds (> 0), got " + describeLua(L, -1));
            }
        } else if (key == "LogDir") {
            r.string(-1, where, key, cfg.logDir);
        } else if (key == "User") {
            r.string(-1, where, key, cfg.user);
        } else if (key == "StateDir") {
            if (r.string(-1, where, key, cfg.stateDir) && cfg.stateDir.empty())
                r.error(where, "StateDir: must not be empty");
        } else if (key == "Collector") {
            cfg.collector = readCollector(r, -1);
        } else if (contains(IGNORED_FMADIO_KEYS, key)) {
            cfg.notices.push_back("Config." + key +
                                  " is an FMADIO setting with no meaning for pushcap; ignored");
        } else {
            r.unknownKey(where, key, TOP_KEYS);
        }
        lua_pop(L, 1);
    }
    // After the loop: StateDir may come after Target in the table.
    for (TargetConfig& t : cfg.targets) {
        if (t.mode == TargetMode::Rclone && t.spoolDir.empty() && !t.desc.empty())
            t.spoolDir = cfg.stateDir + "/spool/" + t.desc;
    }
    const bool clientOutputs = cfg.collector.enabled && !cfg.collector.output.basePath.empty();
    if (cfg.targets.empty() && !clientOutputs && r.errors().empty()) {
        r.error(where,
                "Target: no targets (add entries with table.insert(Config.Target, {...}), or "
                "Collector.Output for the collector's clients)");
    }
    checkCollectorTargets(r, cfg.collector, cfg.targets);
    for (std::size_t i = 0; i < cfg.targets.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (!cfg.targets[i].desc.empty() && cfg.targets[i].desc == cfg.targets[j].desc) {
                r.error(
                    "Target[" + std::to_string(i + 1) + "] " + quoted(cfg.targets[i].desc) + ": ",
                    "Desc: the same name as Target[" + std::to_string(j + 1) +
                        "]; names must be unique");
            }
        }
    }
    checkDistinctPaths(r, allTargets(cfg));
    if (!r.errors().empty()) {
        std::string all = path + ": " + std::to_string(r.errors().size()) + " error(s):";
        for (const std::string& e : r.errors())
            all += "\n  " + e;
        throw ConfigError(all);
    }
    return cfg;
}

}  // namespace pushcap::supervisor
