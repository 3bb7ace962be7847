#ifndef SOUK_MALLOC_H
#define SOUK_MALLOC_H

/// Makes every allocation of at least `bytes` its own mapping, returned to the system
/// when freed, and stops glibc from raising that threshold as blocks are freed.
/// Returns 1 on success, 0 where it is not supported (not glibc).
int souk_malloc_fix_mmap_threshold(int bytes);

/// Gives the free pages of every malloc arena back to the system (glibc's
/// malloc_trim). Returns 1 when memory was released.
int souk_malloc_trim(void);

#endif
