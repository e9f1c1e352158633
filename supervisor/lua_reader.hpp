// Reads typed values out of the Lua configuration table, collecting every problem instead of
// stopping at the first, so one run of `pushcapd --check` shows them all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct lua_State;

namespace pushcap::supervisor {

std::string quoted(const std::string& s);
std::string lowerCase(std::string s);
std::vector<std::string> splitWords(const std::string& s);

// A value as a message shows it: "text", 12, or "a table".
std::string describeLua(lua_State* L, int idx);

class LuaReader {
  public:
    explicit LuaReader(lua_State* L) : m_L(L) {}

    lua_State* state() const { return m_L; }
    void error(const std::string& where, const std::string& what) {
        m_errors.push_back(where + what);
    }
    const std::vector<std::string>& errors() const { return m_errors; }

    bool string(int idx, const std::string& where, const std::string& key, std::string& out);
    bool count(int idx, const std::string& where, const std::string& key, std::uint64_t& out);
    // Checks the type only; the caller reads it with lua_toboolean.
    bool boolean(int idx, const std::string& where, const std::string& key);
    bool flag(int idx, const std::string& where, const std::string& key, bool& out);
    // A string or a list of strings.
    bool stringList(int idx, const std::string& where, const std::string& key,
                    std::vector<std::string>& out);
    void unknownKey(const std::string& where, const std::string& key,
                    const std::vector<std::string>& known);

  private:
    lua_State* m_L;
    std::vector<std::string> m_errors;
};

}  // namespace pushcap::supervisor
