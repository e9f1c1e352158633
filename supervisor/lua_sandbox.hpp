// Runs a configuration file in a Lua 5.4 state that can compute (string.format, os.date,
// table.insert, math) but cannot touch the system: no io, no os.execute/remove/getenv, no
// require/dofile/loadfile, no bytecode; memory and instruction count are capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct lua_State;

namespace pushcap::supervisor {

class LuaSandbox {
  public:
    LuaSandbox(std::size_t memoryLimitBytes = 64u << 20,
               std::uint64_t instructionLimit = 50'000'000);
    ~LuaSandbox();
    LuaSandbox(const LuaSandbox&) = delete;
    LuaSandbox& operator=(const LuaSandbox&) = delete;

    // Runs the file and leaves its result on the stack: the returned value, or the global
    // `Config` if the chunk returned nothing. Throws ConfigError("FILE:LINE: message").
    void runFile(const std::string& path);
    lua_State* state() const { return m_state; }

  private:
    static void* allocate(void* self, void* ptr, std::size_t oldSize, std::size_t newSize);

    lua_State* m_state = nullptr;
    std::size_t m_used = 0;
    std::size_t m_limit;
    std::uint64_t m_instructionLimit;
};

}  // namespace pushcap::supervisor
