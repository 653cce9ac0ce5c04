/* Unit tests for the structured-output JSON Schema validator.
 * Schemas and documents are written with ' for " (dq() swaps them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static char *dq(const char *s)
{
    char *r = strdup(s);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

static struct fg_schema *compile_q(const char *schema)
{
    char err[256] = "";
    char *t = dq(schema);
    struct fg_schema *s = fg_schema_compile(t, strlen(t), err, sizeof err);
    free(t);
    if (!s)
        fail_msg("compile %s: %s", schema, err);
    return s;
}

/* One document against one schema: rc, error path, substring of msg. */
struct vcase {
    const char *schema, *doc;
    int rc;
    const char *path, *msg;
};

static void run_cases(const struct vcase *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct vcase *c = &cs[i];
        struct fg_schema *s = compile_q(c->schema);
        struct fg_schema_error e = {{0}, {0}};
        char *d = dq(c->doc);
        int rc = fg_schema_validate(s, d, strlen(d), &e);
        if (rc != c->rc)
            fail_msg("case %zu: %s on %s: rc %d, want %d (%s: %s)", i, c->doc, c->schema, rc, c->rc,
                     e.path, e.msg);
        char *path = c->path ? dq(c->path) : NULL;
        if (path && strcmp(e.path, path) != 0)
            fail_msg("case %zu: %s on %s: path %s, want %s (%s)", i, c->doc, c->schema, e.path,
                     path, e.msg);
        free(path);
        char *want = c->msg ? dq(c->msg) : NULL;
        if (want && !strstr(e.msg, want))
            fail_msg("case %zu: %s on %s: msg \"%s\" lacks \"%s\"", i, c->doc, c->schema, e.msg,
                     want);
        free(want);
        free(d);
        fg_schema_free(s);
    }
}

#define RUN(cs) run_cases(cs, sizeof cs / sizeof cs[0])

static void types(void **state)
{
    static const struct vcase cs[] = {
        {"{'type':'string'}", "'a'", 0, NULL, NULL},
        {"{'type':'string'}", "1", -1, "$", "expected string, got integer"},
        {"{'type':'integer'}", "1.0", 0, NULL, NULL},
        {"{'type':'integer'}", "-7", 0, NULL, NULL},
        {"{'type':'integer'}", "1.5", -1, "$", "expected integer, got number"},
        {"{'type':'number'}", "3", 0, NULL, NULL},
        {"{'type':'number'}", "'3'", -1, "$", "expected number, got string"},
        {"{'type':'boolean'}", "false", 0, NULL, NULL},
        {"{'type':'boolean'}", "null", -1, "$", "got null"},
        {"{'type':'null'}", "null", 0, NULL, NULL},
        {"{'type':'null'}", "0", -1, "$", "expected null"},
        {"{'type':'array'}", "{}", -1, "$", "expected array, got object"},
        {"{'type':'object'}", "[]", -1, "$", "expected object, got array"},
        {"{'type':['string','null']}", "null", 0, NULL, NULL},
        {"{'type':['string','null']}", "'x'", 0, NULL, NULL},
        {"{'type':['string','null']}", "5", -1, "$", "expected string or null, got integer"},
        {"{'type':['integer','boolean']}", "true", 0, NULL, NULL},
        {"true", "[1,{}]", 0, NULL, NULL},
        {"false", "1", -1, "$", "no value is allowed"},
        {"{}", "{'anything':[1,2]}", 0, NULL, NULL},
        {"{'type':'integer','maximum':9223372036854775807}", "9223372036854775807", 0, NULL, NULL},
        {"{'type':'number','maximum':1}", "100000000000000000000000000000", -1, "$",
         "expected <= 1"},
    };
    RUN(cs);
}

#define OBJ1                                                                                       \
    "{'type':'object','properties':{'a':{'type':'integer'},'b':{'type':'string'}},"                \
    "'required':['a'],'additionalProperties':false}"

static void objects(void **state)
{
    static const struct vcase cs[] = {
        {OBJ1, "{'a':1}", 0, NULL, NULL},
        {OBJ1, "{'a':1,'b':'x'}", 0, NULL, NULL},
        {OBJ1, "{'b':'x'}", -1, "$", "missing required property 'a'"},
        {OBJ1, "{'a':'1'}", -1, "$.a", "expected integer, got string"},
        {OBJ1, "{'a':1,'c':2}", -1, "$.c", "property 'c' is not allowed"},
        {"{'additionalProperties':{'type':'number'}}", "{'x':1,'y':'s'}", -1, "$.y",
         "expected number"},
        {"{'additionalProperties':{'type':'number'}}", "{'x':1,'y':2.5}", 0, NULL, NULL},
        {"{'patternProperties':{'^x_':{'type':'integer'}},'additionalProperties':false}",
         "{'x_1':1}", 0, NULL, NULL},
        {"{'patternProperties':{'^x_':{'type':'integer'}},'additionalProperties':false}",
         "{'x_1':'a'}", -1, "$.x_1", "expected integer"},
        {"{'patternProperties':{'^x_':{'type':'integer'}},'additionalProperties':false}", "{'y':1}",
         -1, "$.y", "not allowed"},
        {"{'maxProperties':1}", "{'a':1,'b':2}", -1, "$", "at most 1 properties"},
        {"{'minProperties':1}", "{}", -1, "$", "at least 1 properties"},
        {"{'required':['a']}", "[1]", 0, NULL, NULL}, /* object keywords ignore arrays */
        /* deepest first: the child's error before the parent's missing property */
        {"{'properties':{'a':{'properties':{'b':{'type':'integer'}}}},'required':['a','z']}",
         "{'a':{'b':'x'}}", -1, "$.a.b", "expected integer"},
        {"{'properties':{'a':{'items':{'properties':{'b':{'type':'string'}}}}}}",
         "{'a':[{'b':'x'},{'b':1}]}", -1, "$.a[1].b", "expected string"},
        {"{'properties':{'a b':{'type':'string'}}}", "{'a b':1}", -1, "$['a b']", NULL},
        {"{'properties':{'_ok$1':{'type':'string'}}}", "{'_ok$1':1}", -1, "$._ok$1", NULL},
        {"{'properties':{'1st':{'type':'string'}}}", "{'1st':1}", -1, "$['1st']", NULL},
    };
    RUN(cs);
}

