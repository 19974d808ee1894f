/* count_malloc.h: shared by driver.c and train_driver.c. Every allocation
 * made while `counting` is set is counted, so the drivers can show that
 * forward and train_step allocate nothing.
 *
 * Under AddressSanitizer (-fsanitize=address) the count comes from the
 * sanitizer's allocation hook, which sees malloc, calloc, realloc,
 * aligned_alloc and posix_memalign alike: the sanitizer build checks it, and
 * the tests need no second build. Without the sanitizer nothing is counted. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 1
static volatile int counting;
static volatile long allocations;
int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void *, size_t), void (*)(const volatile void *));
static void count_allocation(const volatile void *p, size_t n) { (void)p; (void)n; if (counting) allocations++; }
static void ignore_free(const volatile void *p) { (void)p; }
/* Both hooks must be given, or the sanitizer installs neither. */
__attribute__((constructor)) static void install_count_hook(void) {
    __sanitizer_install_malloc_and_free_hooks(count_allocation, ignore_free);
}
#endif
