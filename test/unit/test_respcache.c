/* Unit tests for the exact-repeat response cache: SHA-256, the request key
 * (canonical form, what is left out, what is not cacheable), the store
 * (hits, TTL, LRU, size bound, merged forms, refcounts, threads) and SSE
 * synthesis from stored answers, parsed back frame by frame.
 *
 * Fixtures are written with single quotes for readability; Q() turns them
 * into JSON (so fixture text avoids apostrophes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "respcache.h"
#include "shared.h"
#include "sse.h"

/* ------------------------------------------------------------ helpers */

static const char *Q(const char *s)
{
    static char buf[16][8192];
    static int k;
    char *b = buf[k++ % 16];
    size_t n = strlen(s);
    assert_true(n < sizeof buf[0]);
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

static bool key_full(const char *body, enum fg_dialect d, const char *model, const char *part,
                     bool allow, uint8_t k[32])
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, body, strlen(body)), 0);
    bool ok = fg_respcache_key(&j, d, model, part, allow, k);
    fg_json_free(&j);
    return ok;
}

/* Key of an OpenAI body for gpt-4o-mini, partition "k1"; must be cacheable. */
static void key_oa(const char *body, uint8_t k[32])
{
    assert_true(key_full(Q(body), FG_DIALECT_OPENAI, "gpt-4o-mini", "k1", false, k));
}

static bool cacheable(const char *body, bool allow)
{
    uint8_t k[32];
    return key_full(Q(body), FG_DIALECT_OPENAI, "gpt-4o-mini", "k1", allow, k);
}

static void init_cache(int ttl_seconds, size_t max_bytes)
{
    struct fg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.response_cache.enabled = true;
    cfg.response_cache.ttl_seconds = ttl_seconds;
    cfg.response_cache.max_bytes = max_bytes;
    fg_respcache_init(&cfg);
}

static void key_n(int n, uint8_t k[32])
{
    char s[32];
    snprintf(s, sizeof s, "key-%d", n);
    fg_respcache_sha256(s, strlen(s), k);
}

static void put_json(int n, const char *json, int64_t now)
{
    uint8_t k[32];
    key_n(n, k);
    struct fg_tokens t = {.input = n, .output = 2 * n};
    fg_respcache_put(k, false, json, strlen(json), &t, now);
}

