// Counts heap allocations without LD_PRELOAD: the executable itself defines
// malloc and friends, which the dynamic linker then resolves for every shared
// library too (Swift's runtime, Foundation, protobuf-c, libc's own callers).
// Each forwards to glibc's real allocator through its exported __libc_*
// entry points, so the pointers are ordinary glibc pointers and free,
// malloc_usable_size and realloc work on them unchanged.
//
// glibc only: elsewhere this file compiles to the counters alone, they stay
// at zero, and codec-bench says it could not count.

#define _GNU_SOURCE
#include "MallocCounter.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

static int64_t counting;
static int64_t allocations;
static int64_t bytes;

static inline void count(size_t size) {
    if (counting) {
        allocations += 1;
        bytes += (int64_t)size;
    }
}

void malloc_counter_start(void) {
    allocations = 0;
    bytes = 0;
    counting = 1;
}

malloc_counter_stats malloc_counter_stop(void) {
    counting = 0;
    malloc_counter_stats stats = { allocations, bytes };
    return stats;
}

#if defined(__linux__) && defined(__GLIBC__)

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);

__attribute__((visibility("default"))) void *malloc(size_t size) {
    count(size);
    return __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size) {
    count(n * size);
    return __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *pointer, size_t size) {
    count(size);
    return __libc_realloc(pointer, size);
}

__attribute__((visibility("default"))) void *memalign(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

__attribute__((visibility("default"))) void *aligned_alloc(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

__attribute__((visibility("default"))) void *valloc(size_t size) {
    count(size);
    return __libc_valloc(size);
}

__attribute__((visibility("default"))) int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count(size);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *out = pointer;
    return 0;
}

#endif
