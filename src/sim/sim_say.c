/* sim_say.c — see sim_say.h. */
#include "sim_say.h"

#include "arena.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_say_entry {
    char *match;
    size_t match_len;
    char *say;
};

struct sim_say {
    struct sim_say_entry *e;
    size_t n, cap;
};

void sim_say_free(struct sim_say *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].match);
        free(t->e[i].say);
    }
    free(t->e);
    free(t);
}

/* One line's entry; -1 with <err> filled when it is not {"match", "say"}. */
static int add_line(struct sim_say *t, const char *line, size_t len, long lineno, char *err,
                    size_t errlen)
{
    json_error_t je;
    json_t *v = json_loadb(line, len, 0, &je);
    const char *m = json_string_value(json_object_get(v, "match"));
    const char *s = json_string_value(json_object_get(v, "say"));
    int rc = -1;
    if (!v)
        snprintf(err, errlen, "line %ld: not JSON (%s)", lineno, je.text);
    else if (!m || !*m || !s || !*s)
        snprintf(err, errlen,
                 "line %ld: want {\"match\": non-empty string, \"say\": non-empty string}", lineno);
    else if (t->n >= SIM_SAY_MAX)
        snprintf(err, errlen, "line %ld: more than %d entries", lineno, SIM_SAY_MAX);
    else {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 64;
            t->e = fg_xrealloc(t->e, t->cap * sizeof *t->e);
        }
        size_t ml = json_string_length(json_object_get(v, "match"));
        char *copy = fg_xmalloc(ml + 1);
        memcpy(copy, m, ml + 1);
        t->e[t->n++] = (struct sim_say_entry){.match = copy, .match_len = ml, .say = fg_xstrdup(s)};
        rc = 0;
    }
    json_decref(v);
    return rc;
}

int sim_say_load(const char *path, struct sim_say **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "say table %s: %s", path, strerror(errno));
        return -1;
    }
    struct sim_say *t = fg_xcalloc(1, sizeof *t);
    char *line = NULL, msg[200];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        rc = add_line(t, line, (size_t)len, lineno, msg, sizeof msg);
        if (rc)
            snprintf(err, errlen, "say table %s: %s", path, msg);
    }
    free(line);
    fclose(f);
    if (rc) {
        sim_say_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

const char *sim_say_find(const struct sim_say *t, const char *text)
{
    if (!t || !text)
        return NULL;
    size_t len = strlen(text);
    for (size_t i = 0; i < t->n; i++)
        if (memmem(text, len, t->e[i].match, t->e[i].match_len))
            return t->e[i].say;
    return NULL;
}