/* The JSON form stored under key n at time now, or NULL ("" owned by static). */
static const char *get_json(int n, int64_t now)
{
    static char out[4096];
    uint8_t k[32];
    key_n(n, k);
    struct fg_respcache_entry *e = fg_respcache_get(k, now);
    if (!e)
        return NULL;
    size_t len;
    const char *s = fg_respcache_json(e, &len);
    snprintf(out, sizeof out, "%.*s", s ? (int)len : 0, s ? s : "");
    fg_respcache_release(e);
    return out;
}

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void hex(const uint8_t k[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
}

/* ------------------------------------------------------------ SHA-256 */

static void sha_vectors(const char *label)
{
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char h[65];
    uint8_t k[32];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        fg_respcache_sha256(v[i].in, strlen(v[i].in), k);
        hex(k, h);
        if (strcmp(h, v[i].hex))
            fail_msg("%s: sha256(%s) = %s", label, v[i].in, h);
    }
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    fg_respcache_sha256(a, 1000000, k);
    hex(k, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void sha256_known_answers(void **state)
{
    bool hw = fg_respcache_sha256_hw(false);
    sha_vectors("portable");
    /* every length across block boundaries: the CPU path agrees */
    uint8_t buf[300], a[32], b[32];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint8_t ref[sizeof buf + 1][32];
    for (size_t n = 0; n <= sizeof buf; n++)
        fg_respcache_sha256(buf, n, ref[n]);
    fg_respcache_sha256_hw(true);
    if (hw) {
        sha_vectors("sha-ni");
        for (size_t n = 0; n <= sizeof buf; n++) {
            fg_respcache_sha256(buf, n, a);
            assert_memory_equal(a, ref[n], 32);
        }
    }
    fg_respcache_sha256(buf, 100, b);
    assert_memory_equal(b, ref[100], 32);
}

/* ------------------------------------------------------------ the key */

static const char *base_oa =
    "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':50}";

static void key_ignores_spelling(void **state)
{
    uint8_t a[32], b[32];
    key_oa(base_oa, a);
    /* key order, whitespace, escapes */
    key_oa(" { 'max_tokens' : 50 ,\n 'messages' : [ { 'content' : 'H\\u0065llo', 'role':'user' } ],"
           "\t'model':'gpt\\u002d4o-mini' } ",
           b);
    assert_memory_equal(a, b, 32);
    /* fields that don't change the answer */
    key_oa("{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':50,"
           "'stream':true,'stream_options':{'include_usage':true},'metadata':{'a':'b'},"
           "'user':'u1','safety_identifier':'s','prompt_cache_key':'pk',"
           "'prompt_cache_retention':'24h','service_tier':'flex'}",
           b);
    assert_memory_equal(a, b, 32);
    /* cache markers anywhere */
    key_oa("{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello',"
           "'cache_control':{'type':'ephemeral'}}],'max_tokens':50,"
           "'cache_control':{'type':'ephemeral','ttl':'1h'}}",
           b);
    assert_memory_equal(a, b, 32);
    /* escapes decode to the same bytes as their literal spelling */
    static const char *const same[][2] = {
        {"caf\\u00e9 \\u20ac \\ud83d\\ude00", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\\u0041\\/\\b\\f\\n\\r\\t\\\\\\'", "A/\\b\\f\\n\\r\\t\\\\\\'"},
        {"\\ud800 lone", "\\uD800 lone"},
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        char x[256], y[256];
        const char *fmt = "{'model':'m','messages':[{'role':'user','content':'%s'}]}";
        snprintf(x, sizeof x, fmt, same[i][0]);
        snprintf(y, sizeof y, fmt, same[i][1]);
        key_oa(x, a);
        key_oa(y, b);
        if (memcmp(a, b, 32))
            fail_msg("different keys for %s and %s", same[i][0], same[i][1]);
    }
    uint8_t c[32], d[32];
    key_oa("{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'x'}]}]}", c);
    key_oa("{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'x',"
           "'prompt_cache_breakpoint':{'mode':'explicit'}}]}]}",
           d);
    assert_memory_equal(c, d, 32);
}

static void key_differs_on_what_matters(void **state)
{
    uint8_t a[32], b[32];
    key_oa(base_oa, a);
    static const char *const other[] = {
        "{'model':'gpt-4o','messages':[{'role':'user','content':'Hello'}],'max_tokens':50}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello!'}],'max_tokens':50}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':51}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':50,"
        "'temperature':0}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':50,"
        "'tools':[{'type':'function','function':{'name':'f'}}]}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':50,"
        "'response_format':{'type':'json_object'}}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'},"
        "{'role':'user','content':'Hello'}],'max_tokens':50}",
        /* the same bytes in a different structure */
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':['Hello']}],'max_tokens':50}",
        "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'Hello'}],'max_tokens':'50'}",
    };
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        key_oa(other[i], b);
        if (!memcmp(a, b, 32))
            fail_msg("same key for %s", other[i]);
    }
    /* temperature values */
    uint8_t t1[32], t2[32];
    assert_true(key_full(Q("{'model':'m','messages':[],'temperature':0.5}"), FG_DIALECT_OPENAI, "m",
                         "", true, t1));
    assert_true(key_full(Q("{'model':'m','messages':[],'temperature':0.7}"), FG_DIALECT_OPENAI, "m",
                         "", true, t2));
    assert_memory_not_equal(t1, t2, 32);
    /* model asked, partition, dialect */
    const char *body = Q(base_oa);
    assert_true(key_full(body, FG_DIALECT_OPENAI, "auto", "k1", false, b));
    assert_memory_not_equal(a, b, 32);
    assert_true(key_full(body, FG_DIALECT_OPENAI, "gpt-4o-mini", "k2", false, b));
    assert_memory_not_equal(a, b, 32);
    assert_true(key_full(body, FG_DIALECT_OPENAI, "gpt-4o-mini", "", false, b));
    assert_memory_not_equal(a, b, 32);
    assert_true(key_full(body, FG_DIALECT_ANTHROPIC, "gpt-4o-mini", "k1", false, b));
    assert_memory_not_equal(a, b, 32);
    /* partition/model boundaries can't slide: ("ab","") vs ("a","b") */
    assert_true(key_full(body, FG_DIALECT_OPENAI, "ab", "", false, a));
    assert_true(key_full(body, FG_DIALECT_OPENAI, "a", "b", false, b));
    assert_memory_not_equal(a, b, 32);
}

/* Marker names inside schemas and tool inputs are data, not markers;
 * "stream" below the top level is data too. */
static void key_keeps_data_named_like_markers(void **state)
{
    uint8_t a[32], b[32];
    key_oa("{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f',"
           "'parameters':{'type':'object','properties':{'x':{'type':'string'}}}}}]}",
           a);
    key_oa("{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f',"
           "'parameters':{'type':'object','properties':{'x':{'type':'string'},"
           "'cache_control':{'type':'string'}}}}}]}",
           b);
    assert_memory_not_equal(a, b, 32);
    key_oa("{'model':'m','messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t',"
           "'name':'f','input':{}}]}]}",
           a);
    key_oa("{'model':'m','messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t',"
           "'name':'f','input':{'cache_control':1}}]}]}",
           b);
    assert_memory_not_equal(a, b, 32);
    key_oa("{'model':'m','messages':[{'role':'user','content':'x'}]}", a);
    key_oa("{'model':'m','messages':[{'role':'user','content':'x','stream':true}]}", b);
    assert_memory_not_equal(a, b, 32);
    /* duplicate keys keep their order: the provider takes the last */
    key_oa("{'model':'m','messages':[],'max_tokens':1,'max_tokens':2}", a);
    key_oa("{'model':'m','messages':[],'max_tokens':2,'max_tokens':1}", b);
    assert_memory_not_equal(a, b, 32);
}

static void key_cacheability(void **state)
{
    assert_true(cacheable("{'model':'m','messages':[]}", false));
    assert_true(cacheable("{'model':'m','messages':[],'n':1}", false));
    assert_true(cacheable("{'model':'m','messages':[],'n':null,'temperature':null}", false));
    assert_true(cacheable("{'model':'m','messages':[],'temperature':0}", false));
    assert_true(cacheable("{'model':'m','messages':[],'temperature':0.0,'top_p':0.5}", false));
    assert_true(cacheable("{'model':'m','messages':[],'top_p':1}", false));
    assert_false(cacheable("{'model':'m','messages':[],'n':2}", false));
    assert_false(cacheable("{'model':'m','messages':[],'n':2}", true)); /* never */
    assert_false(cacheable("{'model':'m','messages':[],'temperature':0.7}", false));
    assert_true(cacheable("{'model':'m','messages':[],'temperature':0.7}", true));
    assert_false(cacheable("{'model':'m','messages':[],'top_p':0.9}", false));
    assert_false(cacheable("{'model':'m','messages':[],'top_k':40}", false));
    assert_true(cacheable("{'model':'m','messages':[],'top_k':40}", true));
    assert_false(cacheable("{'model':'m','messages':[],'temperature':'0'}", true));
    /* an escaped spelling is the same field to the provider */
    assert_false(cacheable("{'model':'m','messages':[],'temp\\u0065rature':1}", false));
    assert_false(cacheable("{'model':'m','messages':[],'n':1,'n':3}", false));
    uint8_t k[32];
    assert_false(key_full("[1,2]", FG_DIALECT_OPENAI, "m", "", true, k));
    assert_false(fg_respcache_key(NULL, FG_DIALECT_OPENAI, "m", "", true, k));
}

/* ---------------------------------------------------------- the store */

static void disabled_is_inert(void **state)
{
    fg_respcache_shutdown();
    assert_false(fg_respcache_enabled());
    put_json(1, "{}", 0);
    assert_null(get_json(1, 0));
    struct fg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fg_respcache_init(&cfg); /* enabled: false */
    assert_false(fg_respcache_enabled());
    put_json(1, "{}", 0);
    assert_null(get_json(1, 0));
}

static void hit_miss_and_ttl(void **state)
{
    init_cache(10, 1 << 20);
    assert_true(fg_respcache_enabled());
    assert_null(get_json(1, 1000));
    put_json(1, "{'a':1}", 1000);
    assert_string_equal(get_json(1, 1000), "{'a':1}");
    assert_string_equal(get_json(1, 10999), "{'a':1}");
    assert_null(get_json(2, 1000));

    uint8_t k[32];
    key_n(1, k);
    struct fg_respcache_entry *e = fg_respcache_get(k, 2000);
    assert_non_null(e);
    assert_int_equal(fg_respcache_tokens(e)->input, 1);
    assert_int_equal(fg_respcache_tokens(e)->output, 2);
    assert_string_equal(fg_respcache_model(e), "");
    size_t n;
    assert_null(fg_respcache_sse(e, &n));
    assert_int_equal(n, 0);
    fg_respcache_release(e);

    assert_null(get_json(1, 11000)); /* expired: 10 s after the store */
    struct fg_respcache_stats s;
    fg_respcache_get_stats(&s);
    assert_int_equal(s.hits, 3);
    assert_int_equal(s.misses, 3);
    assert_int_equal(s.stores, 1);
    assert_int_equal(s.entries, 0); /* the expired one is gone */
    assert_int_equal(s.bytes, 0);

    struct fg_tokens t = {.output = 7};
    fg_respcache_put_model(k, false, "{}", 2, &t, "gpt-4o-mini-2024-07-18", 20000);
    e = fg_respcache_get(k, 20000);
    assert_string_equal(fg_respcache_model(e), "gpt-4o-mini-2024-07-18");
    assert_int_equal(fg_respcache_tokens(e)->output, 7);
    fg_respcache_release(e);
    fg_respcache_shutdown();
}

static void lru_eviction(void **state)
{
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    init_cache(3600, 20000); /* ~9 entries of 2 KB */
    for (int i = 0; i < 12; i++)
        put_json(i, big, i);
    struct fg_respcache_stats s;
    fg_respcache_get_stats(&s);
    assert_true(s.bytes <= 20000);
    assert_true(s.entries >= 5 && s.entries < 12);
    int first_live = 12 - (int)s.entries;
    assert_null(get_json(first_live - 1, 100));
    assert_non_null(get_json(first_live, 100)); /* now recently used */
    for (int i = 12; i < 16; i++)
        put_json(i, big, i);
    assert_non_null(get_json(first_live, 100)); /* kept */
    assert_null(get_json(first_live + 1, 100)); /* the oldest went */
    assert_null(get_json(0, 100));
    assert_non_null(get_json(15, 100));
    fg_respcache_get_stats(&s);
    assert_true(s.bytes <= 20000);
    assert_int_equal(s.evictions, 16 - s.entries);
    assert_int_equal(s.stores, 16);
    fg_respcache_shutdown();
}

static void oversized_not_stored(void **state)
{
    init_cache(3600, 16000); /* limit per entry: 2000 */
    char *big = malloc(2001);
    memset(big, 'x', 2000);
    big[2000] = '\0';
    put_json(1, big, 0);
    assert_null(get_json(1, 0));
    big[1000] = '\0';
    put_json(1, big, 0);
    assert_non_null(get_json(1, 0));
    /* the other form would make it too big: what is there stays */
    uint8_t k[32];
    key_n(1, k);
    memset(big, 'y', 1000);
    fg_respcache_put(k, true, big, 1000, NULL, 0);
    struct fg_respcache_entry *e = fg_respcache_get(k, 0);
    assert_non_null(fg_respcache_json(e, NULL));
    assert_null(fg_respcache_sse(e, NULL));
    fg_respcache_release(e);
    free(big);
    fg_respcache_shutdown();
}

static void both_forms_merge(void **state)
{
    init_cache(100, 1 << 20);
    uint8_t k[32];
    key_n(5, k);
    const char *json = Q("{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'m',"
                         "'choices':[{'index':0,'message':{'role':'assistant','content':'Hi'},"
                         "'finish_reason':'stop'}],'usage':{'prompt_tokens':3,"
                         "'completion_tokens':1,'total_tokens':4}}");
    const char *sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                      "data: [DONE]\n\n";
    fg_respcache_put(k, true, sse, strlen(sse), NULL, 1000);
    fg_respcache_put(k, false, json, strlen(json), NULL, 50000);
    struct fg_respcache_entry *e = fg_respcache_get(k, 60000);
    size_t n;
    assert_string_equal(fg_respcache_json(e, &n), json);
    assert_int_equal(n, strlen(json));
    assert_string_equal(fg_respcache_sse(e, &n), sse);
    fg_respcache_release(e);
    struct fg_respcache_stats s;
    fg_respcache_get_stats(&s);
    assert_int_equal(s.entries, 1);
    /* completing doesn't extend the TTL: gone 100 s after the first store */
    assert_null(fg_respcache_get(k, 101000));
    /* an expired entry is replaced, not completed */
    fg_respcache_put(k, true, sse, strlen(sse), NULL, 1000);
    fg_respcache_put(k, false, json, strlen(json), NULL, 200000);
    e = fg_respcache_get(k, 250000);
    assert_non_null(fg_respcache_json(e, NULL));
    assert_null(fg_respcache_sse(e, NULL));
    fg_respcache_release(e);
    fg_respcache_shutdown();
}

/* A shared store's values: built like an entry (the other form of the
 * entry it completes kept, with that entry's expiry; none above the cap),
 * read back only when well formed and live. */
static void shared_values(void **state)
{
    init_cache(100, 64 * 1024);
    const char *json = Q("{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'m',"
                         "'choices':[{'index':0,'message':{'role':'assistant','content':'Hi'},"
                         "'finish_reason':'stop'}],'usage':{'prompt_tokens':3,"
                         "'completion_tokens':1,'total_tokens':4}}");
    const char *sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                      "data: [DONE]\n\n";
    struct fg_tokens tok = {.input = 3, .output = 1};
    int64_t exp = 0;
    struct fg_shared_val *v =
        fg_respcache_value(true, sse, strlen(sse), &tok, NULL, NULL, 1000, &exp);
    assert_non_null(v);
    assert_int_equal(exp, 101000);
    /* as if from another process: a copy of its bytes */
    size_t n;
    const void *bytes = fg_shared_val_data(v, &n);
    void *data;
    struct fg_shared_val *copy = fg_shared_val_new(n, &data);
    memcpy(data, bytes, n);
    fg_shared_val_release(v);
    struct fg_respcache_entry *old = fg_respcache_entry_of(copy, 2000);
    assert_non_null(old);
    assert_string_equal(fg_respcache_sse(old, NULL), sse);
    assert_false(fg_respcache_can_answer(old, FG_DIALECT_OPENAI, false, false));
    /* completed with the JSON form: both, and the first store's expiry */
    v = fg_respcache_value(false, json, strlen(json), &tok, NULL, old, 50000, &exp);
    fg_respcache_release(old);
    assert_int_equal(exp, 101000);
    struct fg_respcache_entry *e = fg_respcache_entry_of(fg_shared_val_ref(v), 60000);
    assert_string_equal(fg_respcache_json(e, NULL), json);
    assert_string_equal(fg_respcache_sse(e, NULL), sse);
    assert_int_equal(fg_respcache_tokens(e)->output, 1);
    fg_respcache_release(e);
    /* expired: no entry */
    assert_null(fg_respcache_entry_of(fg_shared_val_ref(v), 101000));
    /* damaged or foreign: every cut and every flipped header byte */
    bytes = fg_shared_val_data(v, &n);
    for (size_t cut = 0; cut < n; cut++) {
        struct fg_shared_val *c = fg_shared_val_new(cut, &data);
        memcpy(data, bytes, cut);
        assert_null(fg_respcache_entry_of(c, 2000));
    }
    for (size_t i = 0; i < 8; i++) { /* the magic and the header's size */
        struct fg_shared_val *c = fg_shared_val_new(n, &data);
        memcpy(data, bytes, n);
        ((unsigned char *)data)[i] ^= 0x40;
        assert_null(fg_respcache_entry_of(c, 2000));
    }
    for (size_t i = 8; i < 96 && i < n; i++) { /* a flip elsewhere: rejected or still sound */
        struct fg_shared_val *c = fg_shared_val_new(n, &data);
        memcpy(data, bytes, n);
        ((unsigned char *)data)[i] ^= 0x81;
        struct fg_respcache_entry *x = fg_respcache_entry_of(c, 2000);
        if (x) {
            size_t jl, sl;
            const char *j = fg_respcache_json(x, &jl), *ss = fg_respcache_sse(x, &sl);
            assert_true(!j || strlen(j) == jl);
            assert_true(!ss || strlen(ss) == sl);
        }
        fg_respcache_release(x);
    }
    assert_null(fg_respcache_entry_of(NULL, 2000));
    fg_shared_val_release(v);
    /* above max_bytes / 8: no value */
    char *big = malloc(9000);
    memset(big, 'x', 8999);
    big[8999] = 0;
    assert_null(fg_respcache_value(false, big, 8999, &tok, NULL, NULL, 1000, &exp));
    free(big);
    fg_respcache_shutdown();
    assert_null(fg_respcache_value(false, json, strlen(json), &tok, NULL, NULL, 1000, &exp));
}

static void refcount_outlives_eviction(void **state)
{
    init_cache(3600, 1 << 20);
    put_json(1, "{'v':1}", 0);
    uint8_t k[32];
    key_n(1, k);
    struct fg_respcache_entry *e = fg_respcache_get(k, 0);
    put_json(1, "{'v':2}", 1); /* replaced */
    struct fg_respcache_entry *e2 = fg_respcache_get(k, 1);
    assert_string_equal(fg_respcache_json(e, NULL), "{'v':1}");
    assert_string_equal(fg_respcache_json(e2, NULL), "{'v':2}");
    assert_null(get_json(1, 99999999)); /* expired and dropped */
    fg_respcache_shutdown();            /* and everything freed */
    assert_string_equal(fg_respcache_json(e, NULL), "{'v':1}");
    assert_string_equal(fg_respcache_json(e2, NULL), "{'v':2}");
    fg_respcache_release(e);
    fg_respcache_release(e2);
    fg_respcache_release(NULL);
}

/* ------------------------------------------------------ SSE synthesis */

struct oa_got {
    int chunks, usage_chunks, null_usage, role;
    bool done, after_done;
    char text[512], refusal[128], finish[32];
    char tool_id[2][32], tool_name[2][32], tool_args[2][256];
    json_int_t prompt_tokens;
    char id[64];
};

static void oa_chunk_into(struct oa_got *g, json_t *d)
{
    json_t *ch = json_array_get(json_object_get(d, "choices"), 0), *tc;
    json_t *usage = json_object_get(d, "usage");
    size_t k;
    assert_string_equal(json_string_value(json_object_get(d, "object")), "chat.completion.chunk");
    snprintf(g->id, sizeof g->id, "%s", json_string_value(json_object_get(d, "id")));
    g->null_usage += usage && json_is_null(usage);
    if (json_is_object(usage)) {
        g->usage_chunks++;
        assert_int_equal(json_array_size(json_object_get(d, "choices")), 0);
        g->prompt_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    }
    if (!ch)
        return;
    json_t *delta = json_object_get(ch, "delta");
    g->role += json_object_get(delta, "role") != NULL;
    const char *s = json_string_value(json_object_get(delta, "content"));
    strcat(g->text, s ? s : "");
    s = json_string_value(json_object_get(delta, "refusal"));
    strcat(g->refusal, s ? s : "");
    if (json_is_string(json_object_get(ch, "finish_reason")))
        snprintf(g->finish, sizeof g->finish, "%s",
                 json_string_value(json_object_get(ch, "finish_reason")));
    json_array_foreach(json_object_get(delta, "tool_calls"), k, tc)
    {
        int i = (int)json_integer_value(json_object_get(tc, "index"));
        json_t *fn = json_object_get(tc, "function");
        if (json_object_get(tc, "id")) {
            snprintf(g->tool_id[i], 32, "%s", json_string_value(json_object_get(tc, "id")));
            snprintf(g->tool_name[i], 32, "%s", json_string_value(json_object_get(fn, "name")));
        }
        s = json_string_value(json_object_get(fn, "arguments"));
        strcat(g->tool_args[i], s ? s : "");
    }
}

static int oa_event(void *arg, const struct fg_sse_event *ev)
{
    struct oa_got *g = arg;
    assert_int_equal(ev->event_len, 0); /* OpenAI: data-only frames */
    g->after_done |= g->done;
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)) {
        g->done = true;
        return 0;
    }
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    assert_non_null(d);
    g->chunks++;
    oa_chunk_into(g, d);
    json_decref(d);
    return 0;
}

