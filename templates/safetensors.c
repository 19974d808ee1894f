/* ---- nncc template: safetensors weight loading and saving. Included textually into every generated library
 * (after stdio/stdlib/string/stdint/math); everything is static, prefixed nn_, with no global mutable state.
 * The file is untrusted input: every read is bounds checked, every size computation overflow checked. */
#include <limits.h>
#include <time.h>

#ifndef NN_OK
#define NN_OK 0
#define NN_ERR_NULL -1    /* a NULL pointer argument */
#define NN_ERR_BATCH -2   /* batch outside 1..MAX_BATCH */
#define NN_ERR_OPEN -3    /* cannot open, read or write the file */
#define NN_ERR_FORMAT -4  /* malformed safetensors file (bad header length, bad JSON, offsets beyond the data) */
#define NN_ERR_MISSING -5 /* a parameter tensor is missing from the file */
#define NN_ERR_SHAPE -6   /* wrong shape or dtype (only F32 accepted) for a parameter */
#define NN_ERR_EXTRA -7   /* a tensor that is not a parameter (num_batches_tracked, any dtype, is ignored) */
#define NN_ERR_INDEX -8   /* parameter index out of range */
#define NN_ERR_NOMEM -9   /* out of memory */
#endif

#ifndef NN_UNUSED /* keeps -Wunused-function quiet when a library does not call every helper */
#if defined(__GNUC__) || defined(__clang__)
#define NN_UNUSED __attribute__((unused))
#else
#define NN_UNUSED
#endif
#endif

/* Loading and saving run once per file, so they are compiled for size
   (`cold`): on a small library that is a third less of gcc's time than -O3
   spent on this code, and no measurable cost in a load. */
#if defined(__GNUC__) || defined(__clang__)
#define NN_COLD __attribute__((cold))
#define NN_NOINLINE __attribute__((noinline))
#else
#define NN_COLD
#define NN_NOINLINE
#endif

#define NN_ST_MAX_HEADER 100000000u /* header length must be below 100 MB */
#define NN_ST_MAX_DEPTH 64          /* nesting limit when skipping unknown JSON values (bounds recursion) */

/* ---- minimal JSON scanner over the header bytes: the cursor p never reads at or past end ---- */
typedef struct { char *p, *end; } nn_js_t;

static NN_UNUSED NN_COLD void nn_js_ws(nn_js_t *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

/* Consumes character c after optional whitespace; returns 1 if it was there. */
static NN_UNUSED NN_COLD int nn_js_eat(nn_js_t *s, char c) {
    nn_js_ws(s);
    if (s->p < s->end && *s->p == c) { s->p++; return 1; }
    return 0;
}

static NN_UNUSED NN_COLD int nn_js_hex4(nn_js_t *s, uint32_t *v) {
    *v = 0;
    if (s->end - s->p < 4) return 0;
    for (int i = 0; i < 4; i++) {
        char c = *s->p++;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        *v = *v << 4 | (uint32_t)d;
    }
    return 1;
}

/* Parses a string, decoding escapes IN PLACE: the decoded form is never longer than the escaped one
   (2->1, 6->3, 12->4 bytes), so the write cursor w stays behind the read cursor. The result may contain
   NUL bytes, hence the explicit length. */
static NN_UNUSED NN_COLD int nn_js_str(nn_js_t *s, char **out, size_t *len) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    char *w, *start;
    uint32_t u, lo;
    int nb;
    if (!nn_js_eat(s, '"')) return 0;
    w = start = s->p;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"') { *out = start; *len = (size_t)(w - start); return 1; }
        if (c < 0x20) return 0; /* raw control characters are not allowed in JSON strings */
        if (c != '\\') { *w++ = (char)c; continue; }
        if (s->p >= s->end) return 0;
        c = (unsigned char)*s->p++;
        if (c != 'u') { /* one-character escape; memchr over 8 bytes never matches the terminating NUL */
            const char *q = (const char *)memchr(from, c, 8);
            if (!q) return 0;
            *w++ = to[q - from];
            continue;
        }
        if (!nn_js_hex4(s, &u) || (u >= 0xDC00 && u <= 0xDFFF)) return 0; /* lone low surrogate */
        if (u >= 0xD800 && u <= 0xDBFF) {                                  /* must pair with a low surrogate */
            if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u') return 0;
            s->p += 2;
            if (!nn_js_hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF) return 0;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        nb = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4; /* encode the code point as UTF-8 */
        for (int k = nb - 1; k > 0; k--) { w[k] = (char)(0x80 | (u & 0x3F)); u >>= 6; }
        w[0] = (char)(lead[nb] | u);
        w += nb;
    }
    return 0; /* unterminated */
}

