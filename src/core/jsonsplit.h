/* jsonsplit.h — an incremental splitter for a JSON document of the shape
 * {"KEY": [ELEM, ELEM, ...]}: bytes are pushed in pieces of any size and
 * each element of the array is handed over as one complete span, so a body
 * of any size (an Anthropic Message Batches create: {"requests": [...]})
 * is never held whole.
 *
 * Contract:
 *  - The document's skeleton is checked strictly (RFC 8259): one object,
 *    whitespace anywhere JSON allows it, nothing after it.  Its only
 *    member may be KEY (compared after unescaping), once, and its value
 *    must be an array.  Another member, KEY twice or a value that is not
 *    an array is an error (code names which).
 *  - An element is delimited structurally (strings, escapes, nesting with
 *    matching brackets, up to FG_JSONSPLIT_MAX_DEPTH levels inside it, a
 *    total the same as jansson's for the whole document); its own syntax
 *    is its consumer's to check (fn parses it).  Each element's span, from
 *    its first byte to its last, goes to fn in order with its index: a
 *    pointer into the pushed bytes when the element lies within one push,
 *    else into a buffer the splitter owns (as large as the largest element
 *    split across pushes, never over max_elem).
 *  - An element longer than max_elem bytes is an error (FG_JSONSPLIT_E_BIG)
 *    the moment it crosses the bound; its bytes are not kept.
 *  - fn returning nonzero stops the splitter (FG_JSONSPLIT_E_STOPPED).
 *  - Any error is sticky: push and finish return -1 from then on; code and
 *    err (one sentence, with the byte offset for syntax) say what.
 *  - However the input is cut into pushes, the elements, their order and
 *    the verdict are the same as for the whole input in one push
 *    (test_jsonsplit.c at every split point, fuzz_jsonsplit). */
#ifndef FRUGAL_JSONSPLIT_H
#define FRUGAL_JSONSPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* jansson's JSON_PARSER_MAX_DEPTH is 2048 for the whole document; the
 * object and the array take two levels */
#define FG_JSONSPLIT_MAX_DEPTH 2046

enum fg_jsonsplit_code {
    FG_JSONSPLIT_OK,
    FG_JSONSPLIT_E_SYNTAX,    /* the skeleton is not JSON */
    FG_JSONSPLIT_E_MEMBER,    /* a member other than KEY (name in err) */
    FG_JSONSPLIT_E_DUPLICATE, /* KEY twice */
    FG_JSONSPLIT_E_NOT_ARRAY, /* KEY's value is not an array */
    FG_JSONSPLIT_E_BIG,       /* an element over max_elem */
    FG_JSONSPLIT_E_STOPPED,   /* fn returned nonzero */
};

/* The element's index, its bytes (n >= 1, not NUL-terminated). */
typedef int (*fg_jsonsplit_fn)(void *arg, size_t i, const char *p, size_t n);

struct fg_jsonsplit {
    enum fg_jsonsplit_code code;
    char err[160];
    size_t n;      /* elements handed over */
    bool seen_key; /* KEY's array was opened */
    uint64_t off;  /* bytes pushed */
    /* private */
    const char *key;
    size_t max_elem;
    fg_jsonsplit_fn fn;
    void *arg;
    int st; /* the skeleton's state */
    bool in_str, esc, scalar;
    int uhex; /* \uXXXX digits left in a key, and its value */
    unsigned uval;
    size_t depth;                                         /* brackets open inside the element */
    unsigned char kind[(FG_JSONSPLIT_MAX_DEPTH + 7) / 8]; /* 1 = object */
    char name[72]; /* the member name being read (unescaped) */
    size_t nname;
    char *buf; /* an element split across pushes */
    size_t nbuf, capbuf;
};

void fg_jsonsplit_init(struct fg_jsonsplit *s, const char *key, size_t max_elem, fg_jsonsplit_fn fn,
                       void *arg);
/* 0, or -1 after an error (code, err). */
int fg_jsonsplit_push(struct fg_jsonsplit *s, const char *p, size_t n);
/* The input ended: 0 when it was a complete document, else -1. */
int fg_jsonsplit_finish(struct fg_jsonsplit *s);
void fg_jsonsplit_free(struct fg_jsonsplit *s);

#endif