static void parse_oa(const char *sse, struct oa_got *g)
{
    struct fg_sse p;
    memset(g, 0, sizeof *g);
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, sse, strlen(sse), oa_event, g), 0);
    assert_int_equal(fg_sse_pending(&p), 0);
    fg_sse_free(&p);
    assert_true(g->done);
    assert_false(g->after_done);
}

static const char *oa_resp =
    "{'id':'chatcmpl-7Qx1','object':'chat.completion','created':1760000000,"
    "'model':'gpt-4.1-mini-2025-04-14','choices':[{'index':0,'message':{'role':'assistant',"
    "'content':'Checking \\u00e9 \\'quotes\\' and\\nnewlines.','refusal':null,'annotations':[],"
    "'tool_calls':[{'id':'call_9f2','type':'function','function':{'name':'get_weather',"
    "'arguments':'{\\'city\\':\\'Oslo\\'}'}},{'id':'call_2','type':'function',"
    "'function':{'name':'noargs','arguments':''}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
    "'usage':{'prompt_tokens':1450,'completion_tokens':22,'total_tokens':1472,"
    "'prompt_tokens_details':{'cached_tokens':1280}},'service_tier':'default',"
    "'system_fingerprint':'fp_1a2b3c'}";

static void sse_from_json_openai(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct oa_got g;
    for (int iu = 0; iu < 2; iu++) {
        assert_int_equal(
            fg_respcache_sse_from_json(FG_DIALECT_OPENAI, Q(oa_resp), strlen(oa_resp), iu, b), 0);
        char *s = drain(b);
        assert_true(!strncmp(s, "data: {", 7));
        assert_true(strlen(s) > 14 && !strcmp(s + strlen(s) - 14, "data: [DONE]\n\n"));
        parse_oa(s, &g);
        free(s);
        assert_int_equal(g.role, 1);
        assert_string_equal(g.text, "Checking \xc3\xa9 \"quotes\" and\nnewlines.");
        assert_string_equal(g.refusal, "");
        assert_string_equal(g.finish, "tool_calls");
        assert_string_equal(g.tool_id[0], "call_9f2");
        assert_string_equal(g.tool_name[0], "get_weather");
        assert_string_equal(g.tool_args[0], "{\"city\":\"Oslo\"}");
        assert_string_equal(g.tool_name[1], "noargs");
        assert_string_equal(g.tool_args[1], "");
        assert_string_equal(g.id, "chatcmpl-7Qx1");
        assert_int_equal(g.usage_chunks, iu);
        assert_int_equal(g.null_usage, iu ? g.chunks - 1 : 0);
        assert_int_equal(g.prompt_tokens, iu ? 1450 : 0);
    }
    /* a refusal */
    const char *refused = Q("{'id':'c','object':'chat.completion','created':1,'model':'m',"
                            "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                            "'refusal':'I cannot help.'},'finish_reason':'stop'}]}");
    assert_int_equal(
        fg_respcache_sse_from_json(FG_DIALECT_OPENAI, refused, strlen(refused), true, b), 0);
    char *s = drain(b);
    parse_oa(s, &g);
    free(s);
    assert_string_equal(g.refusal, "I cannot help.");
    assert_string_equal(g.text, "");
    assert_int_equal(g.usage_chunks, 0); /* nothing to report */
    evbuffer_free(b);
}

