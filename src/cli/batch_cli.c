/* batch_cli.c — see batch_cli.h. */
#include "batch_cli.h"

#include "config.h"
#include "vec.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli {
    char url[512];
    const char *key;
    bool json, wait;
    const char *model, *out, *id, *file;
};

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
    struct buf *b = arg;
    size_t n = sz * nm;
    FG_VEC_RESERVE(b->p, b->n + n + 1, b->cap);
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET (body NULL) or POST JSON / multipart; returns the status, 0 on a
 * transport failure (message printed). */
static long request(const struct cli *c, const char *path, const char *json, curl_mime *mime,
                    struct buf *out)
{
    char url[1024], auth[600];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    if (c->key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->key);
        h = curl_slist_append(h, auth);
    }
    if (!strncmp(path, "/v1/messages", 12))
        h = curl_slist_append(h, "anthropic-version: 2023-06-01");
    if (json) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    }
    if (mime)
        curl_easy_setopt(e, CURLOPT_MIMEPOST, mime);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 600L);
    long status = 0;
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK)
        fprintf(stderr, "frugal batch: %s: %s\n", c->url, curl_easy_strerror(rc));
    else
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

/* The gateway's error message in either dialect. */
static void print_error(long status, const struct buf *b)
{
    json_t *j = b->p ? json_loads(b->p, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    fprintf(stderr, "frugal batch: HTTP %ld: %s\n", status, msg ? msg : (b->p ? b->p : ""));
    json_decref(j);
}

static json_t *get_json(const struct cli *c, const char *path)
{
    struct buf b = {0};
    long st = request(c, path, NULL, NULL, &b);
    json_t *j = NULL;
    if (st == 200)
        j = json_loads(b.p ? b.p : "", 0, NULL);
    else if (st)
        print_error(st, &b);
    free(b.p);
    return j;
}

static bool anthropic_id(const char *id)
{
    return !strncmp(id, "msgbatch_", 9);
}

/* ---- submit ---------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "frugal batch: cannot open %s\n", path);
        return NULL;
    }
    struct buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!on_data(chunk, 1, n, &b))
            break;
    fclose(f);
    *len = b.n;
    if (!b.p)
        b.p = calloc(1, 1);
    return b.p;
}

/* Parse the lines; set the model when asked; 0 or -1 (message printed). */
static int load_lines(const struct cli *c, json_t *lines, bool *anthropic)
{
    size_t len;
    char *data = read_file(c->file, &len);
    if (!data)
        return -1;
    int lineno = 0, rc = 0;
    for (char *s = data, *nl; s && *s && rc == 0; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        if (strspn(s, " \t\r") == strlen(s))
            continue;
        json_error_t je;
        json_t *l = json_loads(s, 0, &je);
        json_t *target = json_object_get(l, "params");
        bool an = target != NULL;
        if (!target)
            target = json_object_get(l, "body");
        if (!json_is_object(target)) {
            fprintf(stderr, "frugal batch: %s:%d: %s\n", c->file, lineno,
                    l ? "neither an OpenAI batch line (body) nor an Anthropic one (params)"
                      : je.text);
            rc = -1;
        } else if (json_array_size(lines) && an != *anthropic) {
            fprintf(stderr, "frugal batch: %s:%d: mixes OpenAI and Anthropic batch lines\n",
                    c->file, lineno);
            rc = -1;
        } else {
            *anthropic = an;
            if (c->model)
                json_object_set_new(target, "model", json_string(c->model));
            json_array_append(lines, l);
        }
        json_decref(l);
    }
    free(data);
    if (rc == 0 && json_array_size(lines) == 0) {
        fprintf(stderr, "frugal batch: %s has no requests\n", c->file);
        rc = -1;
    }
    return rc;
}

static char *submit_openai(const struct cli *c, json_t *lines)
{
    struct buf jsonl = {0};
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        char *s = json_dumps(l, JSON_COMPACT);
        on_data(s, 1, strlen(s), &jsonl);
        on_data("\n", 1, 1, &jsonl);
        free(s);
    }
    CURL *dummy = curl_easy_init();
    curl_mime *mime = curl_mime_init(dummy);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "purpose");
    curl_mime_data(part, "batch", CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    const char *base = strrchr(c->file, '/');
    curl_mime_filename(part, base ? base + 1 : c->file);
    curl_mime_data(part, jsonl.p ? jsonl.p : "", jsonl.n);
    struct buf b = {0};
    long st = request(c, "/v1/files", NULL, mime, &b);
    curl_mime_free(mime);
    curl_easy_cleanup(dummy);
    free(jsonl.p);
    char *id = NULL;
    json_t *f = st == 200 ? json_loads(b.p, 0, NULL) : NULL;
    if (st != 200) {
        if (st)
            print_error(st, &b);
    } else {
        /* the batch's endpoint is its lines' (the gateway checks they agree) */
        const char *ep = json_string_value(json_object_get(json_array_get(lines, 0), "url"));
        ep = ep && !strcmp(ep, "/v1/embeddings") ? "/v1/embeddings" : "/v1/chat/completions";
        json_t *req = json_pack("{s:s, s:s, s:s}", "input_file_id",
                                json_string_value(json_object_get(f, "id")), "endpoint", ep,
                                "completion_window", "24h");
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        free(b.p);
        b = (struct buf){0};
        st = request(c, "/v1/batches", body, NULL, &b);
        free(body);
        json_t *bj = st == 200 ? json_loads(b.p, 0, NULL) : NULL;
        if (bj)
            id = strdup(json_string_value(json_object_get(bj, "id")));
        else if (st)
            print_error(st, &b);
        json_decref(bj);
    }
    json_decref(f);
    free(b.p);
    return id;
}

