/* Standalone test of templates/safetensors.c.  Usage: test_safetensors DIR [REF_DIR [VERIFY_CMD]]
   DIR: empty scratch directory.  REF_DIR: files written by Python in the safetensors layout (see run.sh).
   VERIFY_CMD: shell command given the path of a file written by nn_st_save; must exit 0 if Python reads it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../safetensors.c"

static int passed, failed;
#define CHECK(what, cond)                                                                     \
    do {                                                                                      \
        if (cond) passed++;                                                                   \
        else { failed++; fprintf(stderr, "FAIL line %d: %s (%s)\n", __LINE__, what, #cond); } \
    } while (0)

static char dir[900], fpath[1000];

/* The model used by most cases: 6 + 3 + 1 = 10 floats = 40 bytes of data. */
#define NP 3
static const char *const NAMES[NP] = {"layer.weight", "layer.bias", "scale"};
static const int RANKS[NP] = {2, 1, 0};
static const int64_t DIMS[NP][4] = {{2, 3}, {3}, {0}};
static const int COUNTS[NP] = {6, 3, 1};
static float pw[6], pb[3], ps[1];
static float *const DST[NP] = {pw, pb, ps};

#define W "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define B "\"layer.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"
#define S "\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]}"
#define REST W "," B "," S "}" /* a valid header without its opening brace */
#define VALID "{" REST
#define NBT "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[40,48]}"

static float stdval(int k) { return (float)k * 0.25f - 1.0f; } /* value of data float k */

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { perror(path); exit(2); }
}

static unsigned char *read_all(const char *path, size_t *n) {
    static unsigned char buf[1 << 23];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* Builds a file image: u64 header length (hlen, or strlen(json) if hlen == UINT64_MAX), json, then ndata
   bytes: the 10 standard little-endian floats, followed by zero bytes. */
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
        for (int j = 0; j < COUNTS[i]; j++, k++) {
            float v = stdval(k);
            if (memcmp(&DST[i][j], &v, 4) != 0) return 0;
        }
    return 1;
}

/* Loads a file image as the 3-parameter model. Returns 99 if dst was written although loading failed. */
static int load_bytes(const unsigned char *p, size_t n) {
    write_bytes(fpath, p, n);
    poison();
    int rc = nn_st_load(fpath, NP, NAMES, RANKS, DIMS, DST);
    if (rc != NN_OK && !untouched()) { fprintf(stderr, "  dst written on error %d\n", rc); return 99; }
    return rc;
}

static unsigned char fbuf[1 << 20];

static void case_n(const char *what, const char *json, size_t ndata, int want) {
    size_t n = build(fbuf, UINT64_MAX, json, ndata);
    int rc = load_bytes(fbuf, n);
    if (rc != want) fprintf(stderr, "  %s: got %d, want %d\n", what, rc, want);
    CHECK(what, rc == want && (want != NN_OK || loaded_std()));
}
static void json_case(const char *what, const char *json, int want) { case_n(what, json, 40, want); }

/* Metadata whose value is `depth` nested arrays. */
static void nesting_case(const char *what, int depth, int want) {
    static char j[300000];
    size_t n = 0;
    n += (size_t)sprintf(j + n, "{\"__metadata__\":");
    for (int i = 0; i < depth; i++) j[n++] = '[';
    for (int i = 0; i < depth; i++) j[n++] = ']';
    sprintf(j + n, "," W "," B "," S "}");
    json_case(what, j, want);
}

