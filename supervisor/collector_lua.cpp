#include "supervisor/collector_lua.hpp"

#include <lua.hpp>

#include "supervisor/config.hpp"
#include "supervisor/lua_reader.hpp"

namespace pushcap::supervisor {
namespace {

const std::vector<std::string> COLLECTOR_KEYS = {"Listen", "MaxSnaplen", "TLS", "Clients",
                                                 "Output"};
const std::vector<std::string> TLS_KEYS = {"Cert", "Key", "CA", "CRL", "Priority", "ClientAuth"};
const std::vector<std::string> CLIENT_KEYS = {"Name", "Address", "Store", "TLS"};
const std::vector<std::string> OUTPUT_KEYS = {"BasePath",        "CompletedPath", "MaxFileSize",
                                              "RotateLocaltime", "FileMode",      "IdleGrace",
                                              "Delivery"};
const std::string PREFIX = "Config.Collector";

// Calls `each(key)` with the value on top of the stack for every entry of the table at `idx`;
// keys that are not names are errors.
template <typename F>
void forEachKey(LuaReader& r, int idx, const std::string& where, F each) {
    lua_State* L = r.state();
    const int table = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING)
            r.error(where, "keys must be names, got " + describeLua(L, -2));
        else
            each(std::string(lua_tostring(L, -2)));
        lua_pop(L, 1);
    }
}

bool isTable(LuaReader& r, int idx, const std::string& where, const std::string& key,
             const std::string& what) {
    if (lua_istable(r.state(), idx))
        return true;
    r.error(where, key + ": expected " + what + ", got " + describeLua(r.state(), idx));
    return false;
}

void readPath(LuaReader& r, const std::string& where, const std::string& key, NamedPath& out) {
    if (r.string(-1, where, key, out.path)) {
        out.key = PREFIX + ".TLS." + key;
        if (out.path.empty())
            r.error(where, key + ": must not be empty");
    }
}

void readTls(LuaReader& r, int idx, CollectorTls& tls) {
    const std::string where = PREFIX + ".TLS: ";
    forEachKey(r, idx, where, [&](const std::string& key) {
        if (key == "Cert") {
            readPath(r, where, key, tls.cert);
        } else if (key == "Key") {
            readPath(r, where, key, tls.key);
        } else if (key == "CA") {
            readPath(r, where, key, tls.ca);
        } else if (key == "CRL") {
            readPath(r, where, key, tls.crl);
        } else if (key == "Priority") {
            if (r.string(-1, where, key, tls.priority) && tls.priority.empty())
                r.error(where, "Priority: must not be empty (leave it out for the default)");
        } else if (key == "ClientAuth") {
            if (r.string(-1, where, key, tls.clientAuth) && tls.clientAuth != "x509" &&
                tls.clientAuth != "anonymous") {
                r.error(where, "ClientAuth: expected \"x509\" or \"anonymous\", got " +
                                   quoted(tls.clientAuth));
            }
        } else {
            r.unknownKey(where, key, TLS_KEYS);
        }
    });
    if (tls.cert.path.empty() != tls.key.path.empty())
        r.error(where, "Cert and Key: give both (the server certificate and its private key)");
    if (!tls.crl.path.empty() && tls.ca.path.empty())
        r.error(where, "CRL: needs CA (the CRL is checked with the CA's certificates)");
    if (tls.clientAuth == "x509" && tls.ca.path.empty())
        r.error(where, "ClientAuth: \"x509\" needs CA, to verify the clients' certificates");
}

