/* Standalone test of templates/safetensors.c. Usage: test_safetensors DIR [REF_DIR [VERIFY_CMD]]
   DIR: scratch directory. REF_DIR: holds files written by Python in the safetensors layout (see run.sh).
   VERIFY_CMD: shell command run with the path of a file written by nn_st_save; must exit 0. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <dirent.h>
#include "../safetensors.c"

static int passed, failed;
#define CHECK(what, cond)                                                                     \
    do {                                                                                      \
        if (cond) passed++;                                                                   \
        else { failed++; fprintf(stderr, "FAIL line %d: %s (%s)\n", __LINE__, what, #cond); } \
    } while (0)

static char dir[1024], fpath[1100];

/* The model used by most cases: 6 + 3 + 1 = 10 floats = 40 bytes of data. */
#define NP 3
static const char *const NAMES[NP] = {"layer.weight", "layer.bias", "scale"};
static const int RANKS[NP] = {2, 1, 0};
static const int64_t DIMS[NP][4] = {{2, 3}, {3}, {0}};
static float pw[6], pb[3], ps[1];
static float *const DST[NP] = {pw, pb, ps};
static const int COUNTS[NP] = {6, 3, 1};

#define W "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define B "\"layer.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"
#define S "\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]}"
#define VALID "{" W "," B "," S "}"

static float stdval(int k) { return (float)k * 0.25f - 1.0f; } /* value of data float k */

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { perror(path); exit(2); }
}

/* Builds a file: u64 header length (given, or strlen(json) if hlen == UINT64_MAX), json, then data
   (ndata bytes of the standard 10 little-endian floats, extended with zero bytes if longer). */
static size_t build(unsigned char *out, uint64_t hlen, const char *json, size_t ndata) {
    size_t jl = strlen(json), n = 0;
    if (hlen == UINT64_MAX) hlen = jl;
    for (int i = 0; i < 8; i++) out[n++] = (unsigned char)(hlen >> (8 * i));
    memcpy(out + n, json, jl);
    n += jl;
    for (size_t k = 0; k < ndata; k++) {
        uint32_t u = 0;
        float v = stdval((int)(k / 4));
        if (k < 40) memcpy(&u, &v, 4);
        out[n++] = (unsigned char)(u >> (8 * (k % 4)));
    }
    return n;
}

static void poison(void) {
    for (int i = 0; i < NP; i++) memset(DST[i], 0xAB, (size_t)COUNTS[i] * 4);
}
static int untouched(void) {
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < COUNTS[i] * 4; j++)
            if (((unsigned char *)DST[i])[j] != 0xAB) return 0;
    return 1;
}
static int loaded_std(void) {
    int k = 0;
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < COUNTS[i]; j++, k++)
            if (memcmp(&DST[i][j], &(float){stdval(k)}, 4) != 0) return 0;
    return 1;
}

/* Loads bytes as the 3-parameter model; on error dst must be untouched, on success hold the std values. */
static int load_bytes(const unsigned char *p, size_t n) {
    write_bytes(fpath, p, n);
    poison();
    int rc = nn_st_load(fpath, NP, NAMES, RANKS, DIMS, DST);
    if (rc != NN_OK && !untouched()) { fprintf(stderr, "dst written on error %d\n", rc); return 99; }
    return rc;
}

static unsigned char fbuf[1 << 16];

static void json_case(const char *what, const char *json, int want) {
    size_t n = build(fbuf, UINT64_MAX, json, 40);
    int rc = load_bytes(fbuf, n);
    if (rc != want) fprintf(stderr, "  %s: got %d want %d\n", what, rc, want);
    CHECK(what, rc == want && (want != NN_OK || loaded_std()));
}

static void malformed_cases(void) {
    size_t n;
    char big[8192];

    json_case("valid file", VALID, NN_OK);
    json_case("keys in any order, whitespace", "\n{ " S " ,\r\n\t" B ",  \"layer.weight\" : { \"data_offsets\" : [ 0 , 24 ] ,"
              " \"shape\" : [ 2 , 3 ] , \"dtype\" : \"F32\" } }   ", NN_OK);
    json_case("metadata ignored", "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"}," W "," B "," S "}", NN_OK);
    json_case("unknown key in tensor skipped", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"x\":[1,{\"a\":null},-2.5e+3,true],"
              "\"shape\":[],\"data_offsets\":[36,40]}}", NN_OK);
    json_case("escaped name matches", "{\"layer.\\u0077eight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
              "\"layer\\/bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}," S "}", NN_EXTRA_OR_SHAPE_DUMMY);
}