static void values(void **state)
{
    static const struct vcase cs[] = {
        {"{'enum':['red','green',1]}", "'red'", 0, NULL, NULL},
        {"{'enum':['red','green',1]}", "1.0", 0, NULL, NULL},
        {"{'enum':['red','green',1]}", "'blue'", -1, "$", "expected one of ['red','green',1]"},
        {"{'enum':[true]}", "1", -1, "$", NULL},
        {"{'enum':[null]}", "null", 0, NULL, NULL},
        {"{'const':{'a':[1,2]}}", "{'a':[1.0,2]}", 0, NULL, NULL},
        {"{'const':{'a':[1,2]}}", "{'a':[1,3]}", -1, "$", "expected the constant {'a':[1,2]}"},
        {"{'const':{'a':1}}", "{'a':1,'b':2}", -1, "$", NULL},
        {"{'const':null}", "null", 0, NULL, NULL},
        {"{'const':null}", "0", -1, "$", "constant null"},
        {"{'const':'x'}", "'x'", 0, NULL, NULL},
        {"{'const':false}", "0", -1, "$", NULL},
    };
    RUN(cs);
}

static void arrays(void **state)
{
    static const struct vcase cs[] = {
        {"{'type':'array','items':{'type':'integer'}}", "[1,2,'x']", -1, "$[2]",
         "expected integer"},
        {"{'type':'array','items':{'type':'integer'}}", "[]", 0, NULL, NULL},
        {"{'prefixItems':[{'type':'string'},{'type':'integer'}],'items':false}", "['a',1]", 0, NULL,
         NULL},
        {"{'prefixItems':[{'type':'string'},{'type':'integer'}],'items':false}", "['a',1,2]", -1,
         "$[2]", "item not allowed (at most 2 items)"},
        {"{'prefixItems':[{'type':'string'},{'type':'integer'}]}", "[1]", -1, "$[0]",
         "expected string"},
        {"{'prefixItems':[{'type':'string'}],'items':{'type':'integer'}}", "['a',1,'b']", -1,
         "$[2]", NULL},
        {"{'items':[{'type':'string'}],'additionalItems':false}", "['a','b']", -1, "$[1]", NULL},
        {"{'minItems':2,'maxItems':3}", "[1]", -1, "$", "expected at least 2 items, got 1"},
        {"{'minItems':2,'maxItems':3}", "[1,2,3,4]", -1, "$", "expected at most 3 items, got 4"},
        {"{'minItems':2,'maxItems':3}", "[1,2]", 0, NULL, NULL},
        {"{'uniqueItems':true}", "[1,1.0]", -1, "$", "items 0 and 1 are equal"},
        {"{'uniqueItems':true}", "[{'a':1,'b':[2]},{'b':[2.0],'a':1}]", -1, "$", NULL},
        {"{'uniqueItems':true}", "[1,'1',true,[1],{'a':1},null,0,false]", 0, NULL, NULL},
        {"{'uniqueItems':true}", "[[1,2],[2,1]]", 0, NULL, NULL},
        {"{'uniqueItems':true}", "['a','b','a']", -1, "$", "items 0 and 2"},
        {"{'uniqueItems':false}", "[1,1]", 0, NULL, NULL},
    };
    RUN(cs);
}

static void strings(void **state)
{
    static const struct vcase cs[] = {
        /* é € 😀: 3 code points, 9 bytes */
        {"{'minLength':2,'maxLength':3}", "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'", 0, NULL, NULL},
        {"{'minLength':2,'maxLength':3}", "'ab'", 0, NULL, NULL},
        {"{'minLength':2,'maxLength':3}", "'\xc3\xa9'", -1, "$",
         "expected at least 2 characters, got 1"},
        {"{'minLength':2,'maxLength':3}", "'abcd'", -1, "$",
         "expected at most 3 characters, got 4"},
        {"{'maxLength':2}", "'\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80'", -1, "$", "got 3"},
        {"{'maxLength':1}", "'\\u00e9'", 0, NULL, NULL},
        {"{'pattern':'^[a-z]+$'}", "'abc'", 0, NULL, NULL},
        {"{'pattern':'^[a-z]+$'}", "'abC'", -1, "$", "does not match pattern ^[a-z]+$"},
        {"{'pattern':'b'}", "'abc'", 0, NULL, NULL}, /* not anchored */
        {"{'pattern':'b'}", "'ac'", -1, "$", NULL},
        {"{'pattern':'^.{3}$'}", "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'", 0, NULL, NULL},
        {"{'pattern':'^.{3}$'}", "'ab'", -1, "$", NULL},
        {"{'pattern':'^\\\\p{L}+$'}",
         "'\xc3\x9cn\xc3\xaf"
         "c\xc3\xb6"
         "d\xc3\xa9'",
         0, NULL, NULL},
        {"{'pattern':'^\\\\p{L}+$'}", "'a1'", -1, "$", NULL},
        {"{'pattern':'^caf\\\\u00e9$'}", "'caf\xc3\xa9'", 0, NULL, NULL}, /* ECMA \u */
        {"{'pattern':'^\\\\u{1F600}$'}", "'\xf0\x9f\x98\x80'", 0, NULL, NULL},
        {"{'pattern':'^a$'}", "'a\\n'", -1, "$", NULL}, /* $ only at the end */
        {"{'pattern':'^\\\\d+$'}", "'123'", 0, NULL, NULL},
        {"{'pattern':'^\\\\d+$'}", "'\xd9\xa1\xd9\xa2'", -1, "$", NULL}, /* ASCII \d */
        {"{'pattern':'^[a-z]+$'}", "5", 0, NULL, NULL}, /* string keywords ignore numbers */
        {"{'type':'string','minLength':1}", "''", -1, "$", "at least 1 characters, got 0"},
    };
    RUN(cs);
}