static NN_UNUSED NN_COLD int nn_js_digits(nn_js_t *s) {
    char *p0 = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > p0;
}

/* Non-negative integer (shape entries, offsets): no sign, fraction, exponent, leading zero or overflow. */
static NN_UNUSED NN_COLD int nn_js_u64(nn_js_t *s, uint64_t *v) {
    nn_js_ws(s);
    *v = 0;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9') return 0;
    if (*s->p == '0' && s->end - s->p > 1 && s->p[1] >= '0' && s->p[1] <= '9') return 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        uint64_t d = (uint64_t)(*s->p++ - '0');
        if (*v > (UINT64_MAX - d) / 10) return 0;
        *v = *v * 10 + d;
    }
    return !(s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'));
}

/* Skips any JSON value. */
static NN_UNUSED NN_COLD int nn_js_skip(nn_js_t *s, int depth) {
    static const char *const words[] = {"true", "false", "null"};
    char *str;
    size_t len;
    nn_js_ws(s);
    if (depth > NN_ST_MAX_DEPTH || s->p >= s->end) return 0;
    if (*s->p == '"') return nn_js_str(s, &str, &len);
    if (*s->p == '{' || *s->p == '[') {
        int obj = *s->p++ == '{';
        char close = obj ? '}' : ']';
        if (nn_js_eat(s, close)) return 1;
        do {
            if (obj && (!nn_js_str(s, &str, &len) || !nn_js_eat(s, ':'))) return 0;
            if (!nn_js_skip(s, depth + 1)) return 0;
        } while (nn_js_eat(s, ','));
        return nn_js_eat(s, close);
    }
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) { s->p += n; return 1; }
    }
    if (*s->p == '-') s->p++; /* number: -?digits(.digits)?([eE][+-]?digits)? */
    if (!nn_js_digits(s)) return 0;
    if (s->p < s->end && *s->p == '.') { s->p++; if (!nn_js_digits(s)) return 0; }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!nn_js_digits(s)) return 0;
    }
    return 1;
}

static NN_UNUSED NN_COLD int nn_js_is(const char *k, size_t kl, const char *lit) { return kl == strlen(lit) && !memcmp(k, lit, kl); }

/* ---- safetensors header ---- */
/* Parameter tensors have at most NN_PARAM_RANK axes: 4, or 5 in libraries with conv3d weights. */
#ifndef NN_PARAM_RANK
#define NN_PARAM_RANK 4
#endif
/* One tensor entry. dims holds the first NN_PARAM_RANK dimensions; rank may be larger (then it can only mismatch). */
typedef struct { char *dtype; size_t dtype_len; int rank; uint64_t dims[NN_PARAM_RANK], count, begin, end; } nn_st_ent_t;

/* Parses {"dtype":..., "shape":[...], "data_offsets":[b,e]} in any key order, skipping unknown keys.
   Each of the three keys must appear exactly once; the element count must not overflow. */
