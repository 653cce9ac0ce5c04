/* promptcache.c — see promptcache.h. */
#include "promptcache.h"

#include "assert.h"
#include "price.h"
#include "provider.h"

#include <stdio.h>
#include <string.h>

#define REUSE_WINDOW_MS (3600 * 1000LL) /* longest TTL on offer */
#define SHORT_GAP_MS (240 * 1000LL)     /* recurs well within 5 minutes */

static bool add_edit(struct fg_pc_edits *o, uint32_t start, uint32_t end, const char *text)
{
    FG_DASSERT(start <= end && o->n <= o->cap);
    if (o->n == o->cap)
        return false;
    o->e[o->n++] = (struct fg_json_edit){start, end, text, strlen(text)};
    return true;
}

/* A marker `"key":value` appended inside object i (before its '}'). */
static bool mark_object(const struct fg_json *j, int i, const char *kv, struct fg_pc_edits *o)
{
    FG_DASSERT(fg_json_type(j, i) == FG_J_OBJ && j->src[j->t[i].end - 1] == '}');
    uint32_t at = j->t[i].end - 1;
    bool empty = fg_json_child(j, i) < 0;
    return add_edit(o, at, at, fg_arena_printf(o->arena, "%s%s", empty ? "" : ",", kv));
}

/* String content becomes one text block carrying the marker; the string's
 * own bytes are reused as they are. */
static bool mark_string(const struct fg_json *j, int i, const char *kv, struct fg_pc_edits *o)
{
    const struct fg_jtok *t = &j->t[i];
    return add_edit(o, t->start, t->end,
                    fg_arena_printf(o->arena, "[{\"type\":\"text\",\"text\":%.*s,%s}]",
                                    (int)(t->end - t->start), j->src + t->start, kv));
}

/* The block to mark at the end of a content value: its last block, unless
 * that can't carry a marker (thinking, empty text). */
static bool mark_content(const struct fg_json *j, int content, const char *kv,
                         struct fg_pc_edits *o)
{
    if (fg_json_type(j, content) == FG_J_STR) {
        size_t n;
        fg_json_raw_str(j, content, &n);
        return n > 0 && mark_string(j, content, kv, o);
    }
    int last = -1;
    for (int b = fg_json_child(j, content); b >= 0; b = fg_json_sibling(j, content, b))
        last = b;
    if (fg_json_type(j, last) != FG_J_OBJ)
        return false;
    int type = fg_json_get(j, last, "type");
    if (fg_json_str_eq(j, type, "thinking") || fg_json_str_eq(j, type, "redacted_thinking"))
        return false;
    int text = fg_json_get(j, last, "text");
    if (fg_json_type(j, text) == FG_J_STR && j->t[text].end - j->t[text].start == 2)
        return false;
    return mark_object(j, last, kv, o);
}

/* Mark what ends at boundary b (tools array, system value, message). */
static bool mark_boundary(const struct fg_json *j, const struct fg_prefix *p, int b, const char *kv,
                          struct fg_pc_edits *o)
{
    int tok = p->tok[b];
    switch (p->part[b]) {
    case FG_PART_TOOLS: {
        int last = -1;
        for (int t = fg_json_child(j, tok); t >= 0; t = fg_json_sibling(j, tok, t))
            last = t;
        return fg_json_type(j, last) == FG_J_OBJ && mark_object(j, last, kv, o);
    }
    case FG_PART_SYSTEM: return mark_content(j, tok, kv, o);
    default: return mark_content(j, fg_json_get(j, tok, "content"), kv, o);
    }
}

static bool seen_recently(const struct fg_prefix *p, int b, int64_t now)
{
    return p->prev_ms[b] > 0 && now - p->prev_ms[b] <= REUSE_WINDOW_MS;
}

/* Candidates: end of tools, end of system, and the longest stable stretch
 * of the conversation (a message boundary before the last message) that
 * recurs.  Filled in prefix order. */
static int candidates(const struct fg_prefix *p, const struct fg_pc_opts *o, int min_tokens,
                      int *out)
{
    int n = 0, last_msg = -1, best_msg = -1;
    /* out has room for one candidate per boundary */
    FG_ASSERT(p->n >= 0 && p->n <= FG_PREFIX_MAX_BOUNDARIES);
    for (int b = 0; b < p->n; b++)

        if (p->part[b] == FG_PART_MESSAGE)
            last_msg = b;
    for (int b = 0; b < p->n; b++) {
        if (p->tokens[b] < min_tokens || !seen_recently(p, b, o->now_ms))
            continue;
        if (p->part[b] != FG_PART_MESSAGE)
            out[n++] = b;
        else if (b != last_msg)
            best_msg = b; /* boundaries grow: keep the longest */
    }
    if (best_msg >= 0)
        out[n++] = best_msg;
    return n;
}