static void numbers(void **state)
{
    static const struct vcase cs[] = {
        {"{'minimum':1,'maximum':10}", "1", 0, NULL, NULL},
        {"{'minimum':1,'maximum':10}", "10", 0, NULL, NULL},
        {"{'minimum':1,'maximum':10}", "0", -1, "$", "expected >= 1, got 0"},
        {"{'minimum':1,'maximum':10}", "10.5", -1, "$", "expected <= 10, got 10.5"},
        {"{'minimum':1.5}", "1.25", -1, "$", "expected >= 1.5, got 1.25"},
        {"{'exclusiveMinimum':1,'exclusiveMaximum':10}", "1", -1, "$", "expected > 1"},
        {"{'exclusiveMinimum':1,'exclusiveMaximum':10}", "10", -1, "$", "expected < 10"},
        {"{'exclusiveMinimum':1,'exclusiveMaximum':10}", "1.0000001", 0, NULL, NULL},
        {"{'minimum':1,'exclusiveMinimum':true}", "1", -1, "$", "expected > 1"}, /* draft 4 */
        {"{'maximum':5,'exclusiveMaximum':false}", "5", 0, NULL, NULL},
        {"{'multipleOf':0.1}", "0.3", 0, NULL, NULL},
        {"{'multipleOf':0.1}", "3", 0, NULL, NULL},
        {"{'multipleOf':0.1}", "0.35", -1, "$", "expected a multiple of 0.1, got 0.35"},
        {"{'multipleOf':0.01}", "19.99", 0, NULL, NULL},
        {"{'multipleOf':0.0001}", "0.0075", 0, NULL, NULL},
        {"{'multipleOf':1.5}", "4.5", 0, NULL, NULL},
        {"{'multipleOf':1.5}", "4.6", -1, "$", NULL},
        {"{'multipleOf':3}", "9", 0, NULL, NULL},
        {"{'multipleOf':3}", "10", -1, "$", "expected a multiple of 3, got 10"},
        {"{'multipleOf':3}", "-9", 0, NULL, NULL},
        {"{'minimum':5}", "'str'", 0, NULL, NULL},
    };
    RUN(cs);
}

static void applicators(void **state)
{
    static const struct vcase cs[] = {
        {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "'a'", 0, NULL, NULL},
        {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "1", 0, NULL, NULL},
        {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "1.5", -1, "$",
         "matches no anyOf branch (expected string, got number)"},
        /* the deepest branch error wins */
        {"{'anyOf':[{'type':'string'},{'type':'object','properties':{'a':{'type':'integer'}}}]}",
         "{'a':'x'}", -1, "$.a", "expected integer"},
        {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "5", -1, "$",
         "matches oneOf branches 0 and 1 (exactly one expected)"},
        {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "-1", 0, NULL, NULL},
        {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "1.5", 0, NULL, NULL},
        {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "-1.5", -1, "$",
         "matches no oneOf branch"},
        {"{'allOf':[{'type':'integer'},{'minimum':3}]}", "2", -1, "$", "expected >= 3"},
        {"{'allOf':[{'type':'integer'},{'minimum':3}]}", "3", 0, NULL, NULL},
        {"{'not':{'type':'string'}}", "'a'", -1, "$", "must not match"},
        {"{'not':{'type':'string'}}", "1", 0, NULL, NULL},
        {"{'if':{'properties':{'k':{'const':'a'}}},'then':{'required':['x']},'else':{'required':['y']}}",
         "{'k':'a','x':1}", 0, NULL, NULL},
        {"{'if':{'properties':{'k':{'const':'a'}}},'then':{'required':['x']},'else':{'required':['y']}}",
         "{'k':'a'}", -1, "$", "missing required property 'x'"},
        {"{'if':{'properties':{'k':{'const':'a'}}},'then':{'required':['x']},'else':{'required':['y']}}",
         "{'k':'b'}", -1, "$", "missing required property 'y'"},
        {"{'type':'object','properties':{'v':{'anyOf':[{'type':'string'},{'type':'null'}]}}}",
         "{'v':3}", -1, "$.v", "matches no anyOf branch"},
    };
    RUN(cs);
}