static NN_UNUSED NN_COLD int nn_st_entry(nn_js_t *s, nn_st_ent_t *e) {
    int seen = 0;
    char *k;
    size_t kl;
    uint64_t d;
    memset(e, 0, sizeof *e);
    e->count = 1;
    if (!nn_js_eat(s, '{')) return 0;
    do {
        if (!nn_js_str(s, &k, &kl) || !nn_js_eat(s, ':')) return 0;
        if (nn_js_is(k, kl, "dtype")) {
            if ((seen & 1) || !nn_js_str(s, &e->dtype, &e->dtype_len)) return 0;
            seen |= 1;
        } else if (nn_js_is(k, kl, "shape")) {
            if ((seen & 2) || !nn_js_eat(s, '[')) return 0;
            seen |= 2;
            if (nn_js_eat(s, ']')) continue; /* scalar */
            do {
                if (!nn_js_u64(s, &d) || d > INT64_MAX || e->rank >= 1024) return 0;
                if (d != 0 && e->count > UINT64_MAX / d) return 0; /* element count overflow */
                e->count *= d;
                if (e->rank < NN_PARAM_RANK) e->dims[e->rank] = d;
                e->rank++;
            } while (nn_js_eat(s, ','));
            if (!nn_js_eat(s, ']')) return 0;
        } else if (nn_js_is(k, kl, "data_offsets")) {
            if ((seen & 4) || !nn_js_eat(s, '[') || !nn_js_u64(s, &e->begin) || !nn_js_eat(s, ',') ||
                !nn_js_u64(s, &e->end) || !nn_js_eat(s, ']'))
                return 0;
            seen |= 4;
        } else if (!nn_js_skip(s, 1)) {
            return 0;
        }
    } while (nn_js_eat(s, ','));
    return nn_js_eat(s, '}') && seen == 7;
}

/* Element count of a caller-described parameter, capped so that 4*count fits both uint64_t and size_t. */
static NN_UNUSED NN_COLD int nn_st_count(int rank, const int64_t *dims, uint64_t *count) {
    *count = 1;
    if (rank < 0 || rank > NN_PARAM_RANK) return 0;
    for (int k = 0; k < rank; k++) {
        if (dims[k] < 0 || (dims[k] != 0 && *count > (UINT64_MAX / 4) / (uint64_t)dims[k])) return 0;
        *count *= (uint64_t)dims[k];
    }
    return *count <= SIZE_MAX / 4;
}

/* Argument checks shared by load and save; arr is dst or src (its elements are checked by the caller). */
static NN_UNUSED NN_COLD int nn_st_args(const char *path, int n, const char *const *names, const int *ranks,
                                const int64_t (*dims)[NN_PARAM_RANK], const void *arr) {
    uint64_t c;
    if (n < 0) return NN_ERR_INDEX;
    if (!path || (n > 0 && (!names || !ranks || !dims || !arr))) return NN_ERR_NULL;
    for (int i = 0; i < n; i++) {
        if (!names[i]) return NN_ERR_NULL;
        if (!nn_st_count(ranks[i], dims[i], &c)) return NN_ERR_SHAPE;
    }
    return NN_OK;
}

/* PyTorch BatchNorm counters are not parameters: "num_batches_tracked" and "*.num_batches_tracked" are ignored. */
static NN_UNUSED NN_COLD int nn_st_ignorable(const char *k, size_t kl) {
    static const char sfx[] = "num_batches_tracked";
    size_t sl = sizeof sfx - 1;
    return kl >= sl && memcmp(k + kl - sl, sfx, sl) == 0 && (kl == sl || k[kl - sl - 1] == '.');
}

/* Parses and validates the whole header; off[i] receives the data offset of parameter i. Syntax errors
   return FORMAT at once; the first semantic error is remembered and reported after the full parse. */