static bool long_ttl(const struct fg_prefix *p, int b, const struct fg_pc_opts *o)
{
    return o->ttl_seconds >= 3600 || p->gap_ms[b] > SHORT_GAP_MS;
}

/* Does any element of array `arr` (or, for message objects, any block of
 * their content) carry `key`?  Only where markers live: the names inside a
 * tool's schema are data. */
static bool blocks_have(const struct fg_json *j, int arr, const char *key, bool in_content)
{
    for (int e = fg_json_child(j, arr); e >= 0; e = fg_json_sibling(j, arr, e)) {
        if (fg_json_get(j, e, key) >= 0)
            return true;
        if (in_content && blocks_have(j, fg_json_get(j, e, "content"), key, false))
            return true;
    }
    return false;
}

static bool client_marked(const struct fg_json *j, const char *key)
{
    return fg_json_get(j, 0, key) >= 0 || blocks_have(j, fg_json_get(j, 0, "tools"), key, false) ||
           blocks_have(j, fg_json_get(j, 0, "system"), key, false) ||
           blocks_have(j, fg_json_get(j, 0, "messages"), key, true);
}

bool fg_promptcache_client_marked(const struct fg_json *j, enum fg_dialect d)
{
    return client_marked(j, fg_provider_ops(d)->req.cache_mark);
}

static int plan_anthropic(const struct fg_json *j, const struct fg_prefix *p,
                          const struct fg_pc_opts *o, struct fg_pc_edits *out)
{
    /* the client's own markers stay, and then frugal adds none */
    if (client_marked(j, "cache_control"))
        return 0;
    int cand[FG_PREFIX_MAX_BOUNDARIES];
    int n = candidates(p, o, fg_price_min_cacheable_tokens(o->model), cand);
    if (n > 4)
        n = 4;
    /* 1h entries must precede 5m ones: a later 1h lifts the earlier ones */
    bool hour[FG_PREFIX_MAX_BOUNDARIES], later = false;
    for (int k = n - 1; k >= 0; k--)
        later = hour[k] = later || long_ttl(p, cand[k], o);
    int placed = 0;
    for (int k = 0; k < n; k++) {
        const char *kv = hour[k] ? "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}"
                                 : "\"cache_control\":{\"type\":\"ephemeral\"}";
        placed += mark_boundary(j, p, cand[k], kv, out);
    }
    return placed;
}

static bool explicit_breakpoints(const char *model)
{
    return model && (!strncmp(model, "gpt-5.6", 7) || !strncmp(model, "gpt-6", 5));
}

static int plan_openai(const struct fg_json *j, const struct fg_prefix *p,
                       const struct fg_pc_opts *o, struct fg_pc_edits *out)
{
    if (o->openai_cache_key && p->n > 0 && fg_json_get(j, 0, "prompt_cache_key") < 0) {
        /* the first part (system or first message) names the family */
        uint32_t at = j->t[0].start + 1;
        add_edit(out, at, at,
                 fg_arena_printf(out->arena, "\"prompt_cache_key\":\"frg_%016llx\",",
                                 (unsigned long long)p->hash[0]));
    }
    if (!explicit_breakpoints(o->model) || !o->auto_breakpoints ||
        client_marked(j, "prompt_cache_breakpoint") ||
        fg_json_get(j, 0, "prompt_cache_options") >= 0)
        return 0;
    int cand[FG_PREFIX_MAX_BOUNDARIES];
    int n = candidates(p, o, 1024, cand), placed = 0;
    for (int k = 0; k < n && placed < 4; k++)
        if (p->part[cand[k]] == FG_PART_MESSAGE) /* only content parts carry them */
            placed += mark_boundary(j, p, cand[k],
                                    "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\"}", out);
    return placed;
}

int fg_promptcache_plan(const struct fg_json *j, const struct fg_prefix *p,
                        const struct fg_pc_opts *o, struct fg_pc_edits *out)
{
    /* a provider that caches only what is marked gets frugal's marks */
    if (!fg_provider_ops(o->dialect)->cache.automatic)
        return o->auto_breakpoints ? plan_anthropic(j, p, o, out) : 0;
    return plan_openai(j, p, o, out);
}
