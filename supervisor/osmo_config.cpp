#include "supervisor/osmo_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "supervisor/config_error.hpp"
#include "supervisor/lua_reader.hpp"

namespace pushcap::supervisor {
namespace {

const std::vector<std::string> TOP_COMMANDS = {"server", "log",  "logging", "line",
                                               "stats",  "exit", "end"};
const std::vector<std::string> SERVER_COMMANDS = {"base-path",
                                                  "completed-path",
                                                  "file-permission-mask",
                                                  "file-write-queue-max-length",
                                                  "server",
                                                  "rotate-localtime",
                                                  "max-file-size",
                                                  "max-snaplen",
                                                  "client",
                                                  "zeromq-publisher",
                                                  "enable",
                                                  "disable",
                                                  "tls",
                                                  "no",
                                                  "exit",
                                                  "end"};
const std::vector<std::string> TLS_COMMANDS = {"log-level", "priority",    "allow-auth", "capath",
                                               "crlfile",   "server-cert", "server-key", "dh"};
const std::vector<std::string> NO_COMMANDS = {"completed-path", "rotate-localtime", "max-file-size",
                                              "client",         "zeromq-publisher", "tls"};
// osmo-pcap-server's largest `mod N` per unit (a year has no limit).
const std::map<std::string, std::uint64_t> ROTATE_MOD_LIMIT = {
    {"second", 60}, {"minute", 60}, {"hour", 24}, {"day", 31}, {"month", 12}, {"year", ~0ULL}};

struct ClientLine {
    CollectorClient client;
    int line = 0;
};

struct TlsPath {
    std::string path;
    int line = 0;
};

// What the `server` node says, before it becomes a PushConfig.
struct ServerNode {
    bool seen = false;
    std::optional<std::string> basePath;
    std::string completedPath;
    std::string fileMode = OSMO_DEFAULT_FILE_MODE;
    std::string ip;
    std::optional<std::uint32_t> port;
    std::string rotate = OSMO_DEFAULT_ROTATE;
    std::uint64_t maxFileSize = OSMO_DEFAULT_MAX_FILE_SIZE;
    std::uint32_t maxSnaplen = 9000;
    std::vector<ClientLine> clients;
    bool tlsOn = false;
    bool allowAnonymous = false, allowX509 = false;
    std::string priority;
    TlsPath capath, crlfile, cert, key;
};

std::string rtrim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
    return s;
}

// The text after the first `n` words: osmo's `.PATH` arguments take the rest of the line.
std::string restOfLine(const std::string& line, std::size_t n) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) {
        pos = line.find_first_not_of(" \t", pos);
        pos = line.find_first_of(" \t", pos);
        if (pos == std::string::npos)
            return "";
    }
    pos = line.find_first_not_of(" \t", pos);
    return pos == std::string::npos ? "" : rtrim(line.substr(pos));
}