static NN_UNUSED NN_COLD int nn_st_header(char *hdr, size_t hlen, uint64_t dlen, int n, const char *const *names,
                                  const int *ranks, const int64_t (*dims)[NN_PARAM_RANK], uint64_t *off) {
    nn_js_t s = {hdr, hdr + hlen};
    nn_st_ent_t e;
    char *k;
    size_t kl;
    int err = NN_OK, i, j, ok;
    for (i = 0; i < n; i++) off[i] = UINT64_MAX; /* "absent" (real offsets are at most dlen < 2^63) */
    if (!nn_js_eat(&s, '{')) return NN_ERR_FORMAT;
    if (!nn_js_eat(&s, '}')) {
        do {
            if (!nn_js_str(&s, &k, &kl) || !nn_js_eat(&s, ':')) return NN_ERR_FORMAT;
            if (nn_js_is(k, kl, "__metadata__")) {
                if (!nn_js_skip(&s, 1)) return NN_ERR_FORMAT;
                continue;
            }
            if (!nn_st_entry(&s, &e) || e.begin > e.end || e.end > dlen) return NN_ERR_FORMAT;
            for (i = 0; i < n && !(strlen(names[i]) == kl && memcmp(names[i], k, kl) == 0); i++) {}
            if (i == n) {
                if (!nn_st_ignorable(k, kl) && !err) err = NN_ERR_EXTRA;
                continue;
            }
            if (off[i] != UINT64_MAX) return NN_ERR_FORMAT; /* duplicate name */
            off[i] = e.begin;
            ok = nn_js_is(e.dtype, e.dtype_len, "F32") && e.rank == ranks[i];
            for (j = 0; ok && j < e.rank; j++) ok = e.dims[j] == (uint64_t)dims[i][j];
            if (!ok) { if (!err) err = NN_ERR_SHAPE; continue; }
            if (e.end - e.begin != 4 * e.count) return NN_ERR_FORMAT; /* count == caller's, so 4*count fits */
        } while (nn_js_eat(&s, ','));
        if (!nn_js_eat(&s, '}')) return NN_ERR_FORMAT;
    }
    nn_js_ws(&s); /* writers pad the header with trailing spaces */
    if (s.p != s.end) return NN_ERR_FORMAT;
    for (i = 0; i < n && !err; i++)
        if (off[i] == UINT64_MAX) err = NN_ERR_MISSING;
    return err;
}

/* The two loops whose time grows with the model stay out of the cold code:
   explicit little-endian decode and encode, correct on any host byte order,
   which gcc compiles to plain copies on a little-endian host (not inlined:
   inside a cold caller they would be compiled for size too). */
static NN_UNUSED NN_NOINLINE void nn_st_decode(const unsigned char *b, size_t count, float *dst) {
    for (size_t j = 0; j < count; j++, b += 4) {
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&dst[j], &u, 4);
    }
}

static NN_UNUSED NN_NOINLINE void nn_st_encode(const float *src, size_t count, unsigned char *b) {
    for (size_t j = 0; j < count; j++, b += 4) {
        uint32_t u;
        memcpy(&u, &src[j], 4);
        b[0] = (unsigned char)u, b[1] = (unsigned char)(u >> 8), b[2] = (unsigned char)(u >> 16), b[3] = (unsigned char)(u >> 24);
    }
}