struct an_got {
    int events, starts, stops;
    bool message_start, message_stop, after_stop;
    char types[4][32];
    char text[512], thinking[128], signature[64], json[4][256];
    char stop_reason[32], tool_name[32];
    json_int_t input_tokens, output_tokens, start_output;
};

static void an_block_event(struct an_got *g, const char *name, json_t *d)
{
    int i = (int)json_integer_value(json_object_get(d, "index"));
    assert_true(i >= 0 && i < 4);
    if (!strcmp(name, "content_block_start")) {
        json_t *cb = json_object_get(d, "content_block");
        assert_int_equal(i, g->starts++);
        snprintf(g->types[i], 32, "%s", json_string_value(json_object_get(cb, "type")));
        if (!strcmp(g->types[i], "tool_use")) {
            snprintf(g->tool_name, 32, "%s", json_string_value(json_object_get(cb, "name")));
            assert_int_equal(json_object_size(json_object_get(cb, "input")), 0);
        }
    } else if (!strcmp(name, "content_block_stop")) {
        assert_int_equal(i, g->stops++);
    } else {
        json_t *delta = json_object_get(d, "delta");
        const char *t = json_string_value(json_object_get(delta, "type"));
        const char *field = !strcmp(t, "text_delta")         ? "text"
                            : !strcmp(t, "input_json_delta") ? "partial_json"
                            : !strcmp(t, "thinking_delta")   ? "thinking"
                                                             : "signature";
        char *to = !strcmp(t, "text_delta")         ? g->text
                   : !strcmp(t, "input_json_delta") ? g->json[i]
                   : !strcmp(t, "thinking_delta")   ? g->thinking
                                                    : g->signature;
        assert_int_equal(i, g->starts - 1); /* inside its block */
        strcat(to, json_string_value(json_object_get(delta, field)));
    }
}