bool number(const std::string& text, std::uint64_t low, std::uint64_t high, std::uint64_t& out) {
    if (text.empty() || text.size() > 19 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    out = std::stoull(text);
    return out >= low && out <= high;
}

class OsmoReader {
  public:
    explicit OsmoReader(std::string file) : m_file(std::move(file)) {}

    PushConfig read(const std::string& text) {
        std::istringstream in(text);
        std::string raw;
        for (int n = 1; std::getline(in, raw); ++n) {
            m_line = n;
            const std::string line = rtrim(raw);
            const std::vector<std::string> w = splitWords(line);
            if (w.empty() || w[0][0] == '!' || w[0][0] == '#')
                continue;
            m_text = line;
            const bool indented = std::isspace(static_cast<unsigned char>(line[0])) != 0;
            if (m_node == Node::Ignored && indented)
                continue;
            if (m_node == Node::Server && (indented || !isTopCommand(w)))
                serverCommand(w);
            else
                topCommand(w, indented);
        }
        return finish();
    }

  private:
    enum class Node { Top, Server, Ignored };

    void error(const std::string& what) {
        m_errors.push_back(m_file + ":" + std::to_string(m_line) + ": " + what);
    }
    void errorAt(int line, const std::string& what) {
        m_errors.push_back(m_file + ":" + std::to_string(line) + ": " + what);
    }
    void notice(const std::string& what) {
        const std::string text = m_file + ":" + std::to_string(m_line) + ": " + what;
        if (std::find(m_notices.begin(), m_notices.end(), text) == m_notices.end())
            m_notices.push_back(text);
    }
    void unknown(const std::string& kind, const std::string& word,
                 const std::vector<std::string>& known) {
        const std::string hint = closestWord(word, known);
        error("unknown " + kind + " " + quoted(word) +
              (hint.empty() ? "" : " (did you mean " + quoted(hint) + "?)"));
    }
    void usage(const std::string& syntax) {
        error("expected `" + syntax + "`, got `" + trimmedText() + "`");
    }
    std::string trimmedText() const { return restOfLine(m_text, 0); }

    static bool isTopCommand(const std::vector<std::string>& w) {
        // `server ip ...` is a server command; a lone `server` (re)enters the node.
        if (w[0] == "server")
            return w.size() == 1;
        return std::find(TOP_COMMANDS.begin(), TOP_COMMANDS.end(), w[0]) != TOP_COMMANDS.end();
    }

    void topCommand(const std::vector<std::string>& w, bool indented) {
        const std::string& c = w[0];
        if (c == "server" && w.size() == 1) {
            m_node = Node::Server;
            m_server.seen = true;
        } else if (c == "log" || c == "logging") {
            m_node = c == "log" ? Node::Ignored : m_node;
            notice("`" + trimmedText() +
                   "`: osmo-pcap's logging settings are ignored (pushcapd logs to stderr, or "
                   "LogDir with -D; -v for debug)");
        } else if (c == "line" && w.size() == 2 && w[1] == "vty") {
            m_node = Node::Ignored;
            notice(
                "`line vty` block ignored: pushcap has no VTY; watch it with pushcap-status "
                "(the --status endpoint)");
        } else if (c == "stats") {
            m_node = Node::Ignored;
            notice("`" + trimmedText() +
                   "` ignored: pushcap publishes its counters on the --status endpoint and to "
                   "Prometheus (pushcap-web)");
        } else if (c == "exit" || c == "end") {
            m_node = Node::Top;
        } else if (indented && m_node == Node::Top) {
            error("`" + trimmedText() + "` is outside a block (a `server` line must come first)");
        } else {
            unknown("command", c, TOP_COMMANDS);
        }
    }

    void serverCommand(const std::vector<std::string>& w) {
        const std::string& c = w[0];
        const std::size_t n = w.size();
        std::uint64_t v = 0;
        if (c == "base-path" || c == "completed-path") {
            const std::string path = restOfLine(m_text, 1);
            if (path.empty())
                usage(c + " PATH");
            else if (c == "base-path")
                m_server.basePath = path;
            else
                m_server.completedPath = path;
        } else if (c == "file-permission-mask") {
            if (n != 2)
                usage("file-permission-mask MODE");
            else if (const std::string why = fileModeProblem(w[1]); !why.empty())
                error("file-permission-mask: " + quoted(w[1]) + " " + why);
            else
                m_server.fileMode = w[1];
        } else if (c == "file-write-queue-max-length") {
            if (n != 2 || !number(w[1], 0, ~0U, v))
                usage("file-write-queue-max-length N");
            else
                notice(
                    "file-write-queue-max-length: accepted, no meaning for pushcap (its writers "
                    "never drop for a full queue; a lagging output shows as lag in status)");
        } else if (c == "server") {
            serverAddress(w);
        } else if (c == "rotate-localtime") {
            rotate(w);
        } else if (c == "max-file-size") {
            if (n != 2 || !number(w[1], 1, ~0ULL >> 1, v))
                usage("max-file-size BYTES (more than 0; `no max-file-size` for no limit)");
            else
                m_server.maxFileSize = v;
        } else if (c == "max-snaplen") {
            if (n != 2 || !number(w[1], 1, MAX_SNAPLEN_LIMIT, v))
                usage("max-snaplen <1-262144>");
            else
                m_server.maxSnaplen = static_cast<std::uint32_t>(v);
        } else if (c == "client") {
            client(w);
        } else if (c == "zeromq-publisher") {
            error(
                "zeromq-publisher: pushcap has no osmo-pcap ZeroMQ publisher (topics "
                "event.v1.* and data.v1.*); its status stream is protobuf on ZeroMQ, on the "
                "--status endpoint (docs/supervisor.md, `pushcap-status --json`). Remove this "
                "line");
        } else if ((c == "enable" || c == "disable") && n == 2 && w[1] == "tls") {
            m_server.tlsOn = c == "enable";
        } else if (c == "enable" || c == "disable") {
            usage(c + " tls");
        } else if (c == "tls") {
            tls(w);
        } else if (c == "no") {
            negation(w);
        } else if (c == "exit" || c == "end") {
            m_node = Node::Top;
        } else {
            unknown("server command", c, SERVER_COMMANDS);
        }
    }

    void serverAddress(const std::vector<std::string>& w) {
        std::uint64_t v = 0;
        if (w.size() == 3 && w[1] == "ip") {
            if (w[2].find('/') != std::string::npos || !addressProblem(w[2]).empty())
                error("server ip: " + quoted(w[2]) + " is not an IP address");
            else
                m_server.ip = w[2];
        } else if (w.size() == 3 && w[1] == "port") {
            if (!number(w[2], 1, 65535, v))
                usage("server port <1-65535>");
            else
                m_server.port = static_cast<std::uint32_t>(v);
        } else if (w.size() == 3 && w[1] == "max-snaplen") {
            // osmo-pcap 0.8.0 saves max-snaplen under this name, which it does not read back.
            if (!number(w[2], 1, MAX_SNAPLEN_LIMIT, v))
                usage("server max-snaplen <1-262144>");
            else
                m_server.maxSnaplen = static_cast<std::uint32_t>(v);
        } else if (w.size() >= 2 && w[1] != "ip" && w[1] != "port" && w[1] != "max-snaplen") {
            unknown("server setting", w[1], {"ip", "port", "max-snaplen"});
        } else {
            usage("server ip A.B.C.D` or `server port <1-65535>");
        }
    }

    void rotate(const std::vector<std::string>& w) {
        std::uint64_t mod = 1;
        const auto limit = w.size() >= 2 ? ROTATE_MOD_LIMIT.find(w[1]) : ROTATE_MOD_LIMIT.end();
        if (limit == ROTATE_MOD_LIMIT.end() || (w.size() != 2 && w.size() != 4) ||
            (w.size() == 4 && (w[2] != "mod" || !number(w[3], 1, ~0U, mod)))) {
            usage("rotate-localtime (second|minute|hour|day|month|year) [mod N]");
            return;
        }
        if (mod > limit->second) {
            error("rotate-localtime: mod " + w[3] + " is too big for " + w[1] + " (at most " +
                  std::to_string(limit->second) + ")");
            return;
        }
        m_server.rotate = w.size() == 2 ? w[1] : w[1] + " mod " + w[3];
    }

    void client(const std::vector<std::string>& w) {
        CollectorClient c;
        std::size_t i = 3;
        if (w.size() < 3) {
            usage("client NAME A.B.C.D [(store|no-store)] [tls]");
            return;
        }
        c.name = w[1];
        c.address = w[2];
        if (i < w.size() && (w[i] == "store" || w[i] == "no-store"))
            c.store = w[i++] == "store";
        if (i < w.size() && w[i] == "tls") {
            c.tls = true;
            ++i;
        }
        if (i != w.size()) {
            usage("client NAME A.B.C.D [(store|no-store)] [tls]");
            return;
        }
        if (const std::string why = clientNameProblem(c.name); !why.empty()) {
            error("client " + quoted(c.name) + ": the name " + why);
            return;
        }
        if (const std::string why = addressProblem(c.address); !why.empty()) {
            error("client " + quoted(c.name) + ": " + quoted(c.address) + " " + why);
            return;
        }
        // As osmo-pcap-server: naming a client again changes it in place.
        for (ClientLine& old : m_server.clients) {
            if (old.client.name == c.name) {
                old = ClientLine{c, m_line};
                return;
            }
        }
        m_server.clients.push_back(ClientLine{c, m_line});
    }

    void tls(const std::vector<std::string>& w) {
        const std::size_t n = w.size();
        std::uint64_t v = 0;
        const std::string sub = n >= 2 ? w[1] : "";
        if (sub == "log-level") {
            if (n != 3 || !number(w[2], 0, 255, v))
                usage("tls log-level <0-255>");
            else
                notice("tls log-level: ignored (pushcap-capture logs TLS failures per connection)");
        } else if (sub == "priority") {
            if (n < 3)
                usage("tls priority STRING");
            else
                m_server.priority = restOfLine(m_text, 2);
        } else if (sub == "allow-auth") {
            if (n != 3 || (w[2] != "anonymous" && w[2] != "x509"))
                usage("tls allow-auth (anonymous|x509)");
            else
                (w[2] == "x509" ? m_server.allowX509 : m_server.allowAnonymous) = true;
        } else if (sub == "capath" || sub == "crlfile" || sub == "server-cert" ||
                   sub == "server-key") {
            const std::string path = restOfLine(m_text, 2);
            if (path.empty())
                usage("tls " + sub + " PATH");
            else
                tlsPath(sub) = TlsPath{path, m_line};
        } else if (sub == "dh") {
            const bool ok =
                (n == 3 && w[2] == "generate") || (n >= 4 && (w[2] == "pkcs" || w[2] == "pkcs3"));
            if (!ok)
                usage("tls dh generate` or `tls dh pkcs FILE");
            else
                notice("`" + trimmedText() +
                       "`: accepted, not needed (GnuTLS negotiates ECDHE key exchange)");
        } else if (sub.empty()) {
            usage("tls SETTING ...");
        } else {
            unknown("tls setting", sub, TLS_COMMANDS);
        }
    }

    TlsPath& tlsPath(const std::string& sub) {
        if (sub == "capath")
            return m_server.capath;
        if (sub == "crlfile")
            return m_server.crlfile;
        if (sub == "server-cert")
            return m_server.cert;
        return m_server.key;
    }

    void negation(const std::vector<std::string>& w) {
        const std::size_t n = w.size();
        const std::string what = n >= 2 ? w[1] : "";
        if (what == "completed-path" && n == 2) {
            m_server.completedPath.clear();
        } else if (what == "rotate-localtime" && n == 2) {
            m_server.rotate.clear();
        } else if (what == "max-file-size" && n == 2) {
            m_server.maxFileSize = 0;
        } else if (what == "zeromq-publisher" && n == 2) {
            // Nothing to turn off.
        } else if (what == "client" && n == 3) {
            auto& cs = m_server.clients;
            cs.erase(std::remove_if(cs.begin(), cs.end(),
                                    [&](const ClientLine& c) { return c.client.name == w[2]; }),
                     cs.end());
        } else if (what == "tls" && n == 4 && w[2] == "allow-auth" &&
                   (w[3] == "anonymous" || w[3] == "x509")) {
            (w[3] == "x509" ? m_server.allowX509 : m_server.allowAnonymous) = false;
        } else if (what == "tls" && n == 3 && w[2] == "priority") {
            m_server.priority.clear();
        } else if (what == "tls" && n == 3 &&
                   (w[2] == "capath" || w[2] == "crlfile" || w[2] == "server-cert" ||
                    w[2] == "server-key")) {
            tlsPath(w[2]) = TlsPath{};
        } else if (what == "tls" && n >= 3) {
            unknown("`no tls` setting", w[2],
                    {"allow-auth", "priority", "capath", "crlfile", "server-cert", "server-key"});
        } else if (std::find(NO_COMMANDS.begin(), NO_COMMANDS.end(), what) != NO_COMMANDS.end()) {
            usage("no " + what + (what == "client" ? " NAME" : what == "tls" ? " SETTING" : ""));
        } else {
            unknown("`no` command", what, NO_COMMANDS);
        }
    }

    PushConfig finish() {
        PushConfig cfg;
        cfg.file = m_file;
        cfg.osmoFormat = true;
        ServerNode& s = m_server;
        m_line = 0;
        if (!s.seen) {
            m_errors.push_back(m_file +
                               ": no `server` block: nothing to run (osmo-pcap-server "
                               "files hold `server` followed by its settings)");
        } else if (s.clients.empty()) {
            m_errors.push_back(m_file +
                               ": no `client NAME A.B.C.D` line: the collector would accept "
                               "nobody");
        }
        CollectorConfig& c = cfg.collector;
        c.enabled = true;
        c.maxSnaplen = s.maxSnaplen;
        if (!s.port) {
            m_notices.push_back(m_file + ": no `server port`: listening on port " +
                                std::to_string(DEFAULT_COLLECTOR_PORT) +
                                " (osmo-pcap-server has no default; 54321 is its manual's)");
        }
        c.listen = {listenAddress(s.ip.empty() ? "0.0.0.0" : s.ip,
                                  s.port.value_or(DEFAULT_COLLECTOR_PORT))};
        for (const ClientLine& cl : s.clients) {
            c.clients.push_back(cl.client);
            if (cl.client.tls && !s.tlsOn) {
                errorAt(cl.line, "client " + quoted(cl.client.name) +
                                     " uses tls, but TLS is off: add `enable tls` (as "
                                     "osmo-pcap-server requires)");
            } else if (cl.client.tls && (s.cert.path.empty() || s.key.path.empty())) {
                errorAt(cl.line, "client " + quoted(cl.client.name) +
                                     " uses tls: pushcap needs `tls server-cert` and `tls "
                                     "server-key` (it does not offer anonymous-only TLS)");
            }
        }
        tlsSettings(c.tls);
        CollectorOutput& o = c.output;
        if (!s.basePath) {
            m_notices.push_back(m_file +
                                ": no `base-path`: trace files go to pushcapd's working "
                                "directory, as osmo-pcap-server's do");
        }
        o.basePath = s.basePath.value_or(".");
        o.completedPath = s.completedPath;
        o.maxFileSize = s.maxFileSize;
        o.rotateLocaltime = s.rotate;
        o.fileMode = s.fileMode;
        // osmo-pcap-server has no such setting; o.delivery keeps the default, lossless: the
        // collector-only ring is backpressured, so a slow disk slows the clients (over TCP)
        // instead of losing packets.
        if (!m_errors.empty()) {
            std::string all = m_file + ": " + std::to_string(m_errors.size()) + " error(s):";
            for (const std::string& e : m_errors)
                all += "\n  " + e;
            throw ConfigError(all);
        }
        cfg.notices = m_notices;
        return cfg;
    }

    void tlsSettings(CollectorTls& t) {
        ServerNode& s = m_server;
        const bool anyPath = !s.capath.path.empty() || !s.crlfile.path.empty() ||
                             !s.cert.path.empty() || !s.key.path.empty();
        if (!s.tlsOn) {
            if (anyPath || !s.priority.empty() || s.allowX509 || s.allowAnonymous) {
                m_notices.push_back(m_file +
                                    ": tls settings ignored: no `enable tls` (as in "
                                    "osmo-pcap-server)");
            }
            return;
        }
        if (s.cert.path.empty() != s.key.path.empty()) {
            errorAt(std::max(s.cert.line, s.key.line),
                    "`tls server-cert` and `tls server-key` go together: give both");
        }
        if (!s.crlfile.path.empty() && s.capath.path.empty())
            errorAt(s.crlfile.line, "tls crlfile: needs `tls capath` (the CA that signed it)");
        t.cert = NamedPath{s.cert.path, fileKey("tls server-cert", s.cert.line)};
        t.key = NamedPath{s.key.path, fileKey("tls server-key", s.key.line)};
        t.ca = NamedPath{s.capath.path, fileKey("tls capath", s.capath.line)};
        t.crl = NamedPath{s.crlfile.path, fileKey("tls crlfile", s.crlfile.line)};
        t.priority = s.priority;
        if (s.allowAnonymous) {
            // Either kind may connect, as osmo-pcap-server allows with both: nobody is asked
            // for a certificate (an osmo-pcap-client without one fails if asked).
            t.clientAuth = "anonymous";
        } else if (!s.capath.path.empty()) {
            t.clientAuth = "x509";
        } else if (s.allowX509) {
            m_notices.push_back(m_file +
                                ": tls allow-auth x509 without tls capath: client "
                                "certificates cannot be verified, TLS clients are encrypted, "
                                "not authenticated (add `tls capath CA-FILE`)");
        }
    }

    std::string fileKey(const std::string& key, int line) const {
        return m_file + ":" + std::to_string(line) + ": " + key;
    }

    std::string m_file;
    int m_line = 0;
    std::string m_text;
    Node m_node = Node::Top;
    ServerNode m_server;
    std::vector<std::string> m_errors;
    std::vector<std::string> m_notices;
};

}  // namespace

PushConfig parseOsmoConfig(const std::string& text, const std::string& file) {
    return OsmoReader(file).read(text);
}

PushConfig loadOsmoConfig(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(
            path + ": cannot read the osmo-pcap-server configuration: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parseOsmoConfig(text.str(), path);
}

}  // namespace pushcap::supervisor