#define TREE                                                                                       \
    "{'type':'object','properties':{'name':{'type':'string'},'children':{'type':'array',"          \
    "'items':{'$ref':'#'}}},'required':['name'],'additionalProperties':false}"
#define ESC                                                                                        \
    "{'$defs':{'a/b':{'type':'integer'},'c~d':{'type':'string'},'e%f':{'type':'boolean'}},"        \
    "'properties':{'x':{'$ref':'#/$defs/a~1b'},'y':{'$ref':'#/$defs/c~0d'},"                       \
    "'z':{'$ref':'#/$defs/e%25f'}}}"

static void refs(void **state)
{
    static const struct vcase cs[] = {
        {"{'$defs':{'pos':{'type':'integer','minimum':1}},'type':'object',"
         "'properties':{'n':{'$ref':'#/$defs/pos'}}}",
         "{'n':0}", -1, "$.n", "expected >= 1"},
        {"{'definitions':{'s':{'type':'string'}},'items':{'$ref':'#/definitions/s'}}", "['a',2]",
         -1, "$[1]", "expected string"},
        {TREE, "{'name':'a','children':[{'name':'b','children':[{'name':'c'}]}]}", 0, NULL, NULL},
        {TREE, "{'name':'a','children':[{'name':'b','children':[{'name':3}]}]}", -1,
         "$.children[0].children[0].name", "expected string"},
        {TREE, "{'name':'a','children':[{'name':'b','children':[{}]}]}", -1,
         "$.children[0].children[0]", "missing required property 'name'"},
        {ESC, "{'x':1,'y':'s','z':true}", 0, NULL, NULL},
        {ESC, "{'x':'1'}", -1, "$.x", "expected integer"},
        {ESC, "{'y':1}", -1, "$.y", "expected string"},
        {ESC, "{'z':1}", -1, "$.z", "expected boolean"},
        {"{'$defs':{'i':{'type':'integer'}},'$ref':'#/$defs/i','minimum':5}", "3", -1, "$",
         "expected >= 5"},
        {"{'$defs':{'i':{'type':'integer'}},'$ref':'#/$defs/i','minimum':5}", "5.5", -1, "$",
         "expected integer"},
        {"{'$defs':{'a':{'$ref':'#/$defs/b'},'b':{'type':'string'}},'$ref':'#/$defs/a'}", "1", -1,
         "$", "expected string"},
        {"{'prefixItems':[{'type':'string'},{'$ref':'#/prefixItems/0'}]}", "['a',1]", -1, "$[1]",
         NULL},
        /* a $ref cycle that never consumes the document is cut, not a crash */
        {"{'$defs':{'a':{'$ref':'#/$defs/b'},'b':{'$ref':'#/$defs/a'}},'$ref':'#/$defs/a'}", "1",
         -1, "$", "nested too deeply"},
    };
    RUN(cs);
}

/* Each format: documents that must pass and documents that must fail. */
static void check_format(const char *fmt, const char *const *ok, const char *const *bad)
{
    char schema[128];
    snprintf(schema, sizeof schema, "{\"type\":\"string\",\"format\":\"%s\"}", fmt);
    struct fg_schema *s = fg_schema_compile(schema, strlen(schema), NULL, 0);
    assert_non_null(s);
    for (; *ok; ok++) {
        json_t *v = json_string(*ok);
        struct fg_schema_error e;
        if (fg_schema_validate_json(s, v, &e) != 0)
            fail_msg("%s: rejected valid \"%s\": %s", fmt, *ok, e.msg);
        json_decref(v);
    }
    for (; *bad; bad++) {
        json_t *v = json_string(*bad);
        struct fg_schema_error e;
        if (fg_schema_validate_json(s, v, &e) != -1)
            fail_msg("%s: accepted invalid \"%s\"", fmt, *bad);
        char want[64];
        snprintf(want, sizeof want, "not a valid %s", fmt);
        assert_string_equal(e.msg, want);
        assert_string_equal(e.path, "$");
        json_decref(v);
    }
    fg_schema_free(s);
}

#define L(...)                                                                                     \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }
#define LABEL63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"

