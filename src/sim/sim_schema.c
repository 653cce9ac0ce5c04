/* sim_schema.c — a value that satisfies a JSON Schema, for the simulated
 * provider's structured outputs and forced tool calls.
 *
 * Not a validator and not a general solver: it covers the subset the
 * providers accept for strict outputs (section 6 of the wire spec) and
 * picks the simplest member — required properties only, minItems items,
 * minimum or 0, first enum value, first anyOf branch.  `pattern` is not
 * honoured.  Deterministic; recursion through $ref is bounded by depth. */
#include "sim_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 24
#define ALL_PROPS_DEPTH 6 /* without "required", list properties this deep */
#define MAX_ITEMS 64

static json_t *gen(const json_t *s, const json_t *root, int depth);

/* Resolve a local reference ("#", "#/$defs/x", any JSON pointer). */
static const json_t *resolve_ref(const char *ref, const json_t *root)
{
    if (strcmp(ref, "#") == 0)
        return root;
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    const json_t *cur = root;
    const char *p = ref + 2;
    while (cur && *p) {
        char seg[256];
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && (p[1] == '0' || p[1] == '1'))
                ch = *++p == '0' ? '~' : '/';
            if (n < sizeof seg - 1)
                seg[n++] = ch;
        }
        seg[n] = '\0';
        if (*p == '/')
            p++;
        if (json_is_object(cur))
            cur = json_object_get(cur, seg);
        else if (json_is_array(cur))
            cur = json_array_get(cur, strtoul(seg, NULL, 10));
        else
            cur = NULL;
    }
    return cur;
}

static int has(const json_t *s, const char *key)
{
    return json_object_get(s, key) != NULL;
}

/* The type to generate: the first non-null member of "type", or a guess
 * from the keywords present. */
static const char *pick_type(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_array(t)) {
        size_t i;
        json_t *v;
        int null_ok = 0;
        json_array_foreach(t, i, v)
        {
            const char *name = json_string_value(v);
            if (name && strcmp(name, "null") != 0)
                return name;
            null_ok |= name != NULL;
        }
        return null_ok ? "null" : NULL;
    }
    if (has(s, "properties") || has(s, "required") || has(s, "additionalProperties"))
        return "object";
    if (has(s, "items") || has(s, "prefixItems") || has(s, "minItems"))
        return "array";
    if (has(s, "minimum") || has(s, "maximum") || has(s, "multipleOf"))
        return "number";
    return "string";
}

static int in_list(const json_t *list, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
            return 1;
    }
    return 0;
}

static json_t *gen_object(const json_t *s, const json_t *root, int depth)
{
    json_t *o = json_object();
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const char *key;
    json_t *sub;
    /* Schema order, which is also the order strict outputs use. */
    json_object_foreach((json_t *)props, key, sub)
    {
        int want = json_is_array(req) ? in_list(req, key) : depth < ALL_PROPS_DEPTH;
        if (want)
            json_object_set_new(o, key, gen(sub, root, depth + 1));
    }
    size_t i;
    json_array_foreach(req, i, sub)
    {
        const char *name = json_string_value(sub);
        if (name && !json_object_get(o, name)) {
            const json_t *extra = json_object_get(s, "additionalProperties");
            json_object_set_new(o, name,
                                json_is_object(extra) ? gen(extra, root, depth + 1)
                                                      : json_string("example"));
        }
    }
    return o;
}

/* Distinct items when uniqueItems asks for it (strings only: enough for
 * the schemas the providers accept). */
static json_t *uniquify(json_t *v, size_t i)
{
    if (i == 0 || !json_is_string(v))
        return v;
    char *s = NULL;
    if (asprintf(&s, "%s-%zu", json_string_value(v), i) < 0)
        return v;
    json_decref(v);
    v = json_string(s);
    free(s);
    return v;
}

static json_t *gen_array(const json_t *s, const json_t *root, int depth)
{
    json_t *a = json_array();
    const json_t *items = json_object_get(s, "items");
    const json_t *prefix = json_object_get(s, "prefixItems");
    if (json_is_array(items)) /* draft-4 tuple form */
        prefix = items, items = NULL;
    json_int_t n = json_integer_value(json_object_get(s, "minItems"));
    if (n > MAX_ITEMS)
        n = MAX_ITEMS;
    int unique = json_is_true(json_object_get(s, "uniqueItems"));
    for (json_int_t i = 0; i < n; i++) {
        const json_t *sub =
            (size_t)i < json_array_size(prefix) ? json_array_get(prefix, (size_t)i) : items;
        json_t *v = sub ? gen(sub, root, depth + 1) : json_string("example");
        json_array_append_new(a, unique ? uniquify(v, (size_t)i) : v);
    }
    return a;
}