static int an_event(void *arg, const struct fg_sse_event *ev)
{
    struct an_got *g = arg;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)ev->event_len, ev->event);
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "type")), name);
    g->events++;
    g->after_stop |= g->message_stop;
    if (!strcmp(name, "message_start")) {
        json_t *m = json_object_get(d, "message"), *u = json_object_get(m, "usage");
        g->message_start = true;
        assert_int_equal(json_array_size(json_object_get(m, "content")), 0);
        assert_true(json_is_null(json_object_get(m, "stop_reason")));
        g->input_tokens = json_integer_value(json_object_get(u, "input_tokens"));
        g->start_output = json_integer_value(json_object_get(u, "output_tokens"));
    } else if (!strncmp(name, "content_block_", 14)) {
        an_block_event(g, name, d);
    } else if (!strcmp(name, "message_delta")) {
        snprintf(g->stop_reason, 32, "%s",
                 json_string_value(json_object_get(json_object_get(d, "delta"), "stop_reason")));
        g->output_tokens =
            json_integer_value(json_object_get(json_object_get(d, "usage"), "output_tokens"));
    } else {
        assert_string_equal(name, "message_stop");
        g->message_stop = true;
    }
    json_decref(d);
    return 0;
}

static const char *an_resp =
    "{'id':'msg_01Xq','type':'message','role':'assistant','model':'claude-sonnet-4-5-20250929',"
    "'content':[{'type':'thinking','thinking':'Let me see.','signature':'sig=='},"
    "{'type':'text','text':'Checking the weather.','citations':null},"
    "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Oslo','n':[1,2.5]},"
    "'caller':{'type':'direct'}}],'stop_reason':'tool_use','stop_sequence':null,"
    "'stop_details':null,'container':null,'diagnostics':null,"
    "'usage':{'input_tokens':42,'cache_creation_input_tokens':2100,'cache_read_input_tokens':0,"
    "'output_tokens':61,'service_tier':'standard'}}";

