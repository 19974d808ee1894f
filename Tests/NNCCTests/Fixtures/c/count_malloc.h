/* count_malloc.h: shared by driver.c and train_driver.c. With -DCOUNT_MALLOC
 * and the linker's --wrap=malloc,calloc,realloc,aligned_alloc,posix_memalign,
 * every allocation call made while `counting` is set is counted. */
#ifdef COUNT_MALLOC
/* Every allocation call while `counting` is set is counted (linker --wrap). */
static volatile int counting;
static volatile long allocations;
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__real_aligned_alloc(size_t, size_t);
int __real_posix_memalign(void **, size_t, size_t);
void *__wrap_malloc(size_t n) { if (counting) allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { if (counting) allocations++; return __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { if (counting) allocations++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { if (counting) allocations++; return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { if (counting) allocations++; return __real_posix_memalign(p, a, n); }
#endif
