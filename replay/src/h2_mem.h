#pragma once
// Internal to replay/src/http2.cc (and its test).
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// nghttp2's memory, through a per-thread cache of small blocks. nghttp2 makes some 17
// allocations per request (a buffer for each decoded header value, frames, stream and item
// objects) and frees them in bursts; glibc's per-thread cache keeps 7 blocks a size, so most
// frees went to its arena: malloc and free were 6 % of a worker's instructions in a closed
// loop. Blocks of up to kSmallMax bytes are kept per 16-byte size class, at most kKeep a class
// (280 KiB per thread at most), and reused by the same thread; larger ones go to malloc. A
// block carries its capacity in a 16-byte header, so that free() and realloc() know it; a block
// freed by another thread joins that thread's cache, which is fine for plain malloc memory.
// The lists are fixed arrays: release() runs inside nghttp2's C callbacks and must not
// allocate or throw.
namespace twin::replay::h2mem {
constexpr size_t kHeader = 16;
constexpr size_t kSmallMax = 512;
constexpr size_t kClasses = kSmallMax / 16;
constexpr size_t kKeep = 32;

struct FreeList {
  std::array<void*, kKeep> blocks{};
  size_t size = 0;
};

struct Cache {
  std::array<FreeList, kClasses> free;
  ~Cache() {
    for (auto& list : free)
      for (size_t i = 0; i < list.size; ++i) std::free(list.blocks[i]);
  }
};
inline thread_local Cache cache;

inline size_t capacity_of(size_t size) { return size <= kSmallMax ? (size + 15) / 16 * 16 : size; }

inline void* allocate(size_t size, void*) {
  const size_t cap = capacity_of(std::max<size_t>(size, 1));
  if (cap <= kSmallMax) {
    auto& list = cache.free[cap / 16 - 1];
    if (list.size > 0) {
      void* block = list.blocks[--list.size];
      return static_cast<char*>(block) + kHeader;
    }
  }
  if (cap > SIZE_MAX - kHeader) return nullptr;
  void* block = std::malloc(kHeader + cap);
  if (block == nullptr) return nullptr;
  std::memcpy(block, &cap, sizeof cap);
  return static_cast<char*>(block) + kHeader;
}

inline size_t capacity(const void* p) {
  size_t cap;
  std::memcpy(&cap, static_cast<const char*>(p) - kHeader, sizeof cap);
  return cap;
}

inline void release(void* p, void*) {
  if (p == nullptr) return;
  void* block = static_cast<char*>(p) - kHeader;
  const size_t cap = capacity(p);
  if (cap <= kSmallMax) {
    auto& list = cache.free[cap / 16 - 1];
    if (list.size < kKeep) {
      list.blocks[list.size++] = block;
      return;
    }
  }
  std::free(block);
}

inline void* allocate_zeroed(size_t n, size_t size, void* user) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = allocate(n * size, user);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}

inline void* reallocate(void* p, size_t size, void* user) {
  if (p == nullptr) return allocate(size, user);
  const size_t cap = capacity(p);
  if (size <= cap) return p;
  void* q = allocate(size, user);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, cap);
  release(p, user);
  return q;
}

inline nghttp2_mem* mem() {
  static nghttp2_mem m{nullptr, &allocate, &release, &allocate_zeroed, &reallocate};
  return &m;
}
}  // namespace twin::replay::h2mem