static NN_UNUSED NN_COLD int nn_st_load(const char *path, int n, const char *const *names, const int *ranks,
                                const int64_t (*dims)[NN_PARAM_RANK], float *const *dst) {
    unsigned char b8[8], *buf = NULL;
    uint64_t hlen = 0, count, *off = NULL;
    size_t total = 0, pos = 0;
    char *hdr = NULL;
    long fsz;
    FILE *f;
    int i, rc = nn_st_args(path, n, names, ranks, dims, dst);
    for (i = 0; i < n && rc == NN_OK; i++) rc = dst[i] ? NN_OK : NN_ERR_NULL;
    if (rc != NN_OK) return rc;
    if (!(f = fopen(path, "rb"))) return NN_ERR_OPEN;
    if (fread(b8, 1, 8, f) != 8) { rc = ferror(f) ? NN_ERR_OPEN : NN_ERR_FORMAT; goto done; }
    for (i = 7; i >= 0; i--) hlen = hlen << 8 | b8[i];
    /* ftell returns long: files above LONG_MAX bytes are not supported where long is 32 bits */
    if (fseek(f, 0, SEEK_END) != 0 || (fsz = ftell(f)) < 8) { rc = NN_ERR_OPEN; goto done; }
    if (hlen >= NN_ST_MAX_HEADER || hlen > (uint64_t)fsz - 8) { rc = NN_ERR_FORMAT; goto done; }
    off = (uint64_t *)malloc(((size_t)n + 1) * sizeof *off);
    hdr = (char *)malloc((size_t)hlen + 1);
    if (!off || !hdr) { rc = NN_ERR_NOMEM; goto done; }
    if (fseek(f, 8, SEEK_SET) != 0 || fread(hdr, 1, (size_t)hlen, f) != (size_t)hlen) { rc = NN_ERR_OPEN; goto done; }
    rc = nn_st_header(hdr, (size_t)hlen, (uint64_t)fsz - 8 - hlen, n, names, ranks, dims, off);
    if (rc != NN_OK) goto done;
    /* Read all parameters into a temporary buffer first, so an I/O error cannot leave dst half written. */
    for (i = 0; i < n; i++) {
        nn_st_count(ranks[i], dims[i], &count);
        if (4 * count > SIZE_MAX - 1 - total) { rc = NN_ERR_NOMEM; goto done; }
        total += 4 * (size_t)count;
    }
    free(hdr);
    hdr = NULL;
    if (!(buf = (unsigned char *)malloc(total + 1))) { rc = NN_ERR_NOMEM; goto done; }
    for (i = 0; i < n; i++, pos += 4 * (size_t)count) { /* offsets are <= the file size, so they fit a long */
        nn_st_count(ranks[i], dims[i], &count);
        if (fseek(f, (long)(8 + hlen + off[i]), SEEK_SET) != 0 || fread(buf + pos, 4, (size_t)count, f) != (size_t)count) {
            rc = NN_ERR_OPEN;
            goto done;
        }
    }
    for (i = 0, pos = 0; i < n; i++, pos += 4 * (size_t)count) {
        nn_st_count(ranks[i], dims[i], &count);
        nn_st_decode(buf + pos, (size_t)count, dst[i]);
    }
done:
    free(buf);
    free(hdr);
    free(off);
    fclose(f);
    return rc;
}

/* A 64-bit fingerprint of n floats' bits (FNV-1a over 32-bit words): whether a weights file read again still
   holds what an earlier load read. Each step is a bijection of the state, so one changed float always shows. */
static NN_UNUSED NN_COLD uint64_t nn_st_fingerprint(const float *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        h = (h ^ u) * 0x100000001b3ull;
    }
    return h;
}

/* ---- saving ---- */
/* Growable byte buffer for the header; oom is sticky so the caller checks once at the end. */
typedef struct { char *p; size_t len, cap; int oom; } nn_sb_t;