static char *submit_anthropic(const struct cli *c, json_t *lines)
{
    json_t *req = json_pack("{s:O}", "requests", lines);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct buf b = {0};
    long st = request(c, "/v1/messages/batches", body, NULL, &b);
    free(body);
    char *id = NULL;
    json_t *bj = st == 200 ? json_loads(b.p, 0, NULL) : NULL;
    if (bj)
        id = strdup(json_string_value(json_object_get(bj, "id")));
    else if (st)
        print_error(st, &b);
    json_decref(bj);
    free(b.p);
    return id;
}

/* ---- status ------------------------------------------------------------------ */

struct progress {
    const char *state;
    long long total, done, failed;
    bool ended;
};

static void progress_of(const char *id, json_t *b, struct progress *p)
{
    json_t *rc = json_object_get(b, "request_counts");
    if (anthropic_id(id)) {
        p->state = json_string_value(json_object_get(b, "processing_status"));
        long long proc = json_integer_value(json_object_get(rc, "processing"));
        long long ok = json_integer_value(json_object_get(rc, "succeeded"));
        p->failed = json_integer_value(json_object_get(rc, "errored")) +
                    json_integer_value(json_object_get(rc, "canceled")) +
                    json_integer_value(json_object_get(rc, "expired"));
        p->total = proc + ok + p->failed;
        p->done = ok + p->failed;
        p->ended = p->state && !strcmp(p->state, "ended");
    } else {
        p->state = json_string_value(json_object_get(b, "status"));
        p->total = json_integer_value(json_object_get(rc, "total"));
        p->failed = json_integer_value(json_object_get(rc, "failed"));
        p->done = json_integer_value(json_object_get(rc, "completed")) + p->failed;
        p->ended = p->state && (!strcmp(p->state, "completed") || !strcmp(p->state, "failed") ||
                                !strcmp(p->state, "expired") || !strcmp(p->state, "cancelled"));
    }
    if (!p->state)
        p->state = "?";
}

static json_t *get_batch(const struct cli *c, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", anthropic_id(id) ? "/v1/messages/batches/" : "/v1/batches/",
             id);
    return get_json(c, path);
}

static void print_status(const char *id, json_t *b)
{
    struct progress p;
    progress_of(id, b, &p);
    printf("%s  %s  %lld/%lld done", id, p.state, p.done, p.total);
    if (p.failed)
        printf(" (%lld failed, cancelled or expired)", p.failed);
    printf("\n");
    json_t *u = json_object_get(b, "usage");
    if (u)
        printf("tokens: %lld in (%lld cached), %lld out\n",
               (long long)json_integer_value(json_object_get(u, "input_tokens")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(u, "input_tokens_details"), "cached_tokens")),
               (long long)json_integer_value(json_object_get(u, "output_tokens")));
}

static void draw_bar(const struct progress *p)
{
    int width = 30, fill = p->total ? (int)(p->done * width / p->total) : 0;
    char bar[40];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %lld/%lld  %-12s", bar, p->done, p->total, p->state);
    fflush(stderr);
}