static void json_cases(void) {
    json_case("valid file", VALID, NN_OK);
    json_case("keys in any order, whitespace", " \n{ " S " ,\r\n\t" B ",  \"layer.weight\" : { \"data_offsets\" : [ 0 , 24 ] ,"
              " \"shape\" : [ 2 , 3 ] , \"dtype\" : \"F32\" } }   ", NN_OK);
    json_case("__metadata__ ignored", "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"}," W "," B "," S "}", NN_OK);
    json_case("unknown tensor key skipped", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"x\":[1,{\"a\":null},-2.5e+3,true,"
              "false,\"s\\\"\"],\"shape\":[],\"data_offsets\":[36,40]}}", NN_OK);
    json_case("escaped names match", "{\"layer.\\u0077eight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
              "\"l\\u0061yer.bias\":{\"dtype\":\"\\u0046\\u00332\",\"shape\":[3],\"data_offsets\":[24,36]},"
              "\"sc\\u0061le\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]}}", NN_OK);
    case_n("num_batches_tracked I64 ignored", "{" W "," NBT "," B "," S "}", 48, NN_OK);
    case_n("bare num_batches_tracked ignored", "{\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[1],"
           "\"data_offsets\":[40,48]}," REST, 48, NN_OK);
    case_n("xnum_batches_tracked is extra", "{\"xnum_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
           "\"data_offsets\":[40,48]}," REST, 48, NN_ERR_EXTRA);
    case_n("num_batches_tracked end < begin", "{" W ",\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
           "\"data_offsets\":[48,40]}," B "," S "}", 48, NN_ERR_FORMAT);
    case_n("num_batches_tracked offsets beyond data", "{" W "," NBT "," B "," S "}", 44, NN_ERR_FORMAT);
    json_case("header not JSON", "hello world", NN_ERR_FORMAT);
    json_case("header is a JSON array", "[]", NN_ERR_FORMAT);
    json_case("header all spaces", "        ", NN_ERR_FORMAT);
    json_case("empty object: all missing", "{}", NN_ERR_MISSING);
    json_case("unterminated string", "{\"layer.weight", NN_ERR_FORMAT);
    json_case("unterminated string value", "{" W "," B ",\"scale\":{\"dtype\":\"F32}}", NN_ERR_FORMAT);
    json_case("unterminated object", "{" W "," B "," S, NN_ERR_FORMAT);
    json_case("trailing garbage", VALID "x", NN_ERR_FORMAT);
    json_case("two objects", VALID VALID, NN_ERR_FORMAT);
    json_case("trailing comma", "{" W "," B "," S ",}", NN_ERR_FORMAT);
    json_case("missing colon", "{\"layer.weight\"{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("dtype F16", "{\"layer.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}," B "," S "}", NN_ERR_SHAPE);
    json_case("dtype f32 (case matters)", "{\"layer.weight\":{\"dtype\":\"f32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_SHAPE);
    json_case("wrong shape", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_SHAPE);
    json_case("wrong rank", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_SHAPE);
    json_case("rank 6", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3,1,1,1,1],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_SHAPE);
    json_case("scalar given as [1]", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]}}", NN_ERR_SHAPE);
    json_case("missing tensor", "{" W "," S "}", NN_ERR_MISSING);
    json_case("extra tensor", "{" W "," B "," S ",\"other\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]}}", NN_ERR_EXTRA);
    json_case("extra tensor, other dtype", "{\"o\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[0,0]}," REST, NN_ERR_EXTRA);
    json_case("name with NUL is not the parameter", "{\"layer.weight\\u0000\":{\"dtype\":\"F32\",\"shape\":[2,3],"
              "\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_EXTRA);
    json_case("offsets beyond data", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}}", NN_ERR_FORMAT);
    json_case("end < begin", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,36]}}", NN_ERR_FORMAT);
    json_case("end-begin != 4*count", "{" W ",\"layer.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,40]}," S "}", NN_ERR_FORMAT);
    json_case("offsets 2^64-1", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[18446744073709551611,"
              "18446744073709551615]}}", NN_ERR_FORMAT);
    json_case("offset overflows u64", "{" W "," B ",\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,"
              "18446744073709551656]}}", NN_ERR_FORMAT);
    json_case("huge shape overflow (extra tensor)", "{\"big\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
              "\"data_offsets\":[0,0]}," REST, NN_ERR_FORMAT);
    json_case("huge shape overflow (parameter)", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[4611686018427387905,4],"
              "\"data_offsets\":[0,4]}," B "," S "}", NN_ERR_FORMAT);
    json_case("dim above INT64_MAX", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808,0],"
              "\"data_offsets\":[0,0]}," B "," S "}", NN_ERR_FORMAT);
    json_case("zero-size huge shape is not overflow", "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,9223372036854775807,"
              "9223372036854775807],\"data_offsets\":[0,0]}," REST, NN_ERR_EXTRA);
    json_case("negative dim", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("fractional dim", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2.0,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("exponent dim", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2e0,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("leading zero dim", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[02,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("string dim", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[\"2\",3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("duplicate names", "{" W "," W "," B "," S "}", NN_ERR_FORMAT);
    json_case("duplicate names via escape", "{" W ",\"layer.w\\u0065ight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
              "\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("duplicate dtype key", "{\"layer.weight\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,3],"
              "\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("missing data_offsets", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3]}," B "," S "}", NN_ERR_FORMAT);
    json_case("missing dtype", "{\"layer.weight\":{\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("three data_offsets", "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("dtype not a string", "{\"layer.weight\":{\"dtype\":32,\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("tensor not an object", "{\"layer.weight\":[0,24]," B "," S "}", NN_ERR_FORMAT);
    json_case("empty tensor object", "{\"layer.weight\":{}," B "," S "}", NN_ERR_FORMAT);
    json_case("key not a string", "{1:{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("invalid escape", "{\"layer.w\\xeight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("bad hex escape", "{\"\\u00g1\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("lone high surrogate", "{\"\\ud83d\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("high surrogate + non-low", "{\"\\ud83d\\u0041\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("lone low surrogate", "{\"\\ude00\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("raw newline in string", "{\"layer\n.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B "," S "}", NN_ERR_FORMAT);
    json_case("escape at end of header", "{\"a\\", NN_ERR_FORMAT);
    json_case("\\u escape cut by header end", "{\"a\\u00", NN_ERR_FORMAT);
    json_case("bad literal in metadata", "{\"__metadata__\":{\"a\":tru}," REST, NN_ERR_FORMAT);
    json_case("bad number in metadata", "{\"__metadata__\":[1.,2]," REST, NN_ERR_FORMAT);
    json_case("bad exponent in metadata", "{\"__metadata__\":[1e+]," REST, NN_ERR_FORMAT);
    json_case("mismatched bracket in metadata", "{\"__metadata__\":[1,2}", NN_ERR_FORMAT);
    json_case("unclosed metadata", "{\"__metadata__\":{\"a\":\"b\"," REST, NN_ERR_FORMAT);
    nesting_case("nesting depth 64 in __metadata__ is fine", 64, NN_OK);
    nesting_case("nesting depth 65 in __metadata__", 65, NN_ERR_FORMAT);
    nesting_case("deep nesting (100000) in __metadata__", 100000, NN_ERR_FORMAT);
}

static void header_length_cases(void) {
    size_t n = build(fbuf, UINT64_MAX, VALID, 40);
    int rc, ok;

    CHECK("empty file", load_bytes(fbuf, 0) == NN_ERR_FORMAT);
    CHECK("5-byte file", load_bytes(fbuf, 5) == NN_ERR_FORMAT);
    CHECK("8-byte file (length only)", load_bytes(fbuf, 8) == NN_ERR_FORMAT);
    CHECK("header length larger than file", load_bytes(fbuf, build(fbuf, 1000, VALID, 40)) == NN_ERR_FORMAT);
    CHECK("header length 2^63", load_bytes(fbuf, build(fbuf, (uint64_t)1 << 63, VALID, 40)) == NN_ERR_FORMAT);
    CHECK("header length 2^64-2", load_bytes(fbuf, build(fbuf, UINT64_MAX - 1, VALID, 40) ) == NN_ERR_FORMAT);
    CHECK("header length 0", load_bytes(fbuf, build(fbuf, 0, VALID, 40)) == NN_ERR_FORMAT);
    CHECK("header length includes data", load_bytes(fbuf, build(fbuf, strlen(VALID) + 40, VALID, 40)) == NN_ERR_FORMAT);
    CHECK("data truncated", load_bytes(fbuf, build(fbuf, UINT64_MAX, VALID, 36)) == NN_ERR_FORMAT);
    CHECK("extra bytes after data are fine", load_bytes(fbuf, build(fbuf, UINT64_MAX, VALID, 45)) == NN_OK && loaded_std());
    CHECK("odd header length, padded with spaces: unaligned data",
          load_bytes(fbuf, build(fbuf, UINT64_MAX, VALID "     ", 40)) == NN_OK && loaded_std());

    /* every truncation of a valid file, and every too-short header length, is a format error */
    ok = 1;
    n = build(fbuf, UINT64_MAX, VALID, 40);
    for (size_t k = 0; k < n; k++) ok &= load_bytes(fbuf, k) == NN_ERR_FORMAT;
    CHECK("every truncation of a valid file", ok);
    ok = 1;
    for (size_t h = 0; h < strlen(VALID); h++) ok &= load_bytes(fbuf, build(fbuf, h, VALID, 40)) == NN_ERR_FORMAT;
    CHECK("every too-short header length", ok);

    /* header "{}" + spaces of exactly 100 MB is refused (limit), one byte less is accepted */
    {
        static char spaces[1 << 20];
        FILE *f = fopen(fpath, "wb");
        memset(spaces, ' ', sizeof spaces);
        ok = f && fwrite(fbuf, 1, build(fbuf, 100000000, "{}", 0), f) == 10;
        for (size_t left = 100000000 - 2; ok && left > 0; left -= n) {
            n = left < sizeof spaces ? left : sizeof spaces;
            ok = fwrite(spaces, 1, n, f) == n;
        }
        ok = (f && fclose(f) == 0) && ok;
        rc = nn_st_load(fpath, 0, NULL, NULL, NULL, NULL);
        CHECK("header length 100 MB refused", ok && rc == NN_ERR_FORMAT);
        f = fopen(fpath, "r+b");
        ok = f && fwrite(fbuf, 1, build(fbuf, 100000000 - 1, "", 0), f) == 8;
        ok = (f && fclose(f) == 0) && ok;
        rc = nn_st_load(fpath, 0, NULL, NULL, NULL, NULL);
        CHECK("header length 100 MB - 1 accepted", ok && rc == NN_OK);
        remove(fpath);
    }

    char missing[1100];
    snprintf(missing, sizeof missing, "%s/no/such/file.safetensors", dir);
    CHECK("nonexistent file", nn_st_load(missing, NP, NAMES, RANKS, DIMS, DST) == NN_ERR_OPEN);
    CHECK("path is a directory", nn_st_load(dir, NP, NAMES, RANKS, DIMS, DST) == NN_ERR_OPEN);
}

static uint32_t rng = 12345;
static uint32_t rnd(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }

/* Random mutations of valid files: never a crash (ASan/UBSan watch), never a write into dst on error. */
static void fuzz_cases(void) {
    static const char junk[] = "{}[]\",:\\u0123456789eE.-+ tfn\x01\xff";
    static unsigned char orig[4096];
    const char *seeds[] = {VALID, "{\"__metadata__\":{\"a\":[1,{\"b\":null},\"\\ud83d\\ude00\"]}," W ",\n" NBT ",\t" B "," S "}"};
    int ok = 1, successes = 0;
    for (int it = 0; it < 20000; it++) {
        const char *seed = seeds[it % 2];
        size_t n = build(orig, UINT64_MAX, seed, 48), hl = strlen(seed);
        memcpy(fbuf, orig, n);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = 8 + rnd() % hl;
            if (rnd() % 16 == 0) at = rnd() % 8; /* sometimes the length field */
            fbuf[at] = rnd() % 2 ? (unsigned char)junk[rnd() % (sizeof junk - 1)] : (unsigned char)rnd();
        }
        if (rnd() % 8 == 0) n = rnd() % n; /* sometimes truncate too */
        int rc = load_bytes(fbuf, n);
        ok &= rc == NN_OK || rc == NN_ERR_FORMAT || rc == NN_ERR_SHAPE || rc == NN_ERR_MISSING || rc == NN_ERR_EXTRA;
        successes += rc == NN_OK;
    }
    CHECK("20000 random mutations: no crash, valid codes, dst untouched on error", ok);
    CHECK("some mutations still load (e.g. whitespace changes)", successes > 0);
}

static void arg_cases(void) {
    const char *badnames[NP] = {"layer.weight", NULL, "scale"};
    float *nodst[NP] = {pw, NULL, ps};
    int badranks[NP] = {2, 5, 0};
    const int64_t negdims[NP][4] = {{2, -3}, {3}, {0}};
    const float *src[NP] = {pw, pb, ps};
    write_bytes(fpath, fbuf, build(fbuf, UINT64_MAX, VALID, 40));
    CHECK("load NULL path", nn_st_load(NULL, NP, NAMES, RANKS, DIMS, DST) == NN_ERR_NULL);
    CHECK("load NULL names", nn_st_load(fpath, NP, NULL, RANKS, DIMS, DST) == NN_ERR_NULL);
    CHECK("load NULL ranks/dims/dst", nn_st_load(fpath, NP, NAMES, NULL, DIMS, DST) == NN_ERR_NULL &&
          nn_st_load(fpath, NP, NAMES, RANKS, NULL, DST) == NN_ERR_NULL && nn_st_load(fpath, NP, NAMES, RANKS, DIMS, NULL) == NN_ERR_NULL);
    CHECK("load NULL names[i]", nn_st_load(fpath, NP, badnames, RANKS, DIMS, DST) == NN_ERR_NULL);
    CHECK("load NULL dst[i]", nn_st_load(fpath, NP, NAMES, RANKS, DIMS, nodst) == NN_ERR_NULL);
    CHECK("load n < 0", nn_st_load(fpath, -1, NAMES, RANKS, DIMS, DST) == NN_ERR_INDEX);
    CHECK("load rank 5", nn_st_load(fpath, NP, NAMES, badranks, DIMS, DST) == NN_ERR_SHAPE);
    CHECK("load negative dim", nn_st_load(fpath, NP, NAMES, RANKS, negdims, DST) == NN_ERR_SHAPE);
    CHECK("load n = 0 with tensors in file", nn_st_load(fpath, 0, NULL, NULL, NULL, NULL) == NN_ERR_EXTRA);
    write_bytes(fpath, fbuf, build(fbuf, UINT64_MAX, "{\"__metadata__\":{}}", 0));
    CHECK("load n = 0, empty model", nn_st_load(fpath, 0, NULL, NULL, NULL, NULL) == NN_OK);
    CHECK("save NULL path", nn_st_save(NULL, NP, NAMES, RANKS, DIMS, src) == NN_ERR_NULL);
    CHECK("save NULL src", nn_st_save(fpath, NP, NAMES, RANKS, DIMS, NULL) == NN_ERR_NULL);
    src[2] = NULL;
    CHECK("save NULL src[i]", nn_st_save(fpath, NP, NAMES, RANKS, DIMS, src) == NN_ERR_NULL);
    src[2] = ps;
    CHECK("save NULL names[i]", nn_st_save(fpath, NP, badnames, RANKS, DIMS, src) == NN_ERR_NULL);
    CHECK("save n < 0", nn_st_save(fpath, -1, NAMES, RANKS, DIMS, src) == NN_ERR_INDEX);
    CHECK("save rank 5 / negative dim", nn_st_save(fpath, NP, NAMES, badranks, DIMS, src) == NN_ERR_SHAPE &&
          nn_st_save(fpath, NP, NAMES, RANKS, negdims, src) == NN_ERR_SHAPE);
}

static int no_temp_files(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = d != NULL;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) { fprintf(stderr, "  leftover %s\n", e->d_name); ok = 0; }
    if (d) closedir(d);
    return ok;
}

/* The model of the Python reference files (run.sh writes the same names and values). */
#define NR 4
static const char *const RNAMES[NR] = {"enc.caf\xc3\xa9.weight", "\xf0\x9f\x98\x80", "a\"b\\c/d\te\x01", "special"};
static const int RRANKS[NR] = {2, 1, 0, 1};
static const int64_t RDIMS[NR][4] = {{2, 3}, {4}, {0}, {7}};
static const uint32_t SPECIAL[7] = {0x7fc00001u, 0xffbfffffu, 0x80000000u, 0x7f800000u, 0xff800000u, 0x00000001u, 0x807fffffu};
static float r0[6], r1[4], r2[1], r3[7];
static float *const RDST[NR] = {r0, r1, r2, r3};

static void ref_fill(void) {
    for (int j = 0; j < 6; j++) r0[j] = (float)j * 0.5f - 3.0f;
    for (int j = 0; j < 4; j++) r1[j] = (float)j * 0.5f - 3.0f + 100.0f;
    r2[0] = -3.0f + 200.0f;
    memcpy(r3, SPECIAL, sizeof r3);
}
static int ref_check(void) {
    float e0[6], e1[4], e2[1];
    for (int j = 0; j < 6; j++) e0[j] = (float)j * 0.5f - 3.0f;
    for (int j = 0; j < 4; j++) e1[j] = (float)j * 0.5f - 3.0f + 100.0f;
    e2[0] = -3.0f + 200.0f;
    return !memcmp(r0, e0, sizeof e0) && !memcmp(r1, e1, sizeof e1) && !memcmp(r2, e2, sizeof e2) && !memcmp(r3, SPECIAL, sizeof r3);
}

static void round_trips(const char *refdir, const char *verify) {
    char path[1100], cmd[2300];
    size_t n;
    unsigned char *p;

    /* the standard model: exact bits, exact file layout */
    const float *src[NP] = {pw, pb, ps};
    for (int i = 0, k = 0; i < NP; i++)
        for (int j = 0; j < COUNTS[i]; j++) DST[i][j] = stdval(k++);
    snprintf(path, sizeof path, "%s/std.safetensors", dir);
    CHECK("save std model", nn_st_save(path, NP, NAMES, RANKS, DIMS, src) == NN_OK);
    p = read_all(path, &n);
    {
        const char *want = VALID;
        size_t hl = strlen(want), padded = (hl + 7) / 8 * 8, ok = p && n == 8 + padded + 40;
        for (size_t i = 0; ok && i < 8; i++) ok = p[i] == (unsigned char)((uint64_t)padded >> (8 * i));
        ok = ok && !memcmp(p + 8, want, hl);
        for (size_t i = hl; ok && i < padded; i++) ok = p[8 + i] == ' ';
        build(fbuf, UINT64_MAX, "", 40);
        ok = ok && !memcmp(p + 8 + padded, fbuf + 8, 40);
        CHECK("saved layout: exact header, space padding to 8, contiguous little-endian data", ok);
    }
    poison();
    CHECK("load what was saved", nn_st_load(path, NP, NAMES, RANKS, DIMS, DST) == NN_OK && loaded_std());

    /* special values and awkward names */
    ref_fill();
    snprintf(path, sizeof path, "%s/c_out.safetensors", dir);
    CHECK("save special values / awkward names", nn_st_save(path, NR, RNAMES, RRANKS, RDIMS, (const float *const *)RDST) == NN_OK);
    memset(r0, 0, sizeof r0), memset(r1, 0, sizeof r1), memset(r2, 0, sizeof r2), memset(r3, 0, sizeof r3);
    CHECK("round trip: identical bits, names escaped and decoded", nn_st_load(path, NR, RNAMES, RRANKS, RDIMS, RDST) == NN_OK && ref_check());
    if (verify) {
        snprintf(cmd, sizeof cmd, "%s '%s'", verify, path);
        CHECK("Python reads the file written by nn_st_save", system(cmd) == 0);
    }

    /* bigger tensors: many write chunks, odd sizes, random bits */
    {
        static float big[1000 * 1001], odd[3], big2[1000 * 1001], odd2[3];
        const char *names[2] = {"big", "odd"};
        const int ranks[2] = {2, 1};
        const int64_t dims[2][4] = {{1000, 1001}, {3}};
        const float *bsrc[2] = {big, odd};
        float *bdst[2] = {big2, odd2};
        for (size_t i = 0; i < 1000 * 1001; i++) { uint32_t u = rnd() ^ rnd() << 16; memcpy(&big[i], &u, 4); }
        for (int i = 0; i < 3; i++) odd[i] = (float)i;
        snprintf(path, sizeof path, "%s/big.safetensors", dir);
        CHECK("save 1M random-bit floats", nn_st_save(path, 2, names, ranks, dims, bsrc) == NN_OK);
        CHECK("load 1M random-bit floats: identical bits", nn_st_load(path, 2, names, ranks, dims, bdst) == NN_OK &&
              !memcmp(big, big2, sizeof big) && !memcmp(odd, odd2, sizeof odd));
        for (int i = 0; i < 3; i++) odd[i] = -(float)i;
        CHECK("overwrite an existing file", nn_st_save(path, 2, names, ranks, dims, bsrc) == NN_OK &&
              nn_st_load(path, 2, names, ranks, dims, bdst) == NN_OK && !memcmp(odd, odd2, sizeof odd));
        CHECK("mismatched model on a saved file", nn_st_load(path, 1, names, ranks, dims, bdst) == NN_ERR_EXTRA);
    }

    /* empty model */
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    CHECK("save and load an empty model", nn_st_save(path, 0, NULL, NULL, NULL, NULL) == NN_OK &&
          nn_st_load(path, 0, NULL, NULL, NULL, NULL) == NN_OK && (p = read_all(path, &n)) && n == 16 && p[0] == 8);

    /* failures: no partial file, no leftover temp */
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    CHECK("save into a missing directory", nn_st_save(path, NP, NAMES, RANKS, DIMS, src) == NN_ERR_OPEN);
    snprintf(path, sizeof path, "%s/subdir", dir);
    snprintf(cmd, sizeof cmd, "%s/x", path);
    CHECK("save over a non-empty directory fails", mkdir(path, 0700) == 0 && mkdir(cmd, 0700) == 0 &&
          nn_st_save(path, NP, NAMES, RANKS, DIMS, src) == NN_ERR_OPEN);
    rmdir(cmd);
    rmdir(path);
    CHECK("no temporary files left behind", no_temp_files());

    /* files written by Python in the safetensors layout */
    if (refdir) {
        const char *files[2] = {"ref.safetensors", "ref_unaligned.safetensors"};
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/%s", refdir, files[i]);
            memset(r0, 0, sizeof r0), memset(r1, 0, sizeof r1), memset(r2, 0, sizeof r2), memset(r3, 0, sizeof r3);
            int rc = nn_st_load(path, NR, RNAMES, RRANKS, RDIMS, RDST);
            if (rc) fprintf(stderr, "  %s: %d\n", path, rc);
            CHECK(files[i], rc == NN_OK && ref_check());
        }
        snprintf(path, sizeof path, "%s/ref.safetensors", refdir);
        CHECK("Python file, one parameter missing from the model", nn_st_load(path, NR - 1, RNAMES, RRANKS, RDIMS, RDST) == NN_ERR_EXTRA);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DIR [REF_DIR [VERIFY_CMD]]\n", argv[0]); return 2; }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    snprintf(fpath, sizeof fpath, "%s/case.safetensors", dir);
    json_cases();
    header_length_cases();
    fuzz_cases();
    arg_cases();
    round_trips(argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL);
    remove(fpath);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
