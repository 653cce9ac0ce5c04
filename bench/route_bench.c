/* route_bench.c — how long one routing decision takes (run by `make bench`;
 * not a test).
 *
 * Contract: `build/route_bench WEIGHTS [ITERATIONS]` loads the classifier
 * weights, then times fg_route_decide() — the rules (x-frugal-route,
 * tools, images, context length) and the classifier against the weights'
 * operating threshold, exactly as a request through route `auto` meets
 * them — in-process on one thread, for a 4,096-byte chat request and a
 * 200-byte one.  The request body is indexed once beforehand, as the API
 * layer does for every call.  Each decision is timed alone
 * (CLOCK_MONOTONIC, its ~20 ns included) after a warm-up; p50 and p99 are
 * over all decisions, the mean and decisions per second (1 / mean) come
 * from the best of ROUNDS equal rounds, so a decision preempted by other
 * load on a shared machine does not set the throughput.  Prints a markdown
 * table and a note.  Exit status 1 when the weights do not load, 2 on bad
 * usage. */
#include "arena.h"
#include "json.h"
#include "provider.h"
#include "route.h"
#include "router.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP 2000
#define ROUNDS 5

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Ordinary chat prose with a little code and numbers (no JSON escapes). */
static const char *const long_text[] = {
    "Our service answers about 1,200 requests per second at peak and the p99 latency "
    "jumped from 180 ms to 950 ms after Tuesday's deploy. ",
    "The handler calls `fetch_orders(customer_id, limit=50)` and then sorts the result "
    "in Python before paginating it. ",
    "Can you explain why the latency would grow like that, and suggest how to find the "
    "regression step by step? ",
    "We already checked the database: the slow query log is empty and CPU on the "
    "primary stays under 40%. ",
    NULL,
};
static const char *const short_text[] = {
    "What is the capital of Australia? One word, please. ",
    "And of New Zealand? ",
    NULL,
};

/* A chat request of `target` bytes: a system prompt and a user turn made of
 * `texts` in turn. */
static char *make_body(size_t target, const char *const *texts)
{
    static const char fmt[] = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\","
                              "\"content\":\"You are a helpful assistant.\"},{\"role\":"
                              "\"user\",\"content\":\"%s\"}],\"max_tokens\":512}";
    size_t overhead = strlen(fmt) - 2, n = 0;
    char *text = calloc(1, target + 1);
    for (int i = 0; n + overhead < target; i++) {
        const char *s = texts[i];
        if (!s)
            s = texts[i = 0];
        size_t l = strlen(s);
        if (n + l + overhead > target)
            l = target - overhead - n;
        memcpy(text + n, s, l);
        n += l;
    }
    char *body = malloc(target + sizeof fmt);
    snprintf(body, target + sizeof fmt, fmt, text);
    free(text);
    return body;
}

struct result {
    size_t bytes;
    double per_sec, p50_us, p99_us, mean_us;
    const char *tier;
};

static void run(struct fg_worker *w, const struct fg_route_cfg *r, const char *body, long iters,
                struct result *out)
{
    struct fg_call c;
    memset(&c, 0, sizeof c);
    c.w = w;
    c.snap = &w->app->boot; /* the call's config snapshot (snap.h) */
    c.in = fg_provider_ops(FG_DIALECT_OPENAI);
    c.raw = body;
    c.raw_len = strlen(body);
    if (fg_json_parse(&c.body, c.raw, c.raw_len) < 0) {
        fprintf(stderr, "route_bench: bad request body: %s\n", c.body.err);
        exit(1);
    }
    uint64_t *t = malloc((size_t)iters * sizeof *t);
    const char *tier = NULL;
    for (long i = -WARMUP; i < iters; i++) {
        fg_arena_init(&c.arena);
        uint64_t t0 = now_ns();
        const char *model = fg_route_decide(&c, r, 0);
        uint64_t t1 = now_ns();
        tier = strcmp(model, r->frontier) ? "cheap" : "frontier";
        fg_arena_free(&c.arena);
        if (i >= 0)
            t[i] = t1 - t0;
    }
    /* throughput: the best round's mean, so other load on a shared machine
     * (a preempted decision costs milliseconds) does not decide it */
    double best = 0;
    long per = iters / ROUNDS;
    for (int k = 0; k < ROUNDS; k++) {
        double sum = 0;
        for (long i = k * per; i < (k + 1) * per; i++)
            sum += (double)t[i];
        if (k == 0 || sum / (double)per < best)
            best = sum / (double)per;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_u64);
    out->bytes = c.raw_len;
    out->mean_us = best / 1000.0;
    out->per_sec = 1e9 / best;
    out->p50_us = (double)t[iters / 2] / 1000.0;
    out->p99_us = (double)t[(size_t)((double)iters * 0.99)] / 1000.0;
    out->tier = tier;
    free(t);
    fg_json_free(&c.body);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: route_bench WEIGHTS.frw [ITERATIONS]\n");
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : 200000;
    if (iters < 100)
        iters = 100;
    char err[300];
    struct fg_router *rt = fg_router_load(argv[1], err, sizeof err);
    if (!rt) {
        fprintf(stderr, "route_bench: %s\n", err);
        return 1;
    }
    /* route `auto` with every rule switched on, so each is evaluated */
    static struct fg_model_cfg models[] = {
        {.name = "gpt-4o-mini", .provider = "p", .model = "gpt-4o-mini"},
        {.name = "gpt-4o", .provider = "p", .model = "gpt-4o"},
    };
    struct fg_config cfg = {.models = models, .n_models = 2};
    struct fg_route_cfg route = {.name = "auto",
                                 .cheap = "gpt-4o-mini",
                                 .frontier = "gpt-4o",
                                 .threshold = -1,
                                 .frontier_share = -1,
                                 .frontier_on_tools = true,
                                 .frontier_on_images = true};
    struct fg_router *routers[1] = {rt};
    struct fg_app app = {
        .cfg = &cfg, .routers = routers, .boot = {.cfg = &cfg, .routers = routers}};
    struct fg_worker w = {.app = &app};

    static const size_t sizes[] = {4096, 200};
    const char *const *texts[] = {long_text, short_text};
    struct result res[2];
    for (int i = 0; i < 2; i++) {
        char *body = make_body(sizes[i], texts[i]);
        run(&w, &route, body, iters, &res[i]);
        free(body);
    }
    printf("| request body | decisions/s (1 thread) | p50 µs | p99 µs | mean µs | tier |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (int i = 0; i < 2; i++)
        printf("| %zu B | %.0f | %.2f | %.2f | %.2f | %s |\n", res[i].bytes, res[i].per_sec,
               res[i].p50_us, res[i].p99_us, res[i].mean_us, res[i].tier);
    printf("\n%ld timed decisions per body after %d warm-up ones; p50/p99 over all of them, "
           "decisions/s and mean from the best of %d equal rounds. A decision is the rules "
           "(x-frugal-route, tools, images, context length) and the classifier at the weights' "
           "operating threshold; the body is indexed beforehand, as for every call.\n",
           iters, WARMUP, ROUNDS);
    fg_router_free(rt);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return 0;
}