CollectorClient readClient(LuaReader& r, int idx, int index) {
    lua_State* L = r.state();
    CollectorClient c;
    std::string where = PREFIX + ".Clients[" + std::to_string(index) + "]";
    lua_getfield(L, idx, "Name");
    if (lua_isnil(L, -1)) {
        r.error(where + ": ", "Name: missing (it names the client's source and files)");
    } else if (r.string(-1, where + ": ", "Name", c.name)) {
        where += " " + quoted(c.name);
        if (const std::string why = clientNameProblem(c.name); !why.empty())
            r.error(where + ": ", "Name: " + quoted(c.name) + " " + why);
    }
    lua_pop(L, 1);
    where += ": ";
    bool hasAddress = false;
    forEachKey(r, idx, where, [&](const std::string& key) {
        if (key == "Name") {
        } else if (key == "Address") {
            if (r.string(-1, where, key, c.address)) {
                hasAddress = true;
                if (const std::string why = addressProblem(c.address); !why.empty())
                    r.error(where, "Address: " + quoted(c.address) + " " + why);
            }
        } else if (key == "Store") {
            r.flag(-1, where, key, c.store);
        } else if (key == "TLS") {
            r.flag(-1, where, key, c.tls);
        } else {
            r.unknownKey(where, key, CLIENT_KEYS);
        }
    });
    if (!hasAddress && c.address.empty())
        r.error(where, "Address: missing (the IP address or CIDR the client connects from)");
    return c;
}

void readClients(LuaReader& r, int idx, CollectorConfig& out) {
    lua_State* L = r.state();
    const std::string where = PREFIX + ": ";
    if (!isTable(r, idx, where, "Clients", "a list of clients"))
        return;
    const int table = lua_absindex(L, idx);
    const lua_Integer n = luaL_len(L, table);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, table, i);
        if (lua_istable(L, -1)) {
            out.clients.push_back(readClient(r, lua_gettop(L), static_cast<int>(i)));
        } else {
            r.error(PREFIX + ".Clients[" + std::to_string(i) + "]: ",
                    "expected a table, got " + describeLua(L, -1));
        }
        lua_pop(L, 1);
    }
}

void readOutput(LuaReader& r, int idx, CollectorOutput& out) {
    lua_State* L = r.state();
    const std::string where = PREFIX + ".Output: ";
    std::uint64_t n = 0;
    bool hasBasePath = false;
    forEachKey(r, idx, where, [&](const std::string& key) {
        if (key == "BasePath") {
            hasBasePath = true;
            if (r.string(-1, where, key, out.basePath) && out.basePath.empty())
                r.error(where, "BasePath: must not be empty");
        } else if (key == "CompletedPath") {
            if (r.string(-1, where, key, out.completedPath) && out.completedPath.empty())
                r.error(where, "CompletedPath: must not be empty (leave it out for none)");
        } else if (key == "MaxFileSize") {
            if (r.count(-1, where, key, out.maxFileSize) && out.maxFileSize == 0)
                r.error(where, "MaxFileSize: must be more than 0 (leave it out for no limit)");
        } else if (key == "RotateLocaltime") {
            if (r.string(-1, where, key, out.rotateLocaltime) &&
                !validRotateLocaltime(out.rotateLocaltime)) {
                r.error(where,
                        "RotateLocaltime: expected \"UNIT\" or \"UNIT mod N\" with UNIT one of "
                        "second, minute, hour, day, month, year, got " +
                            quoted(out.rotateLocaltime));
            }
        } else if (key == "FileMode") {
            if (lua_type(L, -1) == LUA_TNUMBER) {
                // Lua has no octal literals: 0440 is four hundred and forty.
                r.error(where, "FileMode: write the octal mode as a string, e.g. \"0440\", got " +
                                   describeLua(L, -1));
            } else if (r.string(-1, where, key, out.fileMode)) {
                if (const std::string why = fileModeProblem(out.fileMode); !why.empty())
                    r.error(where, "FileMode: " + quoted(out.fileMode) + " " + why);
            }
        } else if (key == "IdleGrace") {
            if (r.count(-1, where, key, n))
                out.idleGraceMs = n * 1000;
        } else if (key == "Delivery") {
            std::string s;
            if (r.string(-1, where, key, s)) {
                if (const std::string why = parseDeliveryChoice(s, out.delivery); !why.empty())
                    r.error(where, "Delivery: " + why);
            }
        } else {
            r.unknownKey(where, key, OUTPUT_KEYS);
        }
    });
    if (!hasBasePath)
        r.error(where, "BasePath: missing (the directory of the clients' trace files)");
}

}  // namespace

