// Sleeping on a 32-bit word of the shared segment (process-shared futex), so an idle consumer
// or a blocked producer costs no CPU and wakes as soon as the other side bumps the word.
#pragma once

#include <cstdint>

namespace pushcap::router {

// Sleeps while `*word == expected`, at most `timeoutNs`. Spurious returns are fine: callers
// re-check their condition.
void futexWait(std::uint32_t* word, std::uint32_t expected, std::uint64_t timeoutNs);

// Wakes every sleeper on `word`.
void futexWakeAll(std::uint32_t* word);

}  // namespace pushcap::router
