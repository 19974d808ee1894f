/* check.h: shared by driver.c and train_driver.c. CHECK counts a failed
 * condition in `failures` and prints it with its line; the driver exits 1
 * when any failed. */
static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            printf("FAIL line %d: %s: ", __LINE__, #cond);            \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)