static void sse_from_json_anthropic(void **state)
{
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(
        fg_respcache_sse_from_json(FG_DIALECT_ANTHROPIC, Q(an_resp), strlen(an_resp), false, b), 0);
    char *s = drain(b);
    assert_true(!strncmp(s, "event: message_start\ndata: {\"type\":\"message_start\"", 50));
    struct an_got g = {0};
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, s, strlen(s), an_event, &g), 0);
    assert_int_equal(fg_sse_pending(&p), 0);
    fg_sse_free(&p);
    free(s);
    assert_true(g.message_start && g.message_stop && !g.after_stop);
    assert_int_equal(g.starts, 3);
    assert_int_equal(g.stops, 3);
    assert_string_equal(g.types[0], "thinking");
    assert_string_equal(g.thinking, "Let me see.");
    assert_string_equal(g.signature, "sig==");
    assert_string_equal(g.types[1], "text");
    assert_string_equal(g.text, "Checking the weather.");
    assert_string_equal(g.types[2], "tool_use");
    assert_string_equal(g.tool_name, "get_weather");
    json_t *input = json_loads(g.json[2], 0, NULL);
    json_t *want = json_loads(Q("{'city':'Oslo','n':[1,2.5]}"), 0, NULL);
    assert_true(json_equal(input, want));
    json_decref(input);
    json_decref(want);
    assert_string_equal(g.stop_reason, "tool_use");
    assert_int_equal(g.input_tokens, 42);
    assert_int_equal(g.output_tokens, 61);
    evbuffer_free(b);
}

