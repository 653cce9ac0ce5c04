/* route_labels.c — see route_labels.h. */
#include "route_labels.h"

#include "arena.h"
#include "vec.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line into a label; NULL on success, else what is wrong. */
static const char *parse_line(const char *line, const struct fg_router *r,
                              struct fg_optpoint_label *out)
{
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    const char *why = NULL;
    if (!json_is_object(o)) {
        why = "not a JSON object";
        goto done;
    }
    json_t *ok = json_object_get(o, "cheap_ok");
    if (!ok)
        ok = json_object_get(o, "weak_suffices");
    json_t *score = json_object_get(o, "score"), *prompt = json_object_get(o, "prompt");
    if (!json_is_boolean(ok)) {
        why = "needs \"cheap_ok\" (or \"weak_suffices\") true or false";
        goto done;
    }
    out->cheap_ok = json_is_true(ok);
    if (json_is_number(score)) {
        out->score = json_number_value(score);
    } else if (json_is_string(prompt) && r) {
        struct fg_route_facts facts = {.turns = 1};
        out->score =
            fg_router_score_text(r, json_string_value(prompt), json_string_length(prompt), &facts);
    } else {
        why = r ? "needs \"prompt\" (a string) or \"score\" (a number)"
                : "needs \"score\" (a number): no classifier weights to score a prompt";
    }
done:
    json_decref(o);
    return why;
}

int fg_route_labels_load(const char *path, const struct fg_router *r,
                         struct fg_optpoint_label **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct fg_optpoint_label *l = NULL;
    size_t len = 0, cap = 0, bufcap = 0;
    char *line = NULL;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &bufcap, fp) >= 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        FG_VEC_RESERVE(l, len + 1, cap);
        const char *why = parse_line(line, r, &l[len]);
        if (why) {
            snprintf(err, errlen, "%s:%ld: %s", path, lineno, why);
            rc = -1;
            break;
        }
        len++;
    }
    free(line);
    fclose(fp);
    if (rc) {
        free(l);
        return -1;
    }
    *out = l;
    *n = len;
    return 0;
}