static int wait_for(const struct cli *c, const char *id)
{
    bool tty = isatty(STDERR_FILENO);
    for (;;) {
        json_t *b = get_batch(c, id);
        if (!b)
            return 1;
        struct progress p;
        progress_of(id, b, &p);
        if (tty)
            draw_bar(&p);
        if (p.ended) {
            if (tty)
                fputc('\n', stderr);
            print_status(id, b);
            json_decref(b);
            return 0;
        }
        json_decref(b);
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- results ------------------------------------------------------------------- */

static int fetch_into(const struct cli *c, const char *path, FILE *out)
{
    struct buf b = {0};
    long st = request(c, path, NULL, NULL, &b);
    int rc = 0;
    if (st == 200) {
        if (b.n)
            fwrite(b.p, 1, b.n, out);
    } else {
        if (st)
            print_error(st, &b);
        rc = 1;
    }
    free(b.p);
    return rc;
}

static int results(const struct cli *c)
{
    FILE *out = c->out ? fopen(c->out, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "frugal batch: cannot write %s\n", c->out);
        return 1;
    }
    char path[256];
    int rc = 0;
    if (anthropic_id(c->id)) {
        snprintf(path, sizeof path, "/v1/messages/batches/%s/results", c->id);
        rc = fetch_into(c, path, out);
    } else {
        json_t *b = get_batch(c, c->id);
        const char *ids[2] = {json_string_value(json_object_get(b, "output_file_id")),
                              json_string_value(json_object_get(b, "error_file_id"))};
        if (!b)
            rc = 1;
        else if (!ids[0] && !ids[1]) {
            fprintf(stderr, "frugal batch: %s has no results yet (status %s)\n", c->id,
                    json_string_value(json_object_get(b, "status")));
            rc = 1;
        }
        for (int i = 0; i < 2 && rc == 0; i++) {
            if (!ids[i])
                continue;
            snprintf(path, sizeof path, "/v1/files/%s/content", ids[i]);
            rc = fetch_into(c, path, out);
        }
        json_decref(b);
    }
    if (c->out)
        fclose(out);
    return rc;
}

/* ---- options --------------------------------------------------------------------- */

static void default_url(const struct fg_config *cfg, char *out, size_t n)
{
    const char *env = getenv("FRUGAL_URL");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    const char *l = cfg->server.listen ? cfg->server.listen : "127.0.0.1:4000";
    const char *colon = strrchr(l, ':');
    char host[256];
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - l) : (int)strlen(l), l);
    if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]") || !strcmp(host, "*"))
        snprintf(host, sizeof host, "127.0.0.1");
    snprintf(out, n, "http://%s:%s", host, colon ? colon + 1 : "4000");
}

static int parse(const struct fg_config *cfg, int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof *c);
    default_url(cfg, c->url, sizeof c->url);
    c->key = getenv("FRUGAL_API_KEY");
    if (!c->key)
        c->key = cfg->server.master_key;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && has)
            i++;
        else if (!strcmp(a, "--url") && has)
            snprintf(c->url, sizeof c->url, "%s", argv[++i]);
        else if (!strcmp(a, "--key") && has)
            c->key = argv[++i];
        else if (!strcmp(a, "--model") && has)
            c->model = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has)
            c->out = argv[++i];
        else if (!strcmp(a, "--wait"))
            c->wait = true;
        else if (!strcmp(a, "--json"))
            c->json = true;
        else if (a[0] == '-') {
            fprintf(stderr, "frugal batch: unknown option '%s'\n", a);
            return -1;
        } else if (!c->id)
            c->id = a; /* FILE for submit */
        else {
            fprintf(stderr, "frugal batch: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    size_t l = strlen(c->url);
    while (l && c->url[l - 1] == '/')
        c->url[--l] = '\0';
    if (l >= 3 && !strcmp(c->url + l - 3, "/v1"))
        c->url[l - 3] = '\0';
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: frugal batch submit FILE [--model M] [--wait]\n"
                    "       frugal batch status ID [--json]\n"
                    "       frugal batch results ID [-o FILE]\n"
                    "options: [-c CONFIG] [--url URL] [--key KEY]\n");
}

int fg_batch_cli_main(const struct fg_config *cfg, int argc, char **argv)
{
    struct cli c;
    if (argc < 2 || parse(cfg, argc, argv, &c) < 0 || !c.id) {
        usage();
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "submit")) {
        c.file = c.id;
        json_t *lines = json_array();
        bool an = false;
        if (load_lines(&c, lines, &an) < 0) {
            json_decref(lines);
            return 2;
        }
        char *id = an ? submit_anthropic(&c, lines) : submit_openai(&c, lines);
        json_decref(lines);
        if (!id)
            return 1;
        printf("%s\n", id);
        fflush(stdout);
        int rc = c.wait ? wait_for(&c, id) : 0;
        free(id);
        return rc;
    }
    if (!strcmp(sub, "status")) {
        json_t *b = get_batch(&c, c.id);
        if (!b)
            return 1;
        if (c.json) {
            char *s = json_dumps(b, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
        } else {
            print_status(c.id, b);
        }
        json_decref(b);
        return 0;
    }
    if (!strcmp(sub, "results"))
        return results(&c);
    usage();
    return 2;
}
