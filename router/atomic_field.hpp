// Atomic access to plain fields of the shared segment (ring_layout.hpp). The structs stay plain
// data; every field that more than one process touches goes through these helpers.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace pushcap::router {

template <typename T>
inline std::atomic_ref<T> atomicRef(const T& field) {
    // atomic_ref<const T> only arrives in C++26; the const_cast never writes.
    return std::atomic_ref<T>(const_cast<T&>(field));
}

template <typename T>
inline T loadAcquire(const T& field) {
    return atomicRef(field).load(std::memory_order_acquire);
}

template <typename T>
inline T loadRelaxed(const T& field) {
    return atomicRef(field).load(std::memory_order_relaxed);
}

template <typename T>
inline void storeRelease(T& field, std::type_identity_t<T> value) {
    atomicRef(field).store(value, std::memory_order_release);
}

template <typename T>
inline void storeRelaxed(T& field, std::type_identity_t<T> value) {
    atomicRef(field).store(value, std::memory_order_relaxed);
}

template <typename T>
inline T fetchAdd(T& field, std::type_identity_t<T> value) {
    return atomicRef(field).fetch_add(value, std::memory_order_acq_rel);
}

template <typename T>
inline void addRelaxed(T& field, std::type_identity_t<T> value) {
    atomicRef(field).fetch_add(value, std::memory_order_relaxed);
}

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

}  // namespace pushcap::router