static void formats(void **state)
{
    check_format("date-time",
                 L("2024-02-29T12:30:00Z", "2024-01-01T00:00:00.123+05:30", "1990-12-31t23:59:60z",
                   "1990-12-31T15:59:60-08:00"),
                 L("2023-02-29T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z",
                   "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "1990-12-31T23:59:60+01:00",
                   "2024-01-01T00:00:00+25:00", ""));
    check_format("date", L("2024-02-29", "2000-02-29", "1999-12-31"),
                 L("1900-02-29", "2024-2-1", "2024-04-31", "20240101", "2024-00-10", "2024-01-0a"));
    check_format("time", L("12:00:00Z", "23:59:59.999+01:00", "23:59:60Z", "00:00:00-00:00"),
                 L("12:00:00", "25:00:00Z", "12:60:00Z", "12:00:00+24:00", "12:00:00.Z",
                   "12:00:60Z", "1:00:00Z"));
    check_format("duration",
                 L("P1Y2M3DT4H5M6S", "PT0S", "P4W", "P1D", "PT36H", "P1Y2D", "P1M", "PT1M"),
                 L("P", "PT", "P1YT", "1Y", "P2D1Y", "PT1D", "P1Y2W", "P1.5D", "P1H", "PT1H2H"));
    check_format("email",
                 L("a@b.co", "first.last+tag@example.com", "\"quoted local\"@example.com",
                   "x@[127.0.0.1]", "x@[IPv6:::1]", "o'hara@example.org"),
                 L("a", "@b.com", "a@", ".a@b.com", "a.@b.com", "a..b@c.com", "a@b..com",
                   "a b@c.com", "a@-b.com", "a@[1.2.3]"));
    check_format("hostname",
                 L("example.com", "a-b.c", "xn--bcher-kva.example", "localhost", LABEL63 ".com"),
                 L("-a.com", "a-.com", "a..b", "a_b.com", "", LABEL63 "4.com", "ex ample.com",
                   ".example.com"));
    check_format("ipv4", L("0.0.0.0", "192.168.1.255", "255.255.255.255"),
                 L("256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.a", " 1.2.3.4", "1.2.3.4 ",
                   "1234.1.1.1"));
    check_format(
        "ipv6",
        L("::1", "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1",
          "::", "fe80:0:0:0:200:f8ff:fe21:67cf"),
        L("1:2:3:4:5:6:7:8:9", "2001:db8:::1", "12345::", "fe80::1%eth0", "1.2.3.4", ":", "::g"));
    check_format(
        "uuid", L("123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000"),
        L("123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g",
          "{123e4567-e89b-12d3-a456-426614174000}", "123e4567-e89b-12d3-a456_426614174000"));
    check_format("uri",
                 L("https://example.com/path?q=1#frag", "mailto:a@b.com", "urn:isbn:0451450523",
                   "http://[::1]:8080/", "ftp://user@host:21/x%20y", "file:///etc/hosts"),
                 L("example.com", "/relative", "http://exa mple.com", "http://host:port/",
                   "http://example.com/%zz", "https://\xe4\xbe\x8b.jp", "1http://x",
                   "http://ex[a]mple.com", "http://x/a[b]"));
    /* unknown formats are annotations */
    static const struct vcase cs[] = {
        {"{'format':'color'}", "'anything'", 0, NULL, NULL},
        {"{'format':'email'}", "42", 0, NULL, NULL},
        {"{'type':'object','properties':{'d':{'type':'string','format':'date'}}}",
         "{'d':'2024-02-30'}", -1, "$.d", "not a valid date"},
    };
    RUN(cs);
}

static void not_json(void **state)
{
    static const char *const bad[] = {"{", "[1,]", "", "nul", "{\"a\":1}x", "'a'", "[1 2]"};
    struct fg_schema *s = compile_q("{'type':'object'}");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fg_schema_error e;
        assert_int_equal(fg_schema_validate(s, bad[i], strlen(bad[i]), &e), -2);
        assert_non_null(strstr(e.msg, "not JSON"));
        assert_non_null(strstr(e.msg, "line 1"));
    }
    assert_int_equal(fg_schema_validate(s, "[1", 2, NULL), -2);
    /* scalars are documents too, and big integers aren't "not JSON" */
    struct fg_schema_error e;
    assert_int_equal(fg_schema_validate(s, "12345678901234567890123", 23, &e), -1);
    assert_string_equal(e.msg, "expected object, got number");
    fg_schema_free(s);
}

