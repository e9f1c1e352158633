#include "supervisor/lua_sandbox.hpp"

#include <lua.hpp>

#include <cstdlib>

#include "supervisor/config_error.hpp"

namespace pushcap::supervisor {
namespace {

constexpr int HOOK_EVERY = 10000;  // instructions between two checks of the budget

const char* const BANNED_GLOBALS[] = {"io",     "require", "dofile",  "loadfile",
                                      "load",   "package", "debug",   "collectgarbage",
                                      "rawset", "rawget",  "rawequal"};
const char* const ALLOWED_OS[] = {"date", "time", "clock", "difftime"};

void keepOnly(lua_State* L, const char* library, const char* const* keep, std::size_t count) {
    lua_getglobal(L, library);
    lua_newtable(L);
    for (std::size_t i = 0; i < count; ++i) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, library);
    lua_pop(L, 1);
}

}  // namespace

void* LuaSandbox::allocate(void* self, void* ptr, std::size_t oldSize, std::size_t newSize) {
    auto* box = static_cast<LuaSandbox*>(self);
    const std::size_t old = ptr != nullptr ? oldSize : 0;
    if (newSize == 0) {
        box->m_used -= old;
        std::free(ptr);
        return nullptr;
    }
    if (newSize > old && box->m_used + (newSize - old) > box->m_limit)
        return nullptr;  // Lua raises "not enough memory"
    void* grown = std::realloc(ptr, newSize);
    if (grown != nullptr)
        box->m_used = box->m_used - old + newSize;
    return grown;
}

LuaSandbox::LuaSandbox(std::size_t memoryLimitBytes, std::uint64_t instructionLimit)
    : m_limit(memoryLimitBytes), m_instructionLimit(instructionLimit) {
    m_state = lua_newstate(&LuaSandbox::allocate, this);
    if (m_state == nullptr)
        throw ConfigError("cannot create a Lua state");
    lua_State* L = m_state;
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_pop(L, 6);
    for (const char* name : BANNED_GLOBALS) {
        lua_pushnil(L);
        lua_setglobal(L, name);
    }
    keepOnly(L, LUA_OSLIBNAME, ALLOWED_OS, std::size(ALLOWED_OS));
    // The instruction budget lives in the registry so the C hook can reach it.
    lua_pushinteger(L, static_cast<lua_Integer>(m_instructionLimit / HOOK_EVERY));
    lua_setfield(L, LUA_REGISTRYINDEX, "pushcap.budget");
    lua_sethook(
        L,
        [](lua_State* s, lua_Debug*) {
            lua_getfield(s, LUA_REGISTRYINDEX, "pushcap.budget");
            lua_Integer left = lua_tointeger(s, -1) - 1;
            lua_pop(s, 1);
            lua_pushinteger(s, left);
            lua_setfield(s, LUA_REGISTRYINDEX, "pushcap.budget");
            if (left <= 0)
                luaL_error(s, "configuration runs too long (instruction limit reached)");
        },
        LUA_MASKCOUNT, HOOK_EVERY);
}

LuaSandbox::~LuaSandbox() {
    if (m_state != nullptr)
        lua_close(m_state);
}

void LuaSandbox::runFile(const std::string& path) {
    lua_State* L = m_state;
    // Mode "t": text only, so precompiled bytecode (which can break the VM) is refused.
    int rc = luaL_loadfilex(L, path.c_str(), "t");
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 1, 0);
    if (rc != LUA_OK) {
        std::string msg =
            lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "unknown Lua error";
        lua_pop(L, 1);
        if (rc == LUA_ERRFILE)
            throw ConfigError(msg);
        throw ConfigError(msg.rfind(path, 0) == 0 ? msg : path + ": " + msg);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getglobal(L, "Config");
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        throw ConfigError(path + ": the file must `return Config` (a table with a Target list)");
    }
}

}  // namespace pushcap::supervisor
