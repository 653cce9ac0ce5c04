/* test_shared_redis.c — the Redis backend (shared_redis.h) against a real
 * redis-server this suite starts (an ephemeral port, a temporary directory,
 * no persistence) and stops: the admission script's checks all-or-none,
 * denials with the live cells, windows moving forward, a lease given back
 * once and expiring, a settlement sent twice counted once, a key's guard,
 * the asynchronous apply and its cancellation on a worker loop, and the
 * store-down policies (fail closed, local).  redis-server must be
 * installed (scripts/install-deps.sh): without it the suite fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared.h"
#include "shared_redis.h"

static pid_t g_pid;
static int g_port;
static char g_dir[64], g_url[64];
static int g_seq; /* fresh counter names per test */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int start_redis(void **state)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/frugal-redis-unit-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    g_port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", g_port);
    g_pid = fork();
    if (g_pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               g_dir, "--save", "", "--appendonly", "no", (char *)NULL);
        fprintf(stderr, "test_shared_redis: redis-server is not installed "
                        "(scripts/install-deps.sh installs it)\n");
        _exit(127);
    }
    snprintf(g_url, sizeof g_url, "redis://127.0.0.1:%d", g_port);
    /* ready when it accepts a connection (or failed: the child exited) */
    for (int i = 0; i < 1000; i++) {
        int st;
        if (waitpid(g_pid, &st, WNOHANG) == g_pid)
            return -1;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)g_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return 0;
        sleep_ms(10);
    }
    return -1;
}

static int stop_redis(void **state)
{
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        waitpid(g_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct fg_shared *open_r(int64_t lease_ms, bool local, const char *url)
{
    struct fg_shared *s;
    char err[200];
    struct fg_shared_redis_opts o = {.fail_local = local, .lease_ms = lease_ms};
    assert_int_equal(fg_shared_redis_open(url ? url : g_url, &o, &s, err, sizeof err), 0);
    return s;
}

struct ctr {
    struct fg_shared_counter c;
    struct fg_shared_cell cell[FG_SHARED_MAX_SPAN];
};

static void ctr_init(struct ctr *c, int64_t span)
{
    char name[64];
    snprintf(name, sizeof name, "unit:%d:%d", (int)getpid(), ++g_seq);
    fg_shared_counter_init(&c->c, name, span, 60000, c->cell, (int)span);
}

static struct fg_shared_step step(struct ctr *c, int64_t now_win, int64_t win, int64_t a0,
                                  int64_t a1)
{
    return (struct fg_shared_step){.c = &c->c, .now_win = now_win, .win = win, .add = {a0, a1}};
}

/* A budget's reservation: spent + reserved + need <= limit. */
static struct fg_shared_step reserve(struct ctr *c, int64_t win, int64_t need, int64_t limit,
                                     uint64_t lease)
{
    struct fg_shared_step st = step(c, win, FG_SHARED_NOW, 0, need);
    st.check[0] = (struct fg_shared_check){3, need, limit};
    st.lease = lease;
    return st;
}

static void sums(struct fg_shared *s, struct ctr *c, int64_t now_win, int64_t v[2])
{
    struct fg_shared_window w;
    s->ops->counter_read(s, &c->c, now_win, &w);
    v[0] = v[1] = 0;
    for (int i = 0; i < w.n; i++) {
        v[0] += w.cell[i].v[0];
        v[1] += w.cell[i].v[1];
    }
}

/* A Redis without the seed marker (a fresh one, or one restarted without
 * persistence) refuses checked applies until the counters were rebuilt;
 * unchecked ones (settlements, the rebuild's adds) go through; one process
 * at a time holds the rebuild.  Runs first: it seeds the test's Redis. */
static void lost_counters_refuse_until_seeded(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL), *t = open_r(60000, false, NULL);
    struct ctr a;
    ctr_init(&a, 1);
    struct fg_shared_step st = reserve(&a, 1000, 10, 100, 0);
    assert_int_equal(s->ops->counter_apply(s, &st, 1, NULL), FG_SHARED_DOWN);
    struct fg_shared_step add = step(&a, 1000, 1000, 0, 25);
    assert_int_equal(s->ops->counter_apply(s, &add, 1, NULL), -1);
    assert_int_equal(s->ops->seed_claim(s), 1);
    assert_int_equal(t->ops->seed_claim(t), -1); /* the other process waits */
    s->ops->seed_done(s, false);                 /* a failed rebuild gives the claim back */
    assert_int_equal(t->ops->seed_claim(t), 1);
    t->ops->seed_done(t, true);
    assert_int_equal(s->ops->seed_claim(s), 0);
    st = reserve(&a, 1000, 10, 100, 0);
    assert_int_equal(s->ops->counter_apply(s, &st, 1, NULL), -1);
    int64_t v[2];
    sums(s, &a, 1000, v);
    assert_int_equal(v[1], 35); /* the unchecked add counted, then the hold */
    fg_shared_redis_close(t);
    fg_shared_redis_close(s);
}

static void checks_all_or_none_with_denial(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL);
    struct ctr a, b;
    ctr_init(&a, 1);
    ctr_init(&b, 1);
    struct fg_shared_step st[2] = {reserve(&a, 1000, 60, 100, 0), reserve(&b, 1000, 60, 100, 0)};
    assert_int_equal(s->ops->counter_apply(s, st, 2, NULL), -1);
    assert_int_equal(st[0].win, 1000); /* the head, as the script saw it */
    /* a has room for 30 more, b for 40: the pair fails on b, and a holds nothing */
    st[0] = reserve(&a, 1000, 30, 100, 0);
    st[1] = reserve(&b, 1000, 50, 100, 0);
    struct fg_shared_denial d;
    assert_int_equal(s->ops->counter_apply(s, st, 2, &d), 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.check, 0);
    assert_int_equal(d.w.head, 1000);
    assert_int_equal(d.w.n, 1);
    assert_int_equal(d.w.cell[0].win, 1000);
    assert_int_equal(d.w.cell[0].v[1], 60);
    int64_t v[2];
    sums(s, &a, 1000, v);
    assert_int_equal(v[1], 60);
    /* a new period: the old cell no longer counts */
    st[0] = reserve(&a, 2000, 100, 100, 0);
    assert_int_equal(s->ops->counter_apply(s, st, 1, NULL), -1);
    assert_int_equal(st[0].win, 2000);
    sums(s, &a, 2000, v);
    assert_int_equal(v[1], 100);
    fg_shared_redis_close(s);
}

