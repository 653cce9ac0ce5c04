/* json.h — a validating JSON indexer for the hot path.
 *
 * Why not jansson here: on this machine jansson parses a 2 KB chat request
 * in ~32 µs (≈60 MB/s) and dumps it in ~14 µs, more than the whole
 * per-request CPU budget (≈25 µs).  This indexer validates the document
 * (RFC 8259 grammar, control characters, escapes, nesting ≤ 512 or the
 * caller's max_depth) and
 * records one token per value with its byte span in the original buffer:
 * no per-value allocation, no copies.  Rewrites are splices of the
 * original bytes (json_edit below), so everything frugal does not change
 * is forwarded byte for byte — unknown fields, key order, number spelling.
 * jansson stays the tool for building and transforming documents
 * (translation, errors, sim, config).
 *
 * Tokens: index 0 is the root.  Containers' `next` is the index just past
 * their subtree, so siblings are walked by jumping.  In an object the
 * children alternate key (string), value.
 * Ownership: struct fg_json owns its token array (fg_json_free). */
#ifndef FRUGAL_JSON_H
#define FRUGAL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fg_jtype {
    FG_J_NONE,
    FG_J_OBJ,
    FG_J_ARR,
    FG_J_STR,
    FG_J_NUM,
    FG_J_TRUE,
    FG_J_FALSE,
    FG_J_NULL
};

struct fg_jtok {
    uint32_t start, end; /* byte span; strings include their quotes */
    uint32_t next;       /* index of the token after this subtree */
    uint32_t type;
};

struct fg_json {
    const char *src;
    size_t len;
    struct fg_jtok *t;
    uint32_t n, cap;
    uint32_t max_depth; /* set before parsing: 1..512, 0 = 512 */
    /* Set before parsing: refuse an object with two members of the same
     * name (compared after decoding escapes), at any depth.  Providers keep
     * the last of duplicates while lookups here find the first, so a
     * request that frugal reads one way could run another way upstream. */
    bool unique_keys;
    bool esc_keys; /* set by the parser: some member name holds an escape */
    /* on error */
    size_t err_off;
    const char *err;
    char err_path[160]; /* fg_json_err_dup: the member, e.g. messages[0].role */
};

/* The err of a document nested deeper than max_depth. */
extern const char fg_json_err_depth[];
/* The err of a duplicate member name (unique_keys); err_path names it. */
extern const char fg_json_err_dup[];

/* 0 on success; -1 with err/err_off set.  Reuses j->t across calls. */
int fg_json_parse(struct fg_json *j, const char *s, size_t n);
void fg_json_free(struct fg_json *j);
/* Free the calling thread's spare token array (at thread exit). */
void fg_json_thread_cleanup(void);

static inline enum fg_jtype fg_json_type(const struct fg_json *j, int i)
{
    return i >= 0 ? (enum fg_jtype)j->t[i].type : FG_J_NONE;
}
/* Member value of object i for key, or -1.  Member names are compared
 * decoded, so "\u006e" finds "n" (the provider reads it that way). */
int fg_json_get(const struct fg_json *j, int obj, const char *key);
/* First child of container i (for objects: the first key), or -1. */
int fg_json_child(const struct fg_json *j, int i);
/* Next sibling of i within parent container p, or -1. */
int fg_json_sibling(const struct fg_json *j, int p, int i);
/* Keys frugal reads must be unambiguous: providers take the last of
 * duplicate keys and decode escapes, so a second "model" (or "mod\u0065l")
 * could make the provider run something other than what frugal routed and
 * billed.  Returns the offending key (with *why) or NULL. */
const char *fg_json_check_keys(const struct fg_json *j, int obj, const char *const *keys,
                               const char **why);
/* Number of elements of array i (or members of object i). */
size_t fg_json_count(const struct fg_json *j, int i);
/* Array element k of array i, or -1. */
int fg_json_at(const struct fg_json *j, int arr, size_t k);
/* True if string token i, decoded, equals s (s holds no escapes). */
bool fg_json_str_eq(const struct fg_json *j, int i, const char *s);
/* Raw bytes between a string's quotes (escapes not decoded). */
const char *fg_json_raw_str(const struct fg_json *j, int i, size_t *len);
/* Decode string i into out (NUL-terminated, truncated to outlen);
 * returns the decoded length, or -1 if i is not a string. */
long fg_json_str(const struct fg_json *j, int i, char *out, size_t outlen);
/* Integer value of number token i into *v; false if not an integer. */
bool fg_json_int(const struct fg_json *j, int i, int64_t *v);

/* The bytes to delete to remove member `key` of object obj, with one
 * neighbouring comma so the object stays valid.  false if absent. */
bool fg_json_member_span(const struct fg_json *j, int obj, const char *key, uint32_t *start,
                         uint32_t *end);

/* Splice editor: replacements of byte spans of the source, applied in
 * ascending order.  Edits must not overlap. */
struct fg_json_edit {
    uint32_t start, end; /* replaced span [start, end) */
    const char *text;    /* replacement bytes (not copied) */
    size_t text_len;
};
/* Apply edits (sorted by start) to src into a new malloc'd buffer. */
char *fg_json_splice(const char *src, size_t len, const struct fg_json_edit *e, size_t ne,
                     size_t *out_len);

#endif