static void compile_errors(void **state)
{
    static const struct {
        const char *schema, *err;
    } cs[] = {
        {"{'$ref':'https://example.com/s.json'}",
         "#: unsupported $ref 'https://example.com/s.json'"},
        {"{'properties':{'a':{'$ref':'other.json#/a'}}}", "#/properties/a: unsupported $ref"},
        {"{'$ref':'#foo'}", "anchors are not supported"},
        {"{'$ref':'#/$defs/missing'}", "unresolvable $ref '#/$defs/missing'"},
        {"{'$defs':{'a':{}},'$ref':'#/$defs/a~2'}", "invalid $ref"},
        {"{'properties':{'a':{'pattern':'('}}}",
         "#/properties/a: invalid pattern '(': missing closing parenthesis"},
        {"{'patternProperties':{'[':{}}}", "#/patternProperties/[: invalid pattern"},
        {"{'type':'str'}", "unknown type 'str'"},
        {"{'type':['string',1]}", "type[1] is not a known type name"},
        {"{'minLength':-1}", "minLength must be a non-negative integer"},
        {"{'maxItems':1.5}", "maxItems must be a non-negative integer"},
        {"{'multipleOf':0}", "multipleOf must be greater than 0"},
        {"{'minimum':'1'}", "minimum must be a number"},
        {"{'required':'a'}", "required must be an array"},
        {"{'anyOf':[]}", "anyOf must be a non-empty array"},
        {"{'items':{'properties':{'x':3}}}",
         "#/items/properties/x: a schema must be an object or a boolean"},
        {"5", "#: a schema must be an object or a boolean"},
        {"{'enum':3}", "enum must be an array"},
        {"{", "schema is not JSON"},
        {"{'$defs':{'d':{'pattern':'['}},'$ref':'#/$defs/d'}", "#/$defs/d: invalid pattern"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        char err[256] = "", *t = dq(cs[i].schema), *want = dq(cs[i].err);
        struct fg_schema *s = fg_schema_compile(t, strlen(t), err, sizeof err);
        if (s)
            fail_msg("compiled %s", cs[i].schema);
        if (!strstr(err, want))
            fail_msg("%s: error \"%s\" lacks \"%s\"", cs[i].schema, err, want);
        free(t);
        free(want);
    }
    assert_null(fg_schema_compile("{\"$ref\":\"x.json\"}", 16, NULL, 0)); /* no err buffer */
}

static struct fg_schema *get_q(const char *schema)
{
    char *t = dq(schema), err[256];
    struct fg_schema *s = fg_schema_get(t, strlen(t), err, sizeof err);
    free(t);
    return s;
}

static void cache(void **state)
{
    fg_schema_cache_shutdown();
    struct fg_schema *a = get_q("{'type':'object','required':['x']}");
    struct fg_schema *b = get_q(" { 'required' : ['x'], 'type':'object' } "); /* same canonically */
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(fg_schema_cache_size(), 1);
    struct fg_schema *c = get_q("{'type':'object','required':['y']}");
    assert_ptr_not_equal(a, c);
    fg_schema_release(b);
    fg_schema_release(c);
    /* the cache still holds a, so a new get gives the same pointer */
    b = get_q("{'type':'object','required':['x']}");
    assert_ptr_equal(a, b);
    fg_schema_release(b);
    assert_null(get_q("{'$ref':'http://x/y'}"));
    assert_int_equal(fg_schema_cache_size(), 2);

    /* bounded: a is least recently used and gets evicted; our reference keeps it alive */
    for (int i = 0; i < FG_SCHEMA_CACHE_MAX + 44; i++) {
        char t[64];
        snprintf(t, sizeof t, "{'maxLength':%d}", i);
        struct fg_schema *s = get_q(t);
        assert_non_null(s);
        fg_schema_release(s);
    }
    assert_int_equal(fg_schema_cache_size(), FG_SCHEMA_CACHE_MAX);
    b = get_q("{'type':'object','required':['x']}");
    assert_ptr_not_equal(a, b);
    assert_int_equal(fg_schema_validate(a, "{\"x\":1}", 7, NULL), 0);
    assert_int_equal(fg_schema_validate(a, "{}", 2, NULL), -1);
    fg_schema_release(b);

    /* shutdown drops the cache's references, not the callers' */
    fg_schema_cache_shutdown();
    assert_int_equal(fg_schema_cache_size(), 0);
    assert_int_equal(fg_schema_validate(a, "{\"x\":1}", 7, NULL), 0);
    fg_schema_release(a);
    fg_schema_release(NULL);
    fg_schema_free(NULL);
}

static void *cache_worker(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;
    for (int i = 0; i < 300; i++) {
        char t[96];
        int k = (int)((seed + (unsigned)i * 7u) % 12u);
        snprintf(t, sizeof t,
                 "{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"maximum\":%d}}", k);
        struct fg_schema *s = fg_schema_get(t, strlen(t), NULL, 0);
        if (!s || fg_schema_validate(s, "[0,1]", 5, NULL) != (k >= 1 ? 0 : -1))
            return (void *)1;
        fg_schema_release(s);
    }
    return NULL;
}

static void cache_threads(void **state)
{
    pthread_t th[6];
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cache_worker, (void *)i), 0);
    for (size_t i = 0; i < 6; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    assert_int_equal(fg_schema_cache_size(), 12);
    fg_schema_cache_shutdown();
}

static long mt(const char *schema)
{
    struct fg_schema *s = compile_q(schema);
    long t = fg_schema_max_tokens(s);
    fg_schema_free(s);
    return t;
}

static void max_tokens(void **state)
{
    /* "green" = 7 chars -> 3 tokens */
    assert_int_equal(mt("{'enum':['red','green']}"), 3);
    assert_int_equal(mt("{'type':'string','enum':['red','green']}"), 3);
    /* {"a":"<10>"} = 2 + 3 + 1 + 12 = 18 -> 6 */
    assert_int_equal(mt("{'type':'object','properties':{'a':{'type':'string','maxLength':10}},"
                        "'additionalProperties':false}"),
                     6);
    /* [false,false,false] = 19 -> 7 */
    assert_int_equal(mt("{'type':'array','items':{'type':'boolean'},'maxItems':3}"), 7);
    assert_int_equal(mt("{'type':'array','items':{'type':'boolean'},'maxItems':0}"), 1);
    /* ["<12 date>",-100] = 2 + 12 + 1 + 4 = 19 -> 7 */
    assert_int_equal(mt("{'type':'array','prefixItems':[{'type':'string','format':'date'},"
                        "{'type':'integer','minimum':-100,'maximum':99}],'items':false}"),
                     7);
    /* {"k":"x","n":false} = 19 -> 7 (false is longer than null) */
    assert_int_equal(mt("{'type':'object','properties':{'k':{'const':'x'},'n':{'type':['null',"
                        "'boolean']}},'additionalProperties':false}"),
                     7);
    assert_int_equal(mt("{'$defs':{'c':{'enum':['ab']}},'anyOf':[{'$ref':'#/$defs/c'},"
                        "{'type':'null'}]}"),
                     2);
    /* the tightest of several bounds */
    assert_int_equal(
        mt("{'type':'string','maxLength':100,'allOf':[{'type':'string','maxLength':4}]}"), 2);
    /* unbounded */
    assert_int_equal(mt("{'type':'string'}"), -1);
    assert_int_equal(mt("{'type':'string','pattern':'^a{1,3}$'}"), -1);
    assert_int_equal(mt("{'type':'array','items':{'type':'boolean'}}"), -1);
    assert_int_equal(mt("{'type':'object','properties':{'a':{'type':'boolean'}}}"), -1);
    assert_int_equal(mt("{'type':'object','additionalProperties':{'type':'boolean'}}"), -1);
    assert_int_equal(mt("{}"), -1);
    assert_int_equal(mt("{'anyOf':[{'type':'boolean'},{'type':'string'}]}"), -1);
    assert_int_equal(mt(TREE), -1);
    assert_int_equal(mt("{'type':'object','properties':{'n':{'$ref':'#/$defs/n'}},"
                        "'additionalProperties':false,'$defs':{'n':{'type':'object',"
                        "'properties':{'n':{'$ref':'#/$defs/n'}},'additionalProperties':false}}}"),
                     -1);
}