static void rate_windows_slide(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL);
    struct ctr r;
    ctr_init(&r, 3); /* three one-second cells */
    for (int64_t sec = 100; sec <= 103; sec++) {
        struct fg_shared_step st = step(&r, sec, FG_SHARED_NOW, 1, 10);
        st.check[0] = (struct fg_shared_check){1, 1, 3}; /* 3 requests per window */
        assert_int_equal(s->ops->counter_apply(s, &st, 1, NULL), -1);
        assert_int_equal(st.win, sec);
    }
    int64_t v[2];
    sums(s, &r, 103, v);
    assert_int_equal(v[0], 3); /* 101..103 */
    assert_int_equal(v[1], 30);
    /* a fourth request in second 103 does not fit */
    struct fg_shared_step st = step(&r, 103, FG_SHARED_NOW, 1, 10);
    st.check[0] = (struct fg_shared_check){1, 1, 3};
    struct fg_shared_denial d;
    assert_int_equal(s->ops->counter_apply(s, &st, 1, &d), 0);
    assert_int_equal(d.w.n, 3);
    assert_int_equal(d.w.cell[0].win, 101);
    assert_int_equal(d.w.cell[2].win, 103);
    /* settling tokens into a second that left the window changes nothing */
    st = step(&r, 103, 100, 0, -10);
    assert_int_equal(s->ops->counter_apply(s, &st, 1, NULL), -1);
    sums(s, &r, 103, v);
    assert_int_equal(v[1], 30);
    fg_shared_redis_close(s);
}