static const char *format_example(const char *fmt)
{
    static const struct {
        const char *fmt, *example;
    } tbl[] = {
        {"date-time", "2026-01-01T00:00:00Z"},
        {"date", "2026-01-01"},
        {"time", "00:00:00Z"},
        {"duration", "PT1M"},
        {"email", "user@example.com"},
        {"hostname", "example.com"},
        {"uri", "https://example.com/"},
        {"url", "https://example.com/"},
        {"ipv4", "192.0.2.1"},
        {"ipv6", "2001:db8::1"},
        {"uuid", "00000000-0000-4000-8000-000000000000"},
    };
    for (size_t i = 0; fmt && i < sizeof tbl / sizeof tbl[0]; i++)
        if (strcmp(fmt, tbl[i].fmt) == 0)
            return tbl[i].example;
    return "example";
}

static json_t *gen_string(const json_t *s)
{
    const char *base = format_example(json_string_value(json_object_get(s, "format")));
    json_int_t min = json_integer_value(json_object_get(s, "minLength"));
    const json_t *maxv = json_object_get(s, "maxLength");
    size_t len = strlen(base), want = len;
    if (min > 0 && (size_t)min > want)
        want = (size_t)(min > 4096 ? 4096 : min);
    if (json_is_integer(maxv) && json_integer_value(maxv) >= 0 &&
        (size_t)json_integer_value(maxv) < want)
        want = (size_t)json_integer_value(maxv);
    char *buf = fg_xmalloc(want + 1);
    for (size_t i = 0; i < want; i++) /* pad with 'x' past the example */
        buf[i] = i < len ? base[i] : 'x';
    buf[want] = '\0';
    json_t *v = json_string(buf);
    free(buf);
    return v;
}

static int num(const json_t *s, const char *key, double *out)
{
    const json_t *v = json_object_get(s, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

static json_t *gen_number(const json_t *s, int integer)
{
    double v = 0, lo, hi, step;
    if (num(s, "minimum", &lo)) {
        v = lo;
        if (json_is_true(json_object_get(s, "exclusiveMinimum"))) /* draft 4 */
            v = lo + 1;
    }
    if (num(s, "exclusiveMinimum", &lo) && v <= lo)
        v = lo + 1;
    if (num(s, "maximum", &hi) && v > hi)
        v = hi;
    if (num(s, "exclusiveMaximum", &hi) && v >= hi)
        v = hi - 1;
    if (num(s, "multipleOf", &step) && step > 0)
        v = ceil(v / step) * step;
    if (integer || v == floor(v))
        return json_integer((json_int_t)ceil(v));
    return json_real(v);
}

static json_t *gen_all_of(const json_t *all, const json_t *root, int depth)
{
    json_t *out = NULL;
    size_t i;
    json_t *sub;
    json_array_foreach(all, i, sub)
    {
        json_t *v = gen(sub, root, depth + 1);
        if (!out) {
            out = v;
        } else {
            if (json_is_object(out) && json_is_object(v))
                json_object_update(out, v);
            json_decref(v);
        }
    }
    return out ? out : json_object();
}

static json_t *gen(const json_t *s, const json_t *root, int depth)
{
    if (json_is_false(s) || depth > MAX_DEPTH)
        return json_null();
    if (!json_is_object(s))
        return json_string("example");
    const json_t *v = json_object_get(s, "$ref");
    const json_t *target = json_is_string(v) ? resolve_ref(json_string_value(v), root) : NULL;
    if (target)
        return gen(target, root, depth + 1);
    if ((v = json_object_get(s, "const")))
        return json_deep_copy(v);
    if ((v = json_object_get(s, "enum")) && json_array_size(v))
        return json_deep_copy(json_array_get(v, 0));
    if (((v = json_object_get(s, "anyOf")) || (v = json_object_get(s, "oneOf"))) &&
        json_array_size(v))
        return gen(json_array_get(v, 0), root, depth + 1);
    if ((v = json_object_get(s, "allOf")) && json_array_size(v))
        return gen_all_of(v, root, depth);
    const char *type = pick_type(s);
    if (!type || strcmp(type, "string") == 0)
        return gen_string(s);
    if (strcmp(type, "object") == 0)
        return gen_object(s, root, depth);
    if (strcmp(type, "array") == 0)
        return gen_array(s, root, depth);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return gen_number(s, type[0] == 'i');
    if (strcmp(type, "boolean") == 0)
        return json_false();
    if (strcmp(type, "null") == 0)
        return json_null();
    return json_string("example");
}

json_t *sim_schema_value(const json_t *schema, const json_t *root)
{
    return gen(schema, root ? root : schema, 0);
}
