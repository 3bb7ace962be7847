#include "souk_malloc.h"

#include <stdlib.h>  /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>

int souk_malloc_fix_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

int souk_malloc_trim(void) {
    return malloc_trim(0);
}
#else
int souk_malloc_fix_mmap_threshold(int bytes) {
    (void)bytes;
    return 0;
}

int souk_malloc_trim(void) {
    return 0;
}
#endif