static void settle_twice_counts_once(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL);
    struct ctr b;
    ctr_init(&b, 1);
    uint64_t lease = fg_shared_lease_new();
    struct fg_shared_step st = reserve(&b, 5000, 60, 100, lease);
    assert_int_equal(s->ops->counter_apply(s, &st, 1, NULL), -1);
    /* the settlement: give the hold back, add the real cost */
    for (int i = 0; i < 2; i++) { /* sent again after a lost reply */
        struct fg_shared_step set[2] = {step(&b, 5000, 5000, 0, -60), step(&b, 5000, 5000, 40, 0)};
        set[0].lease = lease;
        assert_int_equal(s->ops->counter_apply(s, set, 2, NULL), -1);
    }
    int64_t v[2];
    sums(s, &b, 5000, v);
    assert_int_equal(v[0], 40);
    assert_int_equal(v[1], 0);
    fg_shared_redis_close(s);
}

static void expired_lease_is_given_back(void **state)
{
    struct fg_shared *quick = open_r(1, false, NULL), *slow = open_r(60000, false, NULL);
    struct ctr b;
    ctr_init(&b, 1);
    /* a replica that died holding 60 of 100 (its lease: 1 ms) */
    uint64_t dead = fg_shared_lease_new();
    struct fg_shared_step st = reserve(&b, 7000, 60, 100, dead);
    assert_int_equal(quick->ops->counter_apply(quick, &st, 1, NULL), -1);
    /* a live hold of 30 (lease: a minute) */
    st = reserve(&b, 7000, 30, 100, fg_shared_lease_new());
    sleep_ms(20); /* the first lease has expired by now, whatever the load */
    assert_int_equal(slow->ops->counter_apply(slow, &st, 1, NULL), -1);
    int64_t v[2];
    sums(slow, &b, 7000, v);
    assert_int_equal(v[1], 30); /* 60 given back when the apply saw it expired */
    /* the dead replica's late settlement of that hold gives nothing back twice */
    struct fg_shared_step set = step(&b, 7000, 7000, 0, -60);
    set.lease = dead;
    assert_int_equal(slow->ops->counter_apply(slow, &set, 1, NULL), -1);
    sums(slow, &b, 7000, v);
    assert_int_equal(v[1], 30);
    fg_shared_redis_close(quick);
    fg_shared_redis_close(slow);
}

/* ---- on a loop, as a worker ---- */

struct got {
    int calls, r;
    struct fg_shared_step st[4];
};

static void done(void *arg, int r, const struct fg_shared_step *st, int n,
                 const struct fg_shared_denial *d)
{
    struct got *g = arg;
    g->calls++;
    g->r = r;
    memcpy(g->st, st, (size_t)n * sizeof *st);
}

static void run_until(struct event_base *base, const int *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++)
        event_base_loop(base, EVLOOP_ONCE);
}

static void async_apply_guard_and_cancel(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL);
    struct event_base *base = event_base_new();
    struct fg_shared_loop *l = s->ops->loop_open(s, base);
    struct ctr b;
    ctr_init(&b, 1);
    struct fg_shared_step st = reserve(&b, 9000, 60, 100, fg_shared_lease_new());
    struct got g = {0};
    struct fg_shared_op *op;
    char guard[64];
    snprintf(guard, sizeof guard, "key:unit-%d", (int)getpid());
    struct fg_shared_apply_opts o = {.guard = guard};
    assert_int_equal(s->ops->counter_apply_async(s, &st, 1, &o, NULL, done, &g, &op),
                     FG_SHARED_PENDING);
    run_until(base, &g.calls);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r, -1);
    assert_int_equal(g.st[0].win, 9000);
    /* the key is revoked elsewhere: the same apply is refused, nothing held */
    s->ops->version_bump(s, guard);
    g.calls = 0;
    st = reserve(&b, 9000, 10, 100, fg_shared_lease_new());
    assert_int_equal(s->ops->counter_apply_async(s, &st, 1, &o, NULL, done, &g, &op),
                     FG_SHARED_PENDING);
    run_until(base, &g.calls);
    assert_int_equal(g.r, FG_SHARED_GUARDED);
    int64_t v[2];
    sums(s, &b, 9000, v);
    assert_int_equal(v[1], 60);
    /* the caller leaves before the answer: what it held is given back */
    g.calls = 0;
    st = reserve(&b, 9000, 30, 100, fg_shared_lease_new());
    assert_int_equal(s->ops->counter_apply_async(s, &st, 1, NULL, NULL, done, &g, &op),
                     FG_SHARED_PENDING);
    s->ops->op_cancel(op);
    /* a settlement sent without waiting, on the same connection (after the undo) */
    struct fg_shared_step set = step(&b, 9000, 9000, 5, 0);
    assert_int_equal(s->ops->counter_apply(s, &set, 1, NULL), -1);
    int64_t deadline = 0;
    for (; deadline < 2000; deadline++) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        sums(s, &b, 9000, v);
        if (v[0] == 5 && v[1] == 60)
            break;
        sleep_ms(1);
    }
    assert_int_equal(g.calls, 0); /* done is never called for a cancelled apply */
    assert_int_equal(v[0], 5);
    assert_int_equal(v[1], 60);
    s->ops->loop_close(l);
    event_base_free(base);
    fg_shared_redis_close(s);
}

