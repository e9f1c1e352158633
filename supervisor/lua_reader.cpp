#include "supervisor/lua_reader.hpp"

#include <cctype>
#include <lua.hpp>
#include <sstream>

#include "supervisor/config.hpp"

namespace pushcap::supervisor {

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

std::string lowerCase(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> splitWords(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

std::string describeLua(lua_State* L, int idx) {
    if (lua_type(L, idx) == LUA_TSTRING)
        return quoted(lua_tostring(L, idx));
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        std::string text = lua_tostring(L, -1);
        lua_pop(L, 1);
        return text;
    }
    return std::string("a ") + luaL_typename(L, idx);
}

bool LuaReader::string(int idx, const std::string& where, const std::string& key,
                       std::string& out) {
    if (lua_type(m_L, idx) == LUA_TSTRING) {
        out = lua_tostring(m_L, idx);
        return true;
    }
    error(where, key + ": expected a string, got " + describeLua(m_L, idx));
    return false;
}

bool LuaReader::count(int idx, const std::string& where, const std::string& key,
                      std::uint64_t& out) {
    if (lua_type(m_L, idx) == LUA_TNUMBER || lua_type(m_L, idx) == LUA_TSTRING) {
        // lua_tostring would turn a number on the stack into a string in place: copy first.
        lua_pushvalue(m_L, idx);
        std::string text = lua_tostring(m_L, -1);
        lua_pop(m_L, 1);
        if (parseCount(text, out))
            return true;
    }
    error(where, key + ": expected a non-negative number, got " + describeLua(m_L, idx));
    return false;
}

bool LuaReader::boolean(int idx, const std::string& where, const std::string& key) {
    if (lua_type(m_L, idx) == LUA_TBOOLEAN)
        return true;
    error(where, key + ": expected true or false, got " + describeLua(m_L, idx));
    return false;
}

bool LuaReader::flag(int idx, const std::string& where, const std::string& key, bool& out) {
    if (!boolean(idx, where, key))
        return false;
    out = lua_toboolean(m_L, idx) != 0;
    return true;
}

bool LuaReader::stringList(int idx, const std::string& where, const std::string& key,
                           std::vector<std::string>& out) {
    if (lua_type(m_L, idx) == LUA_TSTRING) {
        out.push_back(lua_tostring(m_L, idx));
        return true;
    }
    if (!lua_istable(m_L, idx)) {
        error(where,
              key + ": expected a string or a list of strings, got " + describeLua(m_L, idx));
        return false;
    }
    const int table = lua_absindex(m_L, idx);
    lua_Integer n = luaL_len(m_L, table);
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(m_L, table, i);
        std::string v;
        if (string(-1, where, key + "[" + std::to_string(i) + "]", v))
            out.push_back(v);
        lua_pop(m_L, 1);
    }
    return true;
}

void LuaReader::unknownKey(const std::string& where, const std::string& key,
                           const std::vector<std::string>& known) {
    std::string hint = closestWord(key, known);
    error(where, "unknown key " + quoted(key) +
                     (hint.empty() ? "" : " (did you mean " + quoted(hint) + "?)"));
}

}  // namespace pushcap::supervisor