static NN_UNUSED NN_COLD void nn_sb_put(nn_sb_t *b, const char *s, size_t n) {
    char *p;
    if (b->oom || n > SIZE_MAX / 4 - b->len) { b->oom = 1; return; }
    if (n > b->cap - b->len) { /* grow geometrically */
        if (!(p = (char *)realloc(b->p, 2 * (b->len + n)))) { b->oom = 1; return; }
        b->p = p;
        b->cap = 2 * (b->len + n);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static NN_UNUSED NN_COLD void nn_sb_str(nn_sb_t *b, const char *s) { nn_sb_put(b, s, strlen(s)); }
/* Appends the text before, then v in decimal. */
static NN_UNUSED NN_COLD void nn_sb_u64(nn_sb_t *b, const char *before, uint64_t v) {
    char t[24];
    int i = 24;
    do { t[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    nn_sb_str(b, before);
    nn_sb_put(b, t + i, (size_t)(24 - i));
}

/* JSON string with ", \ and control characters escaped; all other bytes (UTF-8) pass through. */
static NN_UNUSED NN_COLD void nn_sb_jstr(nn_sb_t *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    nn_sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') { esc[1] = (char)c; nn_sb_put(b, esc, 2); }
        else nn_sb_put(b, c < 0x20 ? esc : s, c < 0x20 ? 6 : 1);
    }
    nn_sb_put(b, "\"", 1);
}

static NN_UNUSED NN_COLD int nn_st_save(const char *path, int n, const char *const *names, const int *ranks,
                                const int64_t (*dims)[NN_PARAM_RANK], const float *const *src) {
    nn_sb_t h = {NULL, 0, 0, 0};
    unsigned char chunk[4096];
    uint64_t count, at = 0;
    char *tmp = NULL;
    FILE *f = NULL;
    int i, k, rc = nn_st_args(path, n, names, ranks, dims, src);
    for (i = 0; i < n && rc == NN_OK; i++) rc = src[i] ? NN_OK : NN_ERR_NULL;
    if (rc != NN_OK) return rc;
    nn_sb_put(&h, "{", 1);
    for (i = 0; i < n; i++) {
        nn_st_count(ranks[i], dims[i], &count);
        if (i) nn_sb_put(&h, ",", 1);
        nn_sb_jstr(&h, names[i]);
        nn_sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (k = 0; k < ranks[i]; k++) nn_sb_u64(&h, k ? "," : "", (uint64_t)dims[i][k]);
        nn_sb_u64(&h, "],\"data_offsets\":[", at);
        if (4 * count > UINT64_MAX - at) { rc = NN_ERR_SHAPE; goto done; }
        nn_sb_u64(&h, ",", at += 4 * count);
        nn_sb_put(&h, "]}", 2);
    }
    nn_sb_put(&h, "}", 1);
    while (!h.oom && h.len % 8) nn_sb_put(&h, " ", 1); /* as Python safetensors does: data 8-byte aligned */
    if (h.oom || !(tmp = (char *)malloc(strlen(path) + 64))) { rc = NN_ERR_NOMEM; goto done; }
    /* Unique temp name: the stack address differs per thread, clock() per process; "x" never clobbers. */
    for (k = 0; k < 16 && !f; k++) {
        sprintf(tmp, "%s.tmp%lx.%lx.%d", path, (unsigned long)(uintptr_t)&h, (unsigned long)clock(), k);
        f = fopen(tmp, "wbx");
    }
    if (!f) { rc = NN_ERR_OPEN; goto done; }
    for (i = 0; i < 8; i++) chunk[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    if (fwrite(chunk, 1, 8, f) != 8 || fwrite(h.p, 1, h.len, f) != h.len) rc = NN_ERR_OPEN;
    for (i = 0; i < n && rc == NN_OK; i++) {
        nn_st_count(ranks[i], dims[i], &count);
        for (size_t j = 0, m; j < (size_t)count && rc == NN_OK;) { /* explicit little-endian encode, by chunks */
            m = (size_t)count - j < sizeof chunk / 4 ? (size_t)count - j : sizeof chunk / 4;
            nn_st_encode(src[i] + j, m, chunk);
            j += m;
            if (fwrite(chunk, 4, m, f) != m) rc = NN_ERR_OPEN;
        }
    }
    if (fclose(f) != 0) rc = NN_ERR_OPEN;
    if (rc == NN_OK && rename(tmp, path) != 0) {
#ifdef _WIN32 /* Windows rename() does not replace an existing file */
        if (remove(path) != 0 || rename(tmp, path) != 0)
#endif
            rc = NN_ERR_OPEN;
    }
    if (rc != NN_OK) remove(tmp);
done:
    free(tmp);
    free(h.p);
    return rc;
}