/* One admission with riders on a worker loop: r, and the answer. */
static int admit_riders(struct fg_shared *s, struct event_base *base, struct fg_shared_step *st,
                        int n, const struct fg_shared_riders *rd)
{
    struct got g = {0};
    struct fg_shared_op *op;
    struct fg_shared_apply_opts o = {.riders = rd};
    assert_int_equal(s->ops->counter_apply_async(s, st, n, &o, NULL, done, &g, &op),
                     FG_SHARED_PENDING);
    run_until(base, &g.calls);
    assert_int_equal(g.calls, 1);
    return g.r;
}

/* Tells land without anyone waiting: run the loop until the key is there. */
static void settle_loop(struct event_base *base)
{
    for (int i = 0; i < 200; i++) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        sleep_ms(1);
    }
}

/* The response cache, sightings and affinity ride in the admission script:
 * answered only when the apply succeeds (a refused admission reads and
 * records nothing); a cache value makes no sighting; what a call tells at
 * its end (the cache's value with PXAT, the deployment holding its
 * prefixes) is what the next admission, on any connection, reads. */
static void riders_ride_the_admission(void **state)
{
    struct fg_shared *s = open_r(60000, false, NULL);
    struct event_base *base = event_base_new();
    struct fg_shared_loop *l = s->ops->loop_open(s, base);
    uint8_t key[32];
    memset(key, 0, sizeof key);
    snprintf((char *)key, sizeof key, "unit-%d", (int)getpid());
    uint64_t h[3] = {0x1111000000000000ull + (uint64_t)getpid(), 0x2222, 0x3333};
    h[1] ^= h[0];
    h[2] ^= h[0];
    char ns[64];
    snprintf(ns, sizeof ns, "model-%d", (int)getpid());
    struct fg_shared_rider_answer a;
    struct fg_shared_riders rd = {.cache_key = key,
                                  .cache_ns = "unitcache",
                                  .seen = h,
                                  .nseen = 3,
                                  .seen_now_ms = 1000000,
                                  .aff_ns = ns,
                                  .aff = h,
                                  .naff = 3,
                                  .answer = &a};
    /* first sighting: nothing known, no value, no deployment */
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_true(a.answered);
    assert_null(a.cached);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a.prev_ms[i], 0);
    assert_int_equal(a.aff_dep, -1);
    /* a refused admission answers nothing and records no sighting */
    struct ctr c;
    ctr_init(&c, 1);
    struct fg_shared_step st = reserve(&c, 5000, 200, 100, 0);
    rd.seen_now_ms = 1500000;
    assert_int_equal(admit_riders(s, base, &st, 1, &rd), 0);
    assert_false(a.answered);
    /* second sighting 60 s later: the first one, its gap */
    rd.seen_now_ms = 1060000;
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_true(a.answered);
    assert_int_equal(a.prev_ms[2], 1000000);
    assert_int_equal(a.gap_ms[2], 60000);
    /* third, 20 s later: a new gap weighs a quarter */
    rd.seen_now_ms = 1080000;
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_int_equal(a.prev_ms[0], 1060000);
    assert_int_equal(a.gap_ms[0], (3 * 60000 + 20000) / 4);
    /* the end of a call: its value and the deployment that answered (2)
     * for the two shorter prefixes */
    void *data;
    struct fg_shared_val *v = fg_shared_val_new(5, &data);
    memcpy(data, "v\0lue", 5);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t wall = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    struct fg_shared_tell t = {.cache_ns = "unitcache",
                               .cache_key = key,
                               .val = v,
                               .expires_ms = wall + 60000,
                               .aff_ns = ns,
                               .aff = h,
                               .naff = 2,
                               .aff_dep = 2,
                               .aff_ttl_ms = 60000};
    s->ops->tell(s, &t);
    fg_shared_val_release(v);
    settle_loop(base);
    rd.seen_now_ms = 1090000;
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_non_null(a.cached);
    size_t n;
    const char *got = fg_shared_val_data(a.cached, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "v\0lue", 5);
    fg_shared_val_release(a.cached);
    assert_int_equal(a.aff_dep, 2); /* the longest prefix held: the second */
    /* a value in the cache: that call records no sighting */
    assert_int_equal(a.prev_ms[0], 1080000);
    rd.cache_key = NULL;
    rd.seen_now_ms = 1095000;
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_int_equal(a.prev_ms[0], 1080000);
    /* a value whose time is up is gone (PXAT) */
    t.naff = 0;
    clock_gettime(CLOCK_REALTIME, &now);
    t.expires_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 200;
    v = fg_shared_val_new(3, &data);
    memcpy(data, "old", 3);
    t.val = v;
    s->ops->tell(s, &t);
    fg_shared_val_release(v);
    settle_loop(base);
    sleep_ms(300);
    rd.cache_key = key;
    assert_int_equal(admit_riders(s, base, NULL, 0, &rd), -1);
    assert_null(a.cached);
    s->ops->loop_close(l);
    event_base_free(base);
    fg_shared_redis_close(s);
}