static void sse_from_json_rejects_other_shapes(void **state)
{
    struct evbuffer *b = evbuffer_new();
    const char *oa = Q(oa_resp), *an = Q(an_resp);
    assert_int_equal(fg_respcache_sse_from_json(FG_DIALECT_ANTHROPIC, oa, strlen(oa), false, b),
                     -1);
    assert_int_equal(fg_respcache_sse_from_json(FG_DIALECT_OPENAI, an, strlen(an), false, b), -1);
    assert_int_equal(fg_respcache_sse_from_json(FG_DIALECT_OPENAI, "{", 1, false, b), -1);
    assert_int_equal(fg_respcache_sse_from_json(FG_DIALECT_OPENAI, NULL, 0, false, b), -1);
    const char *err = Q("{'type':'error','error':{'type':'overloaded_error','message':'x'}}");
    assert_int_equal(fg_respcache_sse_from_json(FG_DIALECT_ANTHROPIC, err, strlen(err), false, b),
                     -1);
    assert_int_equal(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}

/* A stored OpenAI stream with its usage chunk serves clients either way;
 * one without can't serve include_usage unless the JSON form is there. */
static void answers_per_client(void **state)
{
    init_cache(3600, 1 << 20);
    uint8_t k[32];
    key_n(9, k);
    const char *sse =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],"
        "\"usage\":null}\n\n"
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n"
        "data: [DONE]\n\n";
    const char *no_usage =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        "data: [DONE]\n\n";
    struct evbuffer *b = evbuffer_new();
    fg_respcache_put(k, true, sse, strlen(sse), NULL, 0);
    struct fg_respcache_entry *e = fg_respcache_get_for(k, FG_DIALECT_OPENAI, true, false, 0);
    assert_non_null(e);
    assert_int_equal(fg_respcache_answer(e, FG_DIALECT_OPENAI, true, true, b), 0);
    char *s = drain(b);
    assert_string_equal(s, sse);
    free(s);
    assert_int_equal(fg_respcache_answer(e, FG_DIALECT_OPENAI, true, false, b), 0);
    s = drain(b);
    assert_null(strstr(s, "prompt_tokens"));
    assert_non_null(strstr(s, "\"Hi\""));
    assert_non_null(strstr(s, "data: [DONE]\n\n"));
    free(s);
    assert_int_equal(fg_respcache_answer(e, FG_DIALECT_OPENAI, false, false, b), -1);
    fg_respcache_release(e);
    assert_null(fg_respcache_get_for(k, FG_DIALECT_OPENAI, false, false, 0)); /* no JSON */

    fg_respcache_put(k, true, no_usage, strlen(no_usage), NULL, 0);
    assert_null(fg_respcache_get_for(k, FG_DIALECT_OPENAI, true, true, 0));
    e = fg_respcache_get_for(k, FG_DIALECT_OPENAI, true, false, 0);
    assert_non_null(e);
    fg_respcache_release(e);
    /* with the JSON form too, include_usage is synthesised from it */
    const char *json = Q(oa_resp);
    fg_respcache_put(k, false, json, strlen(json), NULL, 0);
    e = fg_respcache_get_for(k, FG_DIALECT_OPENAI, true, true, 0);
    assert_non_null(e);
    assert_int_equal(fg_respcache_answer(e, FG_DIALECT_OPENAI, true, true, b), 0);
    s = drain(b);
    struct oa_got g;
    parse_oa(s, &g);
    free(s);
    assert_int_equal(g.usage_chunks, 1);
    assert_int_equal(g.prompt_tokens, 1450);
    assert_int_equal(fg_respcache_answer(e, FG_DIALECT_OPENAI, false, false, b), 0);
    s = drain(b);
    assert_string_equal(s, json);
    free(s);
    fg_respcache_release(e);
    struct fg_respcache_stats st;
    fg_respcache_get_stats(&st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 2);
    evbuffer_free(b);
    fg_respcache_shutdown();
}