static json_t *load_q(const char *s)
{
    char *t = dq(s);
    json_t *v = json_loads(t, 0, NULL);
    free(t);
    assert_non_null(v);
    return v;
}

static void assert_json(const json_t *got, const char *want_q)
{
    json_t *want = load_q(want_q);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got  %s\nwant %s", g, w);
    }
    json_decref(want);
}

#define OA_IN                                                                                      \
    "{'type':'object','title':'T','properties':{"                                                  \
    "'name':{'type':'string','minLength':1,'maxLength':50},"                                       \
    "'age':{'type':'integer','minimum':0,'default':3},"                                            \
    "'tags':{'type':'array','items':{'type':'string'},'uniqueItems':true,'maxItems':5},"           \
    "'kind':{'oneOf':[{'type':'string'},{'type':'integer'}]},"                                     \
    "'site':{'type':'string','format':'uri'},"                                                     \
    "'when':{'type':'string','format':'date','pattern':'^2'},"                                     \
    "'addr':{'$ref':'#/$defs/addr'},"                                                              \
    "'color':{'type':'string','enum':['r','g']},"                                                  \
    "'p':{'allOf':[{'$ref':'#/$defs/n'}],'description':'x'},"                                      \
    "'q':{'allOf':[{'type':'integer'},{'minimum':1}]}},"                                           \
    "'required':['name','age','p'],"                                                               \
    "'$defs':{'addr':{'type':'object','properties':{'city':{'type':'string'}},"                    \
    "'patternProperties':{'^x':{}}},'n':{'type':'number','multipleOf':0.5}}}"

static void for_openai(void **state)
{
    json_t *in = load_q(OA_IN);
    char *before = json_dumps(in, JSON_COMPACT);
    char dropped[256];
    json_t *out = fg_schema_for_target(in, FG_SCHEMA_OPENAI_STRICT, dropped, sizeof dropped);
    assert_json(out,
                "{'type':'object','title':'T','additionalProperties':false,"
                "'required':['name','age','tags','kind','site','when','addr','color','p','q'],"
                "'properties':{"
                "'name':{'type':'string'},"
                "'age':{'type':'integer','minimum':0},"
                "'tags':{'type':['array','null'],'items':{'type':'string'},'maxItems':5},"
                "'kind':{'anyOf':[{'type':'string'},{'type':'integer'},{'type':'null'}]},"
                "'site':{'type':['string','null']},"
                "'when':{'type':['string','null'],'format':'date','pattern':'^2'},"
                "'addr':{'anyOf':[{'$ref':'#/$defs/addr'},{'type':'null'}]},"
                "'color':{'type':['string','null'],'enum':['r','g',null]},"
                "'p':{'$ref':'#/$defs/n','description':'x'},"
                "'q':{}},"
                "'$defs':{'addr':{'type':'object','properties':{'city':{'type':['string','null']}},"
                "'required':['city'],'additionalProperties':false},"
                "'n':{'type':'number','multipleOf':0.5}}}");
    assert_string_equal(dropped,
                        "minLength, maxLength, default, uniqueItems, oneOf->anyOf, format, "
                        "allOf, patternProperties, optional->nullable");
    /* the input is untouched and the output compiles and validates */
    char *after = json_dumps(in, JSON_COMPACT);
    assert_string_equal(before, after);
    char *text = json_dumps(out, JSON_COMPACT);
    struct fg_schema *s = fg_schema_compile(text, strlen(text), NULL, 0);
    assert_non_null(s);
    const char *doc = "{\"name\":\"n\",\"age\":1,\"tags\":null,\"kind\":null,\"site\":null,"
                      "\"when\":\"2024-01-01\",\"addr\":{\"city\":null},\"color\":null,\"p\":1.5,"
                      "\"q\":null}";
    struct fg_schema_error e;
    assert_int_equal(fg_schema_validate(s, doc, strlen(doc), &e), 0);
    fg_schema_free(s);
    free(text);
    free(before);
    free(after);
    json_decref(out);
    json_decref(in);

    /* nothing to drop; dropped may be NULL */
    in = load_q("{'type':'object','properties':{'a':{'type':'string'}},'required':['a'],"
                "'additionalProperties':false}");
    out = fg_schema_for_target(in, FG_SCHEMA_OPENAI_STRICT, dropped, sizeof dropped);
    assert_true(json_equal(in, out));
    assert_string_equal(dropped, "");
    json_decref(out);
    out = fg_schema_for_target(in, FG_SCHEMA_OPENAI_STRICT, NULL, 0);
    json_decref(out);
    json_decref(in);
}