CollectorConfig readCollector(LuaReader& r, int idx) {
    lua_State* L = r.state();
    CollectorConfig c;
    c.enabled = true;
    const std::string where = PREFIX + ": ";
    if (!lua_istable(L, idx)) {
        r.error("Config: ", "Collector: expected a table, got " + describeLua(L, idx));
        return c;
    }
    const int table = lua_absindex(L, idx);
    bool hasClients = false;
    forEachKey(r, table, where, [&](const std::string& key) {
        std::uint64_t n = 0;
        if (key == "Listen") {
            const std::size_t before = r.errors().size();
            r.stringList(-1, where, key, c.listen);
            for (const std::string& l : c.listen) {
                if (const std::string why = listenProblem(l); !why.empty())
                    r.error(where, "Listen: " + quoted(l) + " " + why);
            }
            if (c.listen.empty() && r.errors().size() == before)
                r.error(where, "Listen: an empty list (leave it out for 0.0.0.0:54321)");
        } else if (key == "MaxSnaplen") {
            if (r.count(-1, where, key, n)) {
                if (n < 1 || n > MAX_SNAPLEN_LIMIT)
                    r.error(where, "MaxSnaplen: must be 1..262144, got " + std::to_string(n));
                c.maxSnaplen = static_cast<std::uint32_t>(n);
            }
        } else if (key == "TLS") {
            if (isTable(r, -1, where, key, "a table"))
                readTls(r, -1, c.tls);
        } else if (key == "Clients") {
            hasClients = true;
            readClients(r, -1, c);
        } else if (key == "Output") {
            if (isTable(r, -1, where, key, "a table"))
                readOutput(r, -1, c.output);
        } else {
            r.unknownKey(where, key, COLLECTOR_KEYS);
        }
    });
    if (c.listen.empty())
        c.listen.push_back(listenAddress("0.0.0.0", DEFAULT_COLLECTOR_PORT));
    if (!hasClients || c.clients.empty())
        r.error(where, "Clients: none (the collector accepts only the clients listed here)");
    for (std::size_t i = 0; i < c.clients.size(); ++i) {
        const CollectorClient& client = c.clients[i];
        const std::string label =
            PREFIX + ".Clients[" + std::to_string(i + 1) + "] " + quoted(client.name) + ": ";
        for (std::size_t j = 0; j < i; ++j) {
            if (!client.name.empty() && client.name == c.clients[j].name) {
                r.error(label, "Name: the same as Clients[" + std::to_string(j + 1) +
                                   "]; names must be unique (they name sources and files)");
            }
        }
        if (client.tls && (c.tls.cert.path.empty() || c.tls.key.path.empty()))
            r.error(label, "TLS: true needs Collector.TLS.Cert and Collector.TLS.Key");
    }
    return c;
}

void checkCollectorTargets(LuaReader& r, const CollectorConfig& collector,
                           const std::vector<TargetConfig>& targets) {
    // One namespace, even without Collector.Output: adding it later must not make a working
    // configuration wrong, and status would show two things of the same name.
    for (const TargetConfig& t : targets) {
        for (const CollectorClient& c : collector.clients) {
            if (!t.desc.empty() && t.desc == c.name) {
                r.error(t.label() + ": ",
                        "Desc: " + quoted(t.desc) + " is also Collector client " + quoted(c.name) +
                            "; client names are the names of their default outputs "
                            "(Collector.Output), targets in their own right: rename the target "
                            "(its Source may still be " +
                            quoted(c.name) + ")");
            }
        }
    }
}

}  // namespace pushcap::supervisor