/* -------------------------------------------------------------- threads */

#define T_KEYS 40
#define T_ITERS 3000

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char json[128], body[128];
    for (int i = 0; i < T_ITERS; i++) {
        seed = seed * 1103515245u + 12345u;
        int n = (int)(seed >> 16) % T_KEYS;
        uint8_t k[32];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%d\"}]}", n);
        struct fg_json j = {0};
        if (fg_json_parse(&j, body, strlen(body)) < 0 ||
            !fg_respcache_key(&j, FG_DIALECT_OPENAI, "m", "", false, k))
            abort();
        fg_json_free(&j);
        snprintf(json, sizeof json, "{\"answer\":%d,\"pad\":\"%0*d\"}", n, 40 + n, 0);
        struct fg_respcache_entry *e = fg_respcache_get(k, i);
        if (!e) {
            fg_respcache_put(k, (seed >> 8) & 1, json, strlen(json), NULL, i);
            continue;
        }
        const char *got = fg_respcache_json(e, NULL);
        if (!got)
            got = fg_respcache_sse(e, NULL);
        if (strcmp(got, json))
            abort(); /* a wrong answer for this key */
        fg_respcache_release(e);
    }
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return NULL;
}

static void threads_smoke(void **state)
{
    init_cache(3600, 4096); /* small: evictions all the time */
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct fg_respcache_stats s;
    fg_respcache_get_stats(&s);
    assert_int_equal(s.hits + s.misses, 4 * T_ITERS);
    assert_true(s.hits > 0);
    assert_true(s.evictions > 0);
    assert_true(s.bytes <= 4096);
    fg_respcache_shutdown();
}

static int teardown(void **state)
{
    fg_respcache_shutdown();
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_known_answers),
        cmocka_unit_test(key_ignores_spelling),
        cmocka_unit_test(key_differs_on_what_matters),
        cmocka_unit_test(key_keeps_data_named_like_markers),
        cmocka_unit_test(key_cacheability),
        cmocka_unit_test(disabled_is_inert),
        cmocka_unit_test(hit_miss_and_ttl),
        cmocka_unit_test(lru_eviction),
        cmocka_unit_test(oversized_not_stored),
        cmocka_unit_test(both_forms_merge),
        cmocka_unit_test(shared_values),
        cmocka_unit_test(refcount_outlives_eviction),
        cmocka_unit_test(sse_from_json_openai),
        cmocka_unit_test(sse_from_json_anthropic),
        cmocka_unit_test(sse_from_json_rejects_other_shapes),
        cmocka_unit_test(answers_per_client),
        cmocka_unit_test(threads_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
