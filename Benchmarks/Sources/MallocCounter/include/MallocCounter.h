#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

#include <stdint.h>

/// Counts of heap allocation calls made while counting was on.
typedef struct {
    /// malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and valloc calls.
    int64_t allocations;
    /// Bytes those calls asked for.
    int64_t bytes;
} malloc_counter_stats;

/// Starts counting from zero.
void malloc_counter_start(void);
/// Stops counting and returns what was counted since the start.
malloc_counter_stats malloc_counter_stop(void);

#endif
