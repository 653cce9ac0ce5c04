/* fuzz.h — helpers shared by the libFuzzer targets in fuzz/.
 *
 * Contract: header-only, for fuzz targets only.  FUZZ_CHECK() aborts with a
 * message when an invariant fails, so libFuzzer records the input as a
 * crash; fuzz_rng gives a deterministic stream of numbers from input bytes
 * (chunk sizes, option bits), so every finding replays exactly. */
#ifndef FRUGAL_FUZZ_H
#define FRUGAL_FUZZ_H

#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fuzz_rng {
    uint64_t s;
};

static inline uint32_t fuzz_next(struct fuzz_rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}

/* Consume up to `n` leading bytes of the input as a seed. */
static inline struct fuzz_rng fuzz_seed(const uint8_t **data, size_t *size, size_t n)
{
    struct fuzz_rng r = {0x9e3779b97f4a7c15ull};
    for (size_t i = 0; i < n && *size; i++, (*data)++, (*size)--)
        r.s = (r.s ^ **data) * 0x100000001b3ull;
    return r;
}

/* Is [s, s+n) one valid JSON document (fg_json's grammar)? */
static inline int fuzz_json_ok(const char *s, size_t n)
{
    struct fg_json j = {0};
    int rc = fg_json_parse(&j, s, n);
    fg_json_free(&j);
    return rc == 0;
}

#endif