static void store_down_policies(void **state)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port()); /* nobody there */
    struct ctr b;
    ctr_init(&b, 1);
    struct fg_shared *closed = open_r(60000, false, url);
    struct fg_shared_step st = reserve(&b, 100, 60, 100, 0);
    assert_int_equal(closed->ops->counter_apply(closed, &st, 1, NULL), FG_SHARED_DOWN);
    /* a settlement cannot fail: lost from Redis, counted */
    struct fg_shared_step set = step(&b, 100, 100, 10, 0);
    assert_int_equal(closed->ops->counter_apply(closed, &set, 1, NULL), -1);
    struct fg_shared_redis_stats rs;
    fg_shared_redis_stats(closed, &rs);
    assert_true(rs.errors >= 1);
    assert_int_equal(rs.lost_settles, 1);
    fg_shared_redis_close(closed);

    struct fg_shared *local = open_r(60000, true, url);
    st = reserve(&b, 100, 60, 100, 0);
    assert_int_equal(local->ops->counter_apply(local, &st, 1, NULL), -1);
    assert_true(st.local); /* counted in process: its settlement stays here too */
    st = reserve(&b, 100, 60, 100, 0);
    struct fg_shared_denial d;
    assert_int_equal(local->ops->counter_apply(local, &st, 1, &d), 0);
    assert_int_equal(d.w.cell[0].v[1], 60);
    fg_shared_redis_stats(local, &rs);
    assert_int_equal(rs.local_applies, 2);
    fg_shared_redis_close(local);
}

static void url_checks(void **state)
{
    assert_null(fg_shared_redis_check_url("redis://localhost"));
    assert_null(fg_shared_redis_check_url("redis://:pw@10.0.0.1:6380/2"));
    assert_non_null(fg_shared_redis_check_url("http://localhost"));
    assert_non_null(fg_shared_redis_check_url("redis://"));
    assert_non_null(fg_shared_redis_check_url("redis://h:99999"));
    assert_non_null(fg_shared_redis_check_url("redis://h:6379/x"));
    struct fg_shared *s;
    char err[200];
    struct fg_shared_redis_opts o = {0};
    assert_int_equal(fg_shared_redis_open("redis://:s3cret@:1", &o, &s, err, sizeof err), -1);
    assert_null(strstr(err, "s3cret")); /* the URL is never echoed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_checks),
        cmocka_unit_test(lost_counters_refuse_until_seeded),
        cmocka_unit_test(checks_all_or_none_with_denial),
        cmocka_unit_test(rate_windows_slide),
        cmocka_unit_test(settle_twice_counts_once),
        cmocka_unit_test(expired_lease_is_given_back),
        cmocka_unit_test(async_apply_guard_and_cancel),
        cmocka_unit_test(riders_ride_the_admission),
        cmocka_unit_test(store_down_policies),
    };
    return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