#define AN_IN                                                                                      \
    "{'type':'object','properties':{"                                                              \
    "'n':{'type':'integer','minimum':1,'maximum':10,'description':'A number'},"                    \
    "'s':{'type':'string','pattern':'^a','minLength':2},"                                          \
    "'u':{'type':'string','format':'uri'},"                                                        \
    "'r':{'type':'string','format':'regex'},"                                                      \
    "'l':{'type':'array','items':{'type':'string'},'minItems':1},"                                 \
    "'m':{'type':'array','items':{'type':'string'},'minItems':2,'maxItems':5},"                    \
    "'o':{'oneOf':[{'type':'string'},{'type':'null'}]},"                                           \
    "'c':{'const':'k','title':'C'},"                                                               \
    "'ref':{'$ref':'#/$defs/d','description':'dropped'}},"                                         \
    "'required':['n'],'additionalProperties':true,"                                                \
    "'$defs':{'d':{'type':'object','allOf':[{'type':'object','properties':{}}]}}}"

static void for_anthropic(void **state)
{
    json_t *in = load_q(AN_IN);
    char dropped[256];
    json_t *out = fg_schema_for_target(in, FG_SCHEMA_ANTHROPIC, dropped, sizeof dropped);
    assert_json(out,
                "{'type':'object','required':['n'],'additionalProperties':false,'properties':{"
                "'n':{'type':'integer','description':'A number\\n\\n{minimum: 1, maximum: 10}'},"
                "'s':{'type':'string','description':'{pattern: ^a, minLength: 2}'},"
                "'u':{'type':'string','format':'uri'},"
                "'r':{'type':'string','description':'{format: regex}'},"
                "'l':{'type':'array','items':{'type':'string'},'minItems':1},"
                "'m':{'type':'array','items':{'type':'string'},"
                "'description':'{minItems: 2, maxItems: 5}'},"
                "'o':{'anyOf':[{'type':'string'},{'type':'null'}]},"
                "'c':{'const':'k','title':'C'},"
                "'ref':{'$ref':'#/$defs/d'}},"
                "'$defs':{'d':{'type':'object','properties':{},'additionalProperties':false,"
                "'allOf':[{'type':'object','properties':{},'additionalProperties':false}]}}}");
    assert_string_equal(dropped,
                        "minimum, maximum, pattern, minLength, format, minItems, maxItems, "
                        "oneOf->anyOf, description, additionalProperties");
    json_decref(out);
    json_decref(in);

    /* a root $ref keeps its $defs; non-string values are described as JSON */
    in = load_q("{'$ref':'#/$defs/x','$defs':{'x':{'type':'array','items':{'type':'integer'},"
                "'uniqueItems':true,'prefixItems':[{'type':'string'}]}}}");
    out = fg_schema_for_target(in, FG_SCHEMA_ANTHROPIC, dropped, sizeof dropped);
    assert_json(out,
                "{'$ref':'#/$defs/x','$defs':{'x':{'type':'array','items':{'type':'integer'},"
                "'description':'{uniqueItems: true, prefixItems: [{\\'type\\':\\'string\\'}]}'}}}");
    assert_string_equal(dropped, "uniqueItems, prefixItems");
    json_decref(out);
    json_decref(in);
}

static void any_object(void **state)
{
    struct fg_schema *s = fg_schema_any_object();
    struct fg_schema_error e;
    assert_non_null(s);
    assert_int_equal(fg_schema_validate(s, "{\"a\":[1]}", 9, &e), 0);
    assert_int_equal(fg_schema_validate(s, "[1]", 3, &e), -1);
    assert_string_equal(e.msg, "expected object, got array");
    assert_int_equal(fg_schema_max_tokens(s), -1);
    struct fg_schema *t = fg_schema_any_object();
    assert_ptr_equal(s, t);
    fg_schema_release(t);
    fg_schema_release(s);
    fg_schema_cache_shutdown();
}

static void parsed_documents(void **state)
{
    struct fg_schema *s = compile_q(OBJ1);
    struct fg_schema_error e;
    json_t *d = json_pack("{s:i,s:[i]}", "a", 1, "b", 2);
    assert_int_equal(fg_schema_validate_json(s, d, &e), -1);
    assert_string_equal(e.path, "$.b");
    assert_string_equal(e.msg, "expected string, got array");
    json_decref(d);
    assert_int_equal(fg_schema_validate_json(s, NULL, &e), -1);
    fg_schema_free(s);

    /* long paths are cut on a character boundary */
    s = compile_q("{'additionalProperties':{'additionalProperties':{'type':'string'}}}");
    char key[400];
    memset(key, 'k', sizeof key);
    memcpy(key + 250, "\xe2\x82\xac", 3);
    json_t *inner = json_pack("{s:i}", "x", 1);
    d = json_object();
    json_object_setn_new(d, key, sizeof key, inner);
    assert_int_equal(fg_schema_validate_json(s, d, &e), -1);
    assert_true(strlen(e.path) <= 255);
    json_t *chk = json_string(e.path); /* valid UTF-8 */
    assert_non_null(chk);
    json_decref(chk);
    json_decref(d);
    fg_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(types),          cmocka_unit_test(objects),
        cmocka_unit_test(values),         cmocka_unit_test(arrays),
        cmocka_unit_test(strings),        cmocka_unit_test(numbers),
        cmocka_unit_test(applicators),    cmocka_unit_test(refs),
        cmocka_unit_test(formats),        cmocka_unit_test(not_json),
        cmocka_unit_test(compile_errors), cmocka_unit_test(cache),
        cmocka_unit_test(cache_threads),  cmocka_unit_test(max_tokens),
        cmocka_unit_test(for_openai),     cmocka_unit_test(for_anthropic),
        cmocka_unit_test(any_object),     cmocka_unit_test(parsed_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
