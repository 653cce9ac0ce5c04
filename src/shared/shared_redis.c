/* shared_redis.c — see shared_redis.h.
 *
 * One Lua script (APPLY) is the whole of counter_apply, so an admission is
 * one round trip and atomic in Redis; its arguments are built here, its
 * reply parsed here.  Money stays exact: adds go through HINCRBY (int64 in
 * Redis); only the checks compare sums as Lua numbers (doubles: exact up to
 * 2^53 pico-USD, about $9,000 per cell). */
#include "shared_redis.h"

#include "arena.h"
#include "assert.h"
#include "decimal.h"
#include "log.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ the script */

/* Written once the counters hold the ledger's spend (seed_done); a Redis
 * that lost its data has none.  SEEDING is the rebuild's claim (a lease: a
 * replica that dies rebuilding lets another take over). */
#define SEED_KEY "frugal:seeded"
#define SEEDING_KEY "frugal:seeding"
#define SEEDING_MS "60000"
#define UNSEEDED (-5) /* the script's answer then (never leaves this file) */

/* KEYS: per step i (1-based) the counter's hash, lease zset, lease hash;
 * then the guard's version key and the once key when used; then the seed
 * marker (SEED_KEY); then the riders' keys (an admission's, shared.h): the
 * cache's key when asked, the sightings', the affinity's (shortest prefix
 * first).
 * ARGV: now_ms, n, has_guard, has_once, lease_ms, then per step 13:
 * span keep_ms now_win win("" = the head) add0 add1 c0fields c0need c0limit
 * c1fields c1need c1limit lease(""= none); then, with riders: has_cache,
 * nseen, seen_now_ms, naff, sightings' keep_ms.  An applied admission's
 * reply goes on after its wins: the cache's value ("" none), prev and gap
 * per sighting, the affinity's deployment (-1 none).
 * Reply: {-1, win_1, …, win_n} applied; {-4} guarded; {-5} a checked
 * apply while the counters are not seeded (Redis lost them: they are
 * rebuilt from the ledger first); {step, check, head, w, v0, v1, …}
 * refused (step 0-based, the live cells oldest first).  Unchecked applies
 * (settlements, the rebuild's own adds) always go through: a call ending
 * during a rebuild may count twice, never not at all. */
static const char APPLY_LUA[] =
    "local now=tonumber(ARGV[1]) local n=tonumber(ARGV[2]) local nk=3*n\n"
    "for i=1,n do local o=5+(i-1)*13\n"
    "  if (tonumber(ARGV[o+9])>0 or tonumber(ARGV[o+12])>0)\n"
    "    and redis.call('EXISTS',KEYS[nk+tonumber(ARGV[3])+tonumber(ARGV[4])+1])==0 then\n"
    "    return {-5} end end\n"
    "if ARGV[3]=='1' then nk=nk+1 local v=redis.call('GET',KEYS[nk])\n"
    "  if v and v~='0' then return {-4} end end\n"
    "if ARGV[4]=='1' then nk=nk+1\n"
    "  if not redis.call('SET',KEYS[nk],'1','NX','PX',600000) then return {-1} end end\n"
    "local lease_ms=tonumber(ARGV[5]) local P=13\n"
    "local function fld(w,f) return string.format('%d:%d',w,f) end\n"
    "local function give(k,w,a,h,span)\n"
    "  if w<=h-span or w>h then return end\n"
    "  for f=0,1 do if a[f+1]~='0' then\n"
    "    local r=redis.call('HINCRBY',k,fld(w,f),'-'..a[f+1])\n"
    "    if r<0 then redis.call('HSET',k,fld(w,f),0) end end end end\n"
    "local heads={}\n"
    "for i=1,n do local o=5+(i-1)*P local k=KEYS[3*i-2]\n"
    "  local span=tonumber(ARGV[o+1]) local nw=tonumber(ARGV[o+3])\n"
    "  local h0=tonumber(redis.call('HGET',k,'h')) local h=h0\n"
    "  if not h or nw>h then h=nw end\n"
    "  if h0 and h>h0 then local lo=h0-span+1 local hi=math.min(h0,h-span)\n"
    "    if hi-lo>=span then lo=hi-span+1 end\n"
    "    for w=lo,hi do redis.call('HDEL',k,fld(w,0),fld(w,1)) end end\n"
    "  if h~=h0 then redis.call('HSET',k,'h',string.format('%d',h)) end\n"
    "  heads[i]=h\n"
    "  local lz,la=KEYS[3*i-1],KEYS[3*i]\n"
    "  for _,id in ipairs(redis.call('ZRANGEBYSCORE',lz,'-inf',now,'LIMIT',0,100)) do\n"
    "    local rec=redis.call('HGET',la,id)\n"
    "    if rec then local w,a0,a1=string.match(rec,'^(%d+):(%d+):(%d+)$')\n"
    "      if w then give(k,tonumber(w),{a0,a1},h,span) end redis.call('HDEL',la,id) end\n"
    "    redis.call('ZREM',lz,id) end end\n"
    "for i=1,n do local o=5+(i-1)*P local k=KEYS[3*i-2] local h=heads[i]\n"
    "  local span=tonumber(ARGV[o+1])\n"
    "  if tonumber(ARGV[o+9])>0 or tonumber(ARGV[o+12])>0 then\n"
    "    local fs={} for w=h-span+1,h do fs[#fs+1]=fld(w,0) fs[#fs+1]=fld(w,1) end\n"
    "    local v=redis.call('HMGET',k,unpack(fs)) local t={0,0}\n"
    "    for j=1,#v do if v[j] then t[2-(j%2)]=t[2-(j%2)]+tonumber(v[j]) end end\n"
    "    for c=0,1 do local fl=tonumber(ARGV[o+7+3*c]) local need=tonumber(ARGV[o+8+3*c])\n"
    "      local lim=tonumber(ARGV[o+9+3*c])\n"
    "      local used=((fl%2==1) and t[1] or 0)+((fl>=2) and t[2] or 0)\n"
    "      if lim>0 and used+need>lim then local r={i-1,c,h}\n"
    "        local m=0 for j=1,#v,2 do if v[j] or v[j+1] then\n"
    "          r[#r+1]=h-span+1+m r[#r+1]=tonumber(v[j] or '0') r[#r+1]=tonumber(v[j+1] or '0') end\n"
    "          m=m+1 end\n"
    "        return r end end end end\n"
    "local wins={-1}\n"
    "for i=1,n do local o=5+(i-1)*P local k,lz,la=KEYS[3*i-2],KEYS[3*i-1],KEYS[3*i]\n"
    "  local h=heads[i] local span=tonumber(ARGV[o+1]) local keep=ARGV[o+2]\n"
    "  local w=h if ARGV[o+4]~='' then w=tonumber(ARGV[o+4]) end\n"
    "  wins[#wins+1]=w\n"
    "  local a0,a1,lease=ARGV[o+5],ARGV[o+6],ARGV[o+13] local ok=true\n"
    "  local live=w>h-span and w<=h\n"
    "  if lease~='' then\n"
    "    if tonumber(a0)>0 or tonumber(a1)>0 then\n"
    "      if live then redis.call('HSET',la,lease,string.format('%d:%s:%s',w,a0,a1))\n"
    "        redis.call('ZADD',lz,now+lease_ms,lease)\n"
    "        redis.call('PEXPIRE',la,keep) redis.call('PEXPIRE',lz,keep) end\n"
    "    elseif redis.call('HDEL',la,lease)==1 then redis.call('ZREM',lz,lease)\n"
    "    else ok=false end end\n"
    "  if ok and live then for f=0,1 do local a=(f==0) and a0 or a1\n"
    "    if a~='0' then local r=redis.call('HINCRBY',k,fld(w,f),a)\n"
    "      if r<0 then redis.call('HSET',k,fld(w,f),0) end end end end\n"
    "  redis.call('PEXPIRE',k,keep) end\n"
    /* riders (admissions only): the cache's value, sightings, affinity */
    "local a=6+n*P if not ARGV[a] then return wins end\n"
    "local k=3*n+tonumber(ARGV[3])+tonumber(ARGV[4])+2 local hit=false\n"
    "if ARGV[a]=='1' then local v=redis.call('GET',KEYS[k]) k=k+1\n"
    "  if v then hit=true wins[#wins+1]=v else wins[#wins+1]='' end\n"
    "else wins[#wins+1]='' end\n"
    "local t=tonumber(ARGV[a+2]) local skeep=ARGV[a+4]\n"
    "for i=1,tonumber(ARGV[a+1]) do local sk=KEYS[k] k=k+1\n"
    "  local v=redis.call('HMGET',sk,'t','g') local cur=tonumber(v[1]) local g=tonumber(v[2]) or 0\n"
    "  local prev=0 if cur then prev=math.min(cur,t)\n"
    "    if not hit then local gap=t-prev\n"
    "      if g>0 then g=math.floor((3*g+gap)/4) else g=gap end end\n"
    "  else g=0 end\n"
    "  if not hit then\n"
    "    if not cur or t>cur then redis.call('HSET',sk,'t',string.format('%d',t)) end\n"
    "    redis.call('HSET',sk,'g',string.format('%d',g)) redis.call('PEXPIRE',sk,skeep) end\n"
    "  wins[#wins+1]=prev wins[#wins+1]=g end\n"
    "local na=tonumber(ARGV[a+3]) local dep=-1\n"
    "for i=na-1,0,-1 do local v=redis.call('GET',KEYS[k+i])\n"
    "  if v then dep=tonumber(v) break end end\n"
    "wins[#wins+1]=dep\n"
    "return wins\n";

/* The end of a call (fg_shared_tell), sent without waiting.  KEYS: the
 * cache's key when ARGV[1] is 1, then the affinity keys.  ARGV: has_cache,
 * value, expires (PXAT), naff, deployment, affinity TTL (PX). */
static const char TELL_LUA[] =
    "local k=1\n"
    "if ARGV[1]=='1' then redis.call('SET',KEYS[1],ARGV[2],'PXAT',ARGV[3]) k=2 end\n"
    "for i=0,tonumber(ARGV[4])-1 do redis.call('SET',KEYS[k+i],ARGV[5],'PX',ARGV[6]) end\n"
    "return 1\n";

/* KEYS[1] the counter; ARGV span, now_win.  Reply {head, w, v0, v1, …}. */
static const char READ_LUA[] =
    "local span=tonumber(ARGV[1]) local h=tonumber(redis.call('HGET',KEYS[1],'h'))\n"
    "local nw=tonumber(ARGV[2]) if not h or nw>h then h=nw end\n"
    "local r={h} for w=h-span+1,h do\n"
    "  local v=redis.call('HMGET',KEYS[1],string.format('%d:0',w),string.format('%d:1',w))\n"
    "  if v[1] or v[2] then r[#r+1]=w r[#r+1]=tonumber(v[1] or '0') r[#r+1]=tonumber(v[2] or "
    "'0') end end\n"
    "return r\n";

enum { S_APPLY, S_READ, S_TELL, NSCRIPT };
static const char *const SCRIPTS[NSCRIPT] = {APPLY_LUA, READ_LUA, TELL_LUA};

/* ------------------------------------------------------------- instance */

struct rloop;

struct rstate {
    struct fg_shared base;
    struct fg_shared_ops ops;
    char host[256];
    int port, db;
    char *password; /* owned; never logged */
    struct fg_shared_redis_opts o;
    char sha[NSCRIPT][41];
    pthread_mutex_t mu; /* sync and its (re)connection */
    redisContext *sync;
    uint64_t sync_retry_ns; /* after a failure, no new connection before this */
    atomic_uint_fast64_t errors, lost, local_applies;
    /* round-trip latency (send to reply, every command that got one) */
    atomic_uint_fast64_t rt_sum_ns, rt_bucket[FG_REDIS_RT_BUCKETS + 1]; /* last: +Inf */
    atomic_bool down_logged; /* one warning per outage, all threads */
    atomic_bool unseeded_logged;
};

struct rloop {
    struct rstate *s;
    struct event_base *base;
    redisAsyncContext *ac; /* NULL: not connected (reconnect_ev pending) */
    bool connected;
    int pending;                           /* commands sent, reply not yet seen */
    struct fg_shared_op *redo, *redo_tail; /* settlements to send again */
    int nredo;
    uint64_t progress_ns; /* last reply (or send when none was pending) */
    int backoff_ms;
    struct event *reconnect_ev, *watch_ev;
};

struct fg_shared_op {
    struct rloop *l;
    bool cancelled;
    bool ack_only;             /* an unchecked apply sent without waiting */
    bool once;                 /* ack_only: marked once, so it may be sent again */
    uint64_t sent_ns;          /* first sent (0: never): its once marker lives ONCE_MS */
    uint64_t last_send_ns;     /* this send (its reply's latency) */
    struct fg_shared_op *next; /* in the loop's redo list */
    fg_shared_done_fn done;
    void *arg;
    int n;
    struct fg_shared_step st[FG_SHARED_MAX_STEPS];
    /* riders asked (shared.h): their answers follow the wins in the reply */
    struct fg_shared_rider_answer *answer; /* NULL: none asked */
    int nseen;
};

static _Thread_local struct rloop *t_loop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rstate *rs(struct fg_shared *s)
{
    return (struct rstate *)s; /* base is the first member */
}

static void went_down(struct rstate *s, const char *why)
{
    atomic_fetch_add(&s->errors, 1);
    if (atomic_exchange(&s->down_logged, true))
        return;
    if (s->o.fail_local)
        fg_error("redis %s:%d unreachable (%s): budgets and rate limits are now counted PER "
                 "PROCESS (budgets.on_store_down: local) until it is back; replicas no longer "
                 "share them",
                 s->host, s->port, why);
    else
        fg_error("redis %s:%d unreachable (%s): calls of keys with budgets or rate limits are "
                 "refused with 503 (budgets.on_store_down: fail_closed) until it is back",
                 s->host, s->port, why);
}

static void came_back(struct rstate *s)
{
    if (atomic_exchange(&s->down_logged, false))
        fg_warn("redis %s:%d reachable again: budgets and rate limits are shared again", s->host,
                s->port);
}

const double fg_redis_rt_bounds[FG_REDIS_RT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005,
                                                        0.01,   0.025, 0.1,    0.5};

/* One reply's wait, sent at t0 (0: unknown, not counted). */
static void rt_note(struct rstate *s, uint64_t t0)
{
    if (!t0)
        return;
    uint64_t d = now_ns() - t0;
    int b = 0;
    while (b < FG_REDIS_RT_BUCKETS && (double)d > fg_redis_rt_bounds[b] * 1e9)
        b++;
    atomic_fetch_add(&s->rt_bucket[b], 1); /* cumulated when rendered */
    atomic_fetch_add(&s->rt_sum_ns, d);
}

/* A checked apply found the counters lost: the caller meets the store-down
 * policy until a rebuild (keys/keyreg.c, seed_claim) is done. */
static void note_unseeded(struct rstate *s)
{
    if (!atomic_exchange(&s->unseeded_logged, true))
        fg_error("redis %s:%d has no counters (restarted without persistence?): calls held to a "
                 "budget or rate limit meet budgets.on_store_down until they are rebuilt from "
                 "the ledger",
                 s->host, s->port);
}

/* ------------------------------------------------------------ arguments */

#define MAX_RIDER_ARGS (1 + 2 * FG_SHARED_MAX_SEEN + 5)
#define MAX_ARGS (8 + 3 * FG_SHARED_MAX_STEPS + 2 + 13 * FG_SHARED_MAX_STEPS + MAX_RIDER_ARGS)

struct cmd {
    int argc;
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
    char buf[MAX_ARGS * 48 + 4 * FG_SHARED_MAX_STEPS * 128 + MAX_RIDER_ARGS * 200];
    size_t used;
    bool once; /* marked once: safe to send again */
};

/* One per thread: hiredis copies a command out when it is queued. */
static _Thread_local struct cmd t_cmd;

/* An integer argument: the admission sends about 30 of them per call. */
static void arg_int(struct cmd *c, int64_t v)
{
    FG_ASSERT(c->argc < MAX_ARGS && sizeof c->buf - c->used > FG_DECIMAL_I64_MAX);
    char *p = c->buf + c->used;
    size_t k = fg_decimal_i64(p, v);
    p[k] = 0;
    c->argv[c->argc] = p;
    c->len[c->argc++] = k;
    c->used += k + 1;
}

/* A string argument: prefix then at most max bytes of name.  No printf on
 * this path: formatting was a measurable part of a keyed call's CPU. */
static void arg_str(struct cmd *c, const char *prefix, const char *name, size_t max)
{
    FG_ASSERT(c->argc < MAX_ARGS);
    size_t a = strlen(prefix), b = strnlen(name, max);
    FG_ASSERT(a + b < sizeof c->buf - c->used); /* names are bounded (counter name[96]) */
    char *p = c->buf + c->used;
    memcpy(p, prefix, a);
    memcpy(p + a, name, b);
    p[a + b] = 0;
    c->argv[c->argc] = p;
    c->len[c->argc++] = a + b;
    c->used += a + b + 1;
}

/* prefix and a lease id in 16 lower-case hex digits ("%016llx"). */
static void arg_hex16(struct cmd *c, const char *prefix, uint64_t v)
{
    char h[17];
    for (int i = 15; i >= 0; i--, v >>= 4)
        h[i] = "0123456789abcdef"[v & 15];
    h[16] = 0;
    arg_str(c, prefix, h, 16);
}

/* Sightings live this long after the last one: callers use those of the
 * last hour, and the smoothed gap survives a pause of that order. */
#define SEEN_KEEP_MS (4 * 3600 * 1000LL)

/* prefix, then "ns:" when ns is given, then the bytes p[0..n) in hex. */
static void hex_arg(struct cmd *c, const char *prefix, const char *ns, const uint8_t *p, size_t n)
{
    char key[160 + 65];
    size_t k = 0, a = strnlen(prefix, 60);
    memcpy(key, prefix, a);
    k = a;
    if (ns) {
        size_t b = strnlen(ns, 96);
        memcpy(key + k, ns, b);
        k += b;
        key[k++] = ':';
    }
    for (size_t i = 0; i < n && i < 32; i++) {
        key[k++] = "0123456789abcdef"[p[i] >> 4];
        key[k++] = "0123456789abcdef"[p[i] & 15];
    }
    key[k] = 0;
    arg_str(c, key, "", 0);
}

static void cache_key_arg(struct cmd *c, const char *ns, const uint8_t key[32])
{
    hex_arg(c, "frugal:rc:", ns ? ns : "", key, 32);
}

static void hash_key_arg(struct cmd *c, const char *prefix, const char *ns, uint64_t h)
{
    uint8_t be[8];
    for (int i = 7; i >= 0; i--, h >>= 8)
        be[i] = (uint8_t)(h & 0xff);
    hex_arg(c, prefix, ns, be, 8); /* "%016llx" */
}

/* The riders' keys, after the seed marker: the cache's, the sightings',
 * the affinity's (shortest prefix first). */
static void rider_keys(const struct fg_shared_riders *rd, struct cmd *c)
{
    FG_ASSERT(rd->nseen >= 0 && rd->nseen <= FG_SHARED_MAX_SEEN);
    FG_ASSERT(rd->naff >= 0 && rd->naff <= FG_SHARED_MAX_SEEN);
    if (rd->cache_key)
        cache_key_arg(c, rd->cache_ns, rd->cache_key);
    for (int i = 0; i < rd->nseen; i++)
        hash_key_arg(c, "frugal:s:", NULL, rd->seen[i]);
    for (int i = 0; i < rd->naff; i++)
        hash_key_arg(c, "frugal:af:", rd->aff_ns ? rd->aff_ns : "", rd->aff[i]);
}

/* EVALSHA APPLY over steps st[0..n) (none local). */
static void build_apply(const struct rstate *s, const struct fg_shared_step *st, int n,
                        const struct fg_shared_apply_opts *o, struct cmd *c)
{
    c->argc = 0;
    c->used = 0;
    /* a hold is released once: an apply that closes a lease is marked by
     * it, so sending the same settlement again (after a lost connection)
     * changes nothing */
    uint64_t lease_once = 0;
    for (int i = 0; i < n && !(o && o->once) && !lease_once; i++)
        if (st[i].lease && st[i].add[0] <= 0 && st[i].add[1] <= 0)
            lease_once = st[i].lease;
    bool guard = o && o->guard, once = (o && o->once) || lease_once;
    const struct fg_shared_riders *rd = o ? o->riders : NULL;
    int nrk = rd ? (rd->cache_key != NULL) + rd->nseen + rd->naff : 0;
    c->once = once;
    arg_str(c, "EVALSHA", "", 0);
    arg_str(c, "", s->sha[S_APPLY], 40);
    arg_int(c, 3 * n + guard + once + 1 + nrk);
    for (int i = 0; i < n; i++) {
        arg_str(c, "frugal:c:", st[i].c->name, sizeof st[i].c->name);
        arg_str(c, "frugal:lz:", st[i].c->name, sizeof st[i].c->name);
        arg_str(c, "frugal:la:", st[i].c->name, sizeof st[i].c->name);
    }
    if (guard)
        arg_str(c, "frugal:v:", o->guard, 120);
    if (o && o->once)
        arg_str(c, "frugal:once:", o->once, 64);
    else if (lease_once)
        arg_hex16(c, "frugal:once:", lease_once);
    arg_str(c, SEED_KEY, "", 0);
    if (rd)
        rider_keys(rd, c);
    arg_int(c, wall_ms());
    arg_int(c, n);
    arg_int(c, guard);
    arg_int(c, once);
    arg_int(c, s->o.lease_ms);
    for (int i = 0; i < n; i++) {
        const struct fg_shared_step *t = &st[i];
        arg_int(c, t->c->span);
        arg_int(c, t->c->keep_ms);
        arg_int(c, t->now_win);
        if (t->win == FG_SHARED_NOW)
            arg_str(c, "", "", 0);
        else
            arg_int(c, t->win);
        arg_int(c, t->add[0]);
        arg_int(c, t->add[1]);
        for (int k = 0; k < 2; k++) {
            arg_int(c, (int64_t)t->check[k].fields);
            arg_int(c, t->check[k].need);
            arg_int(c, t->check[k].limit);
        }
        if (t->lease)
            arg_hex16(c, "", t->lease);
        else
            arg_str(c, "", "", 0);
    }
    if (rd) {
        arg_int(c, rd->cache_key != NULL);
        arg_int(c, rd->nseen);
        arg_int(c, rd->seen_now_ms);
        arg_int(c, rd->naff);
        arg_int(c, SEEN_KEEP_MS);
    }
}

/* c in Redis's protocol (RESP), in the thread's buffer: hiredis's own
 * formatting (sdscatfmt per argument, then a copy) cost more than the
 * rest of the admission's send.  Returns its length. */
static _Thread_local char t_resp[sizeof t_cmd.buf + MAX_ARGS * (FG_DECIMAL_MAX + 6) + 32];

static size_t resp_of(const struct cmd *c)
{
    char *w = t_resp;
    *w++ = '*';
    w += fg_decimal_u64(w, (uint64_t)c->argc);
    *w++ = '\r';
    *w++ = '\n';
    for (int i = 0; i < c->argc; i++) {
        *w++ = '$';
        w += fg_decimal_u64(w, c->len[i]);
        *w++ = '\r';
        *w++ = '\n';
        memcpy(w, c->argv[i], c->len[i]);
        w += c->len[i];
        *w++ = '\r';
        *w++ = '\n';
    }
    FG_ASSERT((size_t)(w - t_resp) <= sizeof t_resp);
    return (size_t)(w - t_resp);
}

static int64_t int_of(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

/* The script's reply → counter_apply's result (wins into st, denial into
 * d), or FG_SHARED_DOWN when it is not a reply of the script. */
static int parse_apply(const redisReply *r, struct fg_shared_step *st, int n,
                       struct fg_shared_denial *d)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return FG_SHARED_DOWN;
    int64_t k = int_of(r->element[0]);
    if (k == FG_SHARED_GUARDED)
        return FG_SHARED_GUARDED;
    if (k == UNSEEDED)
        return UNSEEDED;
    if (k == -1) {
        /* a once-marked apply seen before answers {-1} alone: nothing to fill */
        for (int i = 0; i < n && (size_t)i + 1 < r->elements; i++)
            st[i].win = int_of(r->element[i + 1]);
        for (int i = 0; i < n; i++)
            if (st[i].win == FG_SHARED_NOW)
                st[i].win = st[i].now_win;
        return -1;
    }
    if (k < 0 || k >= n || r->elements < 3)
        return FG_SHARED_DOWN;
    if (d) {
        memset(d, 0, sizeof *d);
        d->step = (int)k;
        d->check = (int)int_of(r->element[1]);
        d->w.head = int_of(r->element[2]);
        for (size_t j = 3; j + 2 < r->elements + 0 && d->w.n < FG_SHARED_MAX_SPAN; j += 3) {
            struct fg_shared_cell *cl = &d->w.cell[d->w.n++];
            cl->win = int_of(r->element[j]);
            cl->v[0] = int_of(r->element[j + 1]);
            cl->v[1] = int_of(r->element[j + 2]);
        }
    }
    return (int)k;
}

/* ------------------------------------------------- the blocking connection */

static redisReply *sync_cmd(struct rstate *s, int argc, const char **argv, const size_t *len);

#define SETUP_REFUSED                                                                              \
    "the connection's setup was refused: AUTH with the URL's password, SELECT of its "             \
    "database or SCRIPT LOAD"

/* *why (when given) says what failed. */
static bool sync_connect(struct rstate *s, const char **why)
{
    if (why)
        *why = "not reachable";
    struct timeval tv = {FG_REDIS_TIMEOUT_MS / 1000, (FG_REDIS_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return false;
    }
    redisSetTimeout(c, tv);
    s->sync = c;
    /* AUTH, SELECT, the scripts (their SHA is known: computed at open) */
    bool ok = true;
    if (s->password) {
        const char *a[] = {"AUTH", s->password};
        size_t l[] = {4, strlen(s->password)};
        redisReply *r = redisCommandArgv(c, 2, a, l);
        ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
    }
    if (ok && s->db) {
        redisReply *r = redisCommand(c, "SELECT %d", s->db);
        ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
    }
    for (int i = 0; ok && i < NSCRIPT; i++) {
        redisReply *r = redisCommand(c, "SCRIPT LOAD %s", SCRIPTS[i]);
        ok = r && r->type == REDIS_REPLY_STRING;
        if (r)
            freeReplyObject(r);
    }
    if (!ok) {
        redisFree(c);
        s->sync = NULL;
        if (why)
            *why = SETUP_REFUSED;
    }
    return ok;
}

/* Under s->mu: one command, connecting first when needed; NULL when the
 * store cannot answer (the connection is dropped, the next call retries). */
static redisReply *sync_cmd(struct rstate *s, int argc, const char **argv, const size_t *len)
{
    /* a store that just failed fails the next callers at once: a hung
     * Redis must not cost every caller (an admin listing of many keys)
     * its own timeout */
    if (!s->sync && now_ns() < s->sync_retry_ns)
        return NULL;
    if (!s->sync && !sync_connect(s, NULL)) {
        s->sync_retry_ns = now_ns() + 1000000000ull;
        return NULL;
    }
    uint64_t t0 = now_ns();
    redisReply *r = redisCommandArgv(s->sync, argc, argv, len);
    if (!r && s->sync->err == REDIS_ERR_EOF) {
        /* the server closed an idle connection (Redis restarted): the
         * command never ran there, so the first caller after a restart (a
         * revocation's version bump) goes through a new one at once rather
         * than failing */
        redisFree(s->sync);
        s->sync = NULL;
        if (!sync_connect(s, NULL)) {
            s->sync_retry_ns = now_ns() + 1000000000ull;
            return NULL;
        }
        t0 = now_ns();
        r = redisCommandArgv(s->sync, argc, argv, len);
    }
    if (r && !s->sync->err)
        rt_note(s, t0);
    if (!r || s->sync->err || (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8))) {
        if (r)
            freeReplyObject(r);
        redisFree(s->sync);
        s->sync = NULL;
        s->sync_retry_ns = now_ns() + 1000000000ull;
        return NULL;
    }
    return r;
}

/* ---------------------------------------------------------- local applies */

static bool any_local(const struct fg_shared_step *st, int n)
{
    for (int i = 0; i < n; i++)
        if (st[i].local || !st[i].c->name[0]) /* an unnamed counter is this process's */
            return true;
    return false;
}

/* The counters' in-process cells (store down with `local`, or steps of a
 * hold taken that way). */
static int apply_local(struct rstate *s, struct fg_shared_step *st, int n,
                       struct fg_shared_denial *d)
{
    atomic_fetch_add(&s->local_applies, 1);
    int r = fg_shared_mem_ops.counter_apply(&s->base, st, n, d);
    for (int i = 0; i < n; i++)
        st[i].local = true;
    return r;
}

/* Checked steps the store could not answer: the policy. */
static int on_down(struct rstate *s, struct fg_shared_step *st, int n, struct fg_shared_denial *d)
{
    return s->o.fail_local ? apply_local(s, st, n, d) : FG_SHARED_DOWN;
}

/* Unchecked steps: split the local ones off, apply them in memory; true
 * when some remain for the store (moved to the front, *n their count). */
static bool split_local(struct rstate *s, struct fg_shared_step *st, int *n)
{
    int k = 0;
    struct fg_shared_step loc[FG_SHARED_MAX_STEPS * 2];
    int nl = 0;
    for (int i = 0; i < *n; i++) {
        if (st[i].local || !st[i].c->name[0])
            loc[nl++] = st[i];
        else
            st[k++] = st[i];
    }
    if (nl)
        apply_local(s, loc, nl, NULL);
    *n = k;
    return k > 0;
}

/* ------------------------------------------------------- the loop's link */

static void loop_connect(struct rloop *l);
static void redo_flush(struct rstate *s, struct rloop *l);
static void redo_later(struct rstate *s, struct rloop *l, struct fg_shared_op *op);

static void schedule_reconnect(struct rloop *l)
{
    if (!l->reconnect_ev || evtimer_pending(l->reconnect_ev, NULL))
        return;
    struct timeval tv = {l->backoff_ms / 1000, (l->backoff_ms % 1000) * 1000};
    evtimer_add(l->reconnect_ev, &tv);
    l->backoff_ms = l->backoff_ms * 2 > 2000 ? 2000 : l->backoff_ms * 2;
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    loop_connect(arg);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rloop *l = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        if (l->ac == ac) {
            l->ac = NULL;
            l->connected = false;
        }
        went_down(l->s, "connect failed");
        schedule_reconnect(l);
        return;
    }
    l->connected = true;
    l->backoff_ms = 100;
    redo_flush(l->s, l);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rloop *l = ac->data;
    if (l->ac == ac) {
        l->ac = NULL;
        l->connected = false;
    }
    if (status != REDIS_OK)
        went_down(l->s, "connection lost");
    schedule_reconnect(l);
}

/* Replies we do not read (AUTH, SELECT, SCRIPT LOAD): errors only count. */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rloop *l = ac->data;
    redisReply *r = reply;
    if (l->pending > 0)
        l->pending--;
    l->progress_ns = now_ns();
    if (r && r->type == REDIS_REPLY_ERROR) {
        /* a wrong password or database is a store we cannot use: fail as
         * when it is down, and say why (not Redis's text: an AUTH error
         * may quote what it was sent) */
        went_down(l->s, SETUP_REFUSED);
        if (l->ac == ac)
            redisAsyncDisconnect(ac);
    }
}

static bool sent(struct rloop *l, int rc)
{
    if (rc != REDIS_OK)
        return false;
    if (l->pending++ == 0)
        l->progress_ns = now_ns();
    return true;
}

static bool send_argv(struct rloop *l, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                      const size_t *len)
{
    return l->ac && sent(l, redisAsyncCommandArgv(l->ac, fn, priv, argc, argv, len));
}

/* The calls' commands, formatted here (resp_of). */
static bool send_cmd(struct rloop *l, redisCallbackFn *fn, void *priv, const struct cmd *c)
{
    return l->ac && sent(l, redisAsyncFormattedCommand(l->ac, fn, priv, t_resp, resp_of(c)));
}

static void loop_connect(struct rloop *l)
{
    struct rstate *s = l->s;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        went_down(s, "connect failed");
        schedule_reconnect(l);
        return;
    }
    ac->data = l;
    redisLibeventAttach(ac, l->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    /* queued before the connection completes; Redis runs them first */
    if (s->password) {
        const char *a[] = {"AUTH", s->password};
        size_t n[] = {4, strlen(s->password)};
        send_argv(l, on_setup_reply, NULL, 2, a, n);
    }
    char db[16];
    snprintf(db, sizeof db, "%d", s->db);
    const char *sel[] = {"SELECT", db};
    size_t seln[] = {6, strlen(db)};
    if (s->db)
        send_argv(l, on_setup_reply, NULL, 2, sel, seln);
    for (int i = 0; i < NSCRIPT; i++) {
        const char *a[] = {"SCRIPT", "LOAD", SCRIPTS[i]};
        size_t n[] = {6, 4, strlen(SCRIPTS[i])};
        send_argv(l, on_setup_reply, NULL, 3, a, n);
    }
}

/* A command without a reply for too long (Redis stopped, a partition):
 * drop the connection, so its calls meet the policy now. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct rloop *l = arg;
    if (l->ac && l->pending > 0 && now_ns() - l->progress_ns > FG_REDIS_TIMEOUT_MS * 1000000ull) {
        went_down(l->s, "no reply in time");
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        l->connected = false;
        redisAsyncFree(ac); /* every pending callback runs with no reply */
        l->pending = 0;
        schedule_reconnect(l);
    }
}

/* ------------------------------------------------------------ async apply */

static void undo(struct rstate *s, struct fg_shared_op *op);
static void parse_riders(const redisReply *r, struct fg_shared_op *op);

static void on_apply_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fg_shared_op *op = priv;
    struct rloop *l = op->l;
    struct rstate *s = l->s;
    if (l->pending > 0)
        l->pending--;
    l->progress_ns = now_ns();
    redisReply *r = reply;
    if (r)
        rt_note(s, op->last_send_ns);
    if (op->ack_only) {
        if (!r) { /* maybe applied, maybe not: once-marked ones go again */
            went_down(s, "connection lost");
            redo_later(s, l, op);
            return;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fg_error("redis %s:%d: a settlement failed: %.200s", s->host, s->port, r->str);
            if (!strncmp(r->str, "NOSCRIPT", 8) && l->ac)
                redisAsyncDisconnect(l->ac); /* scripts flushed: reconnect, load them again */
            atomic_fetch_add(&s->lost, 1);
        } else {
            came_back(s);
        }
        free(op);
        return;
    }
    struct fg_shared_denial d;
    int res = parse_apply(r, op->st, op->n, &d);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && l->ac)
        redisAsyncDisconnect(l->ac); /* scripts flushed: reconnect, load them again */
    if (res == UNSEEDED) {
        note_unseeded(s);
        res = op->cancelled ? FG_SHARED_DOWN : on_down(s, op->st, op->n, &d);
    } else if (res == FG_SHARED_DOWN) {
        if (r && r->type == REDIS_REPLY_ERROR)
            fg_error("redis %s:%d: the budget script failed: %.200s", s->host, s->port, r->str);
        went_down(s, r ? "error reply" : "connection lost");
        res = op->cancelled ? FG_SHARED_DOWN : on_down(s, op->st, op->n, &d);
    } else {
        came_back(s);
    }
    if (op->cancelled) {
        if (res == -1)
            undo(s, op); /* the caller left: give back what it just held */
        free(op);
        return;
    }
    if (op->answer && res == -1 && !any_local(op->st, op->n))
        parse_riders(r, op);
    op->done(op->arg, res, op->st, op->n, &d);
    free(op);
}

/* The riders' answers after {-1, win_1..win_n}: the cache's value ("" for
 * none), prev and gap per sighting, the affinity's deployment. */
static void parse_riders(const redisReply *r, struct fg_shared_op *op)
{
    struct fg_shared_rider_answer *a = op->answer;
    size_t at = 1 + (size_t)op->n;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != at + 2 + 2 * (size_t)op->nseen)
        return; /* answered stays false: the caller falls back */
    const redisReply *v = r->element[at++];
    if (v->type == REDIS_REPLY_STRING && v->len > 0) {
        void *data;
        a->cached = fg_shared_val_new(v->len, &data);
        memcpy(data, v->str, v->len);
    }
    for (int i = 0; i < op->nseen; i++) {
        a->prev_ms[i] = int_of(r->element[at++]);
        a->gap_ms[i] = int_of(r->element[at++]);
    }
    a->aff_dep = (int)int_of(r->element[at]);
    a->answered = true;
}

#define MAX_REDO 100000 /* settlements kept for a reconnect, per loop */
#define ONCE_MS 600000  /* the script's once marker lives this long */

/* A settlement that did not reach Redis and is safe to send again (marked
 * once): kept for the next connection, else lost. */
static void redo_later(struct rstate *s, struct rloop *l, struct fg_shared_op *op)
{
    if (!op->once || l->nredo >= MAX_REDO) {
        atomic_fetch_add(&s->lost, 1); /* its lease gives the hold back; its cost is lost */
        free(op);
        return;
    }
    op->next = NULL;
    *(l->redo_tail ? &l->redo_tail->next : &l->redo) = op;
    l->redo_tail = op;
    l->nredo++;
}

static bool send_op(struct rstate *s, struct rloop *l, struct fg_shared_op *op)
{
    build_apply(s, op->st, op->n, NULL, &t_cmd);
    op->once = t_cmd.once;
    if (!send_cmd(l, on_apply_reply, op, &t_cmd))
        return false;
    op->last_send_ns = now_ns();
    if (!op->sent_ns)
        op->sent_ns = op->last_send_ns;
    return true;
}

/* Unchecked steps sent without waiting (or kept to send again). */
static void post(struct rstate *s, struct rloop *l, const struct fg_shared_step *st, int n)
{
    FG_ASSERT(n > 0 && n <= FG_SHARED_MAX_STEPS);
    struct fg_shared_op *op = fg_xcalloc(1, sizeof *op);
    op->l = l;
    op->ack_only = true;
    op->n = n;
    memcpy(op->st, st, (size_t)n * sizeof *st);
    if (!send_op(s, l, op))
        redo_later(s, l, op);
}

/* A new connection: what waited goes first. */
static void redo_flush(struct rstate *s, struct rloop *l)
{
    while (l->redo) {
        struct fg_shared_op *op = l->redo;
        /* sent before, its reply lost, and its once marker maybe gone by
         * now: sending it again could count it twice */
        bool stale = op->sent_ns && now_ns() - op->sent_ns > ONCE_MS / 2 * 1000000ull;
        if (!stale && !send_op(s, l, op))
            return;
        l->redo = op->next;
        if (!l->redo)
            l->redo_tail = NULL;
        l->nredo--;
        if (stale) {
            atomic_fetch_add(&s->lost, 1);
            free(op);
        }
    }
}

static void undo(struct rstate *s, struct fg_shared_op *op)
{
    struct fg_shared_step st[FG_SHARED_MAX_STEPS];
    int n = op->n;
    for (int i = 0; i < n; i++) {
        st[i] = op->st[i];
        st[i].add[0] = -st[i].add[0];
        st[i].add[1] = -st[i].add[1];
        st[i].check[0].limit = st[i].check[1].limit = 0;
    }
    if (split_local(s, st, &n))
        post(s, op->l, st, n); /* lost with no link: the lease gives budgets back */
}

static int r_apply_async(struct fg_shared *sh, struct fg_shared_step *st, int n,
                         const struct fg_shared_apply_opts *o, struct fg_shared_denial *d,
                         fg_shared_done_fn done, void *arg, struct fg_shared_op **out)
{
    struct rstate *s = rs(sh);
    struct rloop *l = t_loop;
    *out = NULL;
    FG_ASSERT(n >= 0 && n <= FG_SHARED_MAX_STEPS);
    if (n == 0 && !(o && (o->guard || o->riders)))
        return -1;
    if (any_local(st, n))
        return apply_local(s, st, n, d);
    if (!l || !l->ac) {
        if (l)
            went_down(s, "not connected");
        return on_down(s, st, n, d);
    }
    struct fg_shared_op *op = fg_xcalloc(1, sizeof *op);
    op->l = l;
    op->done = done;
    op->arg = arg;
    op->n = n;
    if (n)
        memcpy(op->st, st, (size_t)n * sizeof *st);
    if (o && o->riders) {
        op->answer = o->riders->answer;
        op->nseen = o->riders->nseen;
        op->answer->answered = false;
        op->answer->cached = NULL;
        op->answer->aff_dep = -1;
    }
    build_apply(s, st, n, o, &t_cmd);
    if (!send_cmd(l, on_apply_reply, op, &t_cmd)) {
        free(op);
        went_down(s, "cannot send");
        return on_down(s, st, n, d);
    }
    op->last_send_ns = now_ns();
    *out = op;
    return FG_SHARED_PENDING;
}

static void r_op_cancel(struct fg_shared_op *op)
{
    if (op)
        op->cancelled = true; /* freed when its reply (or the disconnect) comes */
}

/* ------------------------------------------------------------------ tell */

/* A tell's reply: nothing waits for it; a failure only counts. */
static void on_tell_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rloop *l = ac->data;
    redisReply *r = reply;
    if (l->pending > 0)
        l->pending--;
    l->progress_ns = now_ns();
    if (!r || r->type == REDIS_REPLY_ERROR) {
        atomic_fetch_add(&l->s->errors, 1);
        if (r && !strncmp(r->str, "NOSCRIPT", 8) && l->ac == ac)
            redisAsyncDisconnect(ac); /* scripts flushed: reconnect, load them again */
    }
}

static void r_tell(struct fg_shared *sh, const struct fg_shared_tell *t)
{
    struct rstate *s = rs(sh);
    struct rloop *l = t_loop;
    bool has_cache = t->cache_key && t->val && t->expires_ms > wall_ms();
    int naff = t->aff_dep >= 0 && t->aff_ttl_ms > 0 ? t->naff : 0;
    FG_ASSERT(naff >= 0 && naff <= FG_SHARED_MAX_SEEN);
    /* only a worker tells (its loop's link): nothing else may wait on it,
     * and with no link what it says is simply not kept (a cache miss) */
    if (!l || l->s != s || !l->ac || (!has_cache && naff == 0))
        return;
    struct cmd *c = &t_cmd;
    c->argc = 0;
    c->used = 0;
    arg_str(c, "EVALSHA", "", 0);
    arg_str(c, "", s->sha[S_TELL], 40);
    arg_int(c, has_cache + naff);
    if (has_cache)
        cache_key_arg(c, t->cache_ns, t->cache_key);
    for (int i = 0; i < naff; i++)
        hash_key_arg(c, "frugal:af:", t->aff_ns ? t->aff_ns : "", t->aff[i]);
    arg_int(c, has_cache);
    size_t vlen = 0;
    const void *v = has_cache ? fg_shared_val_data(t->val, &vlen) : "";
    c->argv[c->argc] = v; /* the value's own bytes: hiredis copies them */
    c->len[c->argc++] = vlen;
    arg_int(c, has_cache ? t->expires_ms : 0);
    arg_int(c, naff);
    arg_int(c, t->aff_dep);
    arg_int(c, t->aff_ttl_ms);
    if (!send_argv(l, on_tell_reply, NULL, c->argc, c->argv, c->len))
        atomic_fetch_add(&s->errors, 1);
}

/* ------------------------------------------------------------ sync apply */

static bool unchecked(const struct fg_shared_step *st, int n)
{
    for (int i = 0; i < n; i++)
        if (st[i].check[0].limit > 0 || st[i].check[1].limit > 0)
            return false;
    return true;
}

static int r_apply(struct fg_shared *sh, struct fg_shared_step *st, int n,
                   struct fg_shared_denial *d)
{
    struct rstate *s = rs(sh);
    FG_ASSERT(n >= 0 && n <= FG_SHARED_MAX_STEPS);
    if (n == 0)
        return -1;
    bool free_run = unchecked(st, n);
    if (free_run) {
        /* settlement: local steps in memory, the rest to the store */
        if (!split_local(s, st, &n))
            return -1;
        for (int i = 0; i < n; i++)
            if (st[i].win == FG_SHARED_NOW)
                st[i].win = st[i].now_win; /* (a settle names its window) */
        if (t_loop && t_loop->s == s) {    /* a worker: never wait */
            post(s, t_loop, st, n);
            return -1;
        }
    } else if (any_local(st, n)) {
        return apply_local(s, st, n, d);
    }
    build_apply(s, st, n, NULL, &t_cmd);
    pthread_mutex_lock(&s->mu);
    redisReply *r = sync_cmd(s, t_cmd.argc, t_cmd.argv, t_cmd.len);
    pthread_mutex_unlock(&s->mu);
    int res = parse_apply(r, st, n, d);
    if (res == UNSEEDED) {
        note_unseeded(s);
        res = on_down(s, st, n, d);
    } else if (res == FG_SHARED_DOWN) {
        went_down(s, r ? "error reply" : "not reachable");
        if (free_run)
            atomic_fetch_add(&s->lost, 1);
        res = free_run ? -1 : on_down(s, st, n, d);
    } else {
        came_back(s);
    }
    if (r)
        freeReplyObject(r);
    return res;
}

static void r_read(struct fg_shared *sh, struct fg_shared_counter *ctr, int64_t now_win,
                   struct fg_shared_window *w)
{
    struct rstate *s = rs(sh);
    memset(w, 0, sizeof *w);
    w->head = now_win;
    if (!ctr->name[0]) {
        fg_shared_mem_ops.counter_read(sh, ctr, now_win, w);
        return;
    }
    char key[128], span[24], nw[24];
    snprintf(key, sizeof key, "frugal:c:%s", ctr->name);
    snprintf(span, sizeof span, "%lld", (long long)ctr->span);
    snprintf(nw, sizeof nw, "%lld", (long long)now_win);
    const char *a[] = {"EVALSHA", s->sha[S_READ], "1", key, span, nw};
    size_t l[6];
    for (int i = 0; i < 6; i++)
        l[i] = strlen(a[i]);
    pthread_mutex_lock(&s->mu);
    redisReply *r = sync_cmd(s, 6, a, l);
    pthread_mutex_unlock(&s->mu);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        w->head = int_of(r->element[0]);
        for (size_t j = 1; j + 2 < r->elements + 0 && w->n < FG_SHARED_MAX_SPAN; j += 3) {
            w->cell[w->n].win = int_of(r->element[j]);
            w->cell[w->n].v[0] = int_of(r->element[j + 1]);
            w->cell[w->n++].v[1] = int_of(r->element[j + 2]);
        }
    } else {
        went_down(s, "not reachable"); /* the in-process view: what `local` counted */
        fg_shared_mem_ops.counter_read(sh, ctr, now_win, w);
    }
    if (r)
        freeReplyObject(r);
}

static void r_reset(struct fg_shared *sh, struct fg_shared_counter *c)
{
    /* the in-process ring only: other processes' counts stay in Redis */
    fg_shared_mem_ops.counter_reset(sh, c);
}

/* -------------------------------------------------------------- versions */

static uint64_t version_cmd(struct fg_shared *sh, const char *verb, const char *name)
{
    struct rstate *s = rs(sh);
    char key[160];
    snprintf(key, sizeof key, "frugal:v:%.140s", name);
    const char *a[] = {verb, key};
    size_t l[] = {strlen(verb), strlen(key)};
    pthread_mutex_lock(&s->mu);
    redisReply *r = sync_cmd(s, 2, a, l);
    pthread_mutex_unlock(&s->mu);
    uint64_t v = 0;
    if (r && (r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_STRING))
        v = (uint64_t)int_of(r);
    else if (!r || r->type == REDIS_REPLY_ERROR)
        went_down(s, "not reachable");
    if (r)
        freeReplyObject(r);
    return v;
}

static uint64_t r_version_bump(struct fg_shared *sh, const char *name)
{
    return version_cmd(sh, "INCR", name);
}

static uint64_t r_version_get(struct fg_shared *sh, const char *name)
{
    return version_cmd(sh, "GET", name);
}

/* ------------------------------------------------------------- marks */

static int r_mark_once(struct fg_shared *sh, const char *name, int64_t ttl_ms, int64_t now_ms)
{
    (void)now_ms; /* Redis keeps its own time for PX */
    struct rstate *s = rs(sh);
    char key[240], px[24];
    snprintf(key, sizeof key, "frugal:m:%s", name);
    snprintf(px, sizeof px, "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    const char *a[] = {"SET", key, "1", "NX", "PX", px};
    size_t l[6];
    for (int i = 0; i < 6; i++)
        l[i] = strlen(a[i]);
    pthread_mutex_lock(&s->mu);
    redisReply *r = sync_cmd(s, 6, a, l);
    pthread_mutex_unlock(&s->mu);
    int res = !r                              ? -1
              : r->type == REDIS_REPLY_STATUS ? 1 /* OK: set now */
              : r->type == REDIS_REPLY_NIL    ? 0 /* set before */
                                              : -1;
    if (r)
        freeReplyObject(r);
    return res;
}

/* ------------------------------------------------------------- the seed */

/* KEYS seeded, seeding; ARGV the claim's lease.  0 seeded, 1 claimed, -1
 * another process holds the claim. */
static const char CLAIM_LUA[] =
    "if redis.call('EXISTS',KEYS[1])==1 then return 0 end\n"
    "if redis.call('SET',KEYS[2],'1','NX','PX',ARGV[1]) then return 1 end\n"
    "return -1\n";

static int r_seed_claim(struct fg_shared *sh)
{
    struct rstate *s = rs(sh);
    const char *a[] = {"EVAL", CLAIM_LUA, "2", SEED_KEY, SEEDING_KEY, SEEDING_MS};
    size_t l[6];
    for (int i = 0; i < 6; i++)
        l[i] = strlen(a[i]);
    pthread_mutex_lock(&s->mu);
    redisReply *r = sync_cmd(s, 6, a, l);
    pthread_mutex_unlock(&s->mu);
    int res = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (r)
        freeReplyObject(r);
    if (res == 0 && atomic_exchange(&s->unseeded_logged, false))
        fg_warn("redis %s:%d: counters rebuilt (by another replica): budgets are checked again",
                s->host, s->port);
    return res;
}

static void r_seed_done(struct fg_shared *sh, bool ok)
{
    struct rstate *s = rs(sh);
    const char *a[] = {"SET", SEED_KEY, "1"};
    const char *d[] = {"DEL", SEEDING_KEY};
    size_t l[] = {3, strlen(SEED_KEY), 1};
    size_t dl[] = {3, strlen(SEEDING_KEY)};
    pthread_mutex_lock(&s->mu);
    redisReply *r = ok ? sync_cmd(s, 3, a, l) : NULL;
    if (r)
        freeReplyObject(r);
    r = sync_cmd(s, 2, d, dl);
    if (r)
        freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        return;
    atomic_store(&s->unseeded_logged, false);
    fg_warn("redis %s:%d: counters rebuilt from the ledger: budgets are checked again", s->host,
            s->port);
}

/* ----------------------------------------------------------------- loops */

static struct fg_shared_loop *r_loop_open(struct fg_shared *sh, struct event_base *base)
{
    struct rloop *l = fg_xcalloc(1, sizeof *l);
    l->s = rs(sh);
    l->base = base;
    l->backoff_ms = 100;
    l->reconnect_ev = evtimer_new(base, on_reconnect, l);
    l->watch_ev = event_new(base, -1, EV_PERSIST, on_watch, l);
    struct timeval tv = {0, 250 * 1000};
    event_add(l->watch_ev, &tv);
    FG_ASSERT(!t_loop); /* one loop per thread */
    t_loop = l;
    loop_connect(l);
    return (struct fg_shared_loop *)l;
}

static void r_loop_close(struct fg_shared_loop *fl)
{
    struct rloop *l = (struct rloop *)fl;
    FG_ASSERT(t_loop == l); /* on its own thread */
    /* settlements still on the wire get a moment to land (the loop has
     * stopped serving; only Redis's events remain to run) */
    uint64_t end = now_ns() + 1000000000ull;
    while (l->ac && l->pending > 0 && now_ns() < end)
        event_base_loop(l->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    event_free(l->watch_ev);
    event_free(l->reconnect_ev);
    l->watch_ev = l->reconnect_ev = NULL; /* disconnect callbacks schedule nothing */
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac); /* callbacks without a reply may queue more below */
    }
    if (l->nredo)
        fg_warn("redis %s:%d: %d settlement(s) could not be sent before shutdown; their holds "
                "expire with their leases",
                l->s->host, l->s->port, l->nredo);
    while (l->redo) {
        struct fg_shared_op *op = l->redo;
        l->redo = op->next;
        atomic_fetch_add(&l->s->lost, 1);
        free(op);
    }
    t_loop = NULL;
    free(l);
}

/* ------------------------------------------------------------------ open */

const char *fg_shared_redis_check_url(const char *url)
{
    if (strncmp(url, "redis://", 8) != 0)
        return "must be redis://host[:port][/db] (a password goes before the host: :PASSWORD@)";
    const char *p = url + 8, *at = strrchr(p, '@');
    const char *host = at ? at + 1 : p;
    size_t hl = strcspn(host, ":/");
    if (hl == 0 || hl >= 256)
        return "has no host (redis://host:port)";
    const char *q = host + hl;
    if (*q == ':') {
        char *e;
        long port = strtol(q + 1, &e, 10);
        if (e == q + 1 || port < 1 || port > 65535 || (*e && *e != '/'))
            return "has a bad port";
        q = e;
    }
    if (*q == '/' && q[1]) {
        char *e;
        long db = strtol(q + 1, &e, 10);
        if (*e || db < 0 || db > 1000)
            return "has a bad database number (redis://host:port/0)";
    }
    return NULL;
}

static void parse_url(struct rstate *s, const char *url)
{
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        /* [user]:password@ — the user part (ACL) is not used */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (at > pw) {
            size_t n = (size_t)(at - pw);
            s->password = fg_xmalloc(n + 1);
            memcpy(s->password, pw, n);
            s->password[n] = 0;
        }
    }
    const char *host = at ? at + 1 : p;
    size_t hl = strcspn(host, ":/");
    snprintf(s->host, sizeof s->host, "%.*s", (int)hl, host);
    s->port = 6379;
    const char *q = host + hl;
    if (*q == ':')
        s->port = (int)strtol(q + 1, (char **)&q, 10);
    if (*q == '/' && q[1])
        s->db = (int)strtol(q + 1, NULL, 10);
}

int fg_shared_redis_open(const char *url, const struct fg_shared_redis_opts *o,
                         struct fg_shared **out, char *err, size_t errlen)
{
    const char *bad = fg_shared_redis_check_url(url);
    if (bad) {
        snprintf(err, errlen, "redis: the URL %s", bad); /* never the URL itself */
        return -1;
    }
    struct rstate *s = fg_xcalloc(1, sizeof *s);
    parse_url(s, url);
    s->o = *o;
    if (s->o.lease_ms <= 0)
        s->o.lease_ms = 3600 * 1000;
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < NSCRIPT; i++) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)SCRIPTS[i], strlen(SCRIPTS[i]), md);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            snprintf(&s->sha[i][2 * k], 3, "%02x", md[k]);
    }
    s->ops = fg_shared_mem_ops; /* direct cache ops and seen(): the riders' fallbacks */
    s->ops.scheme = "redis";
    s->ops.cross_process = true;
    s->ops.counter_reset = r_reset;
    s->ops.counter_apply = r_apply;
    s->ops.counter_read = r_read;
    s->ops.counter_apply_async = r_apply_async;
    s->ops.op_cancel = r_op_cancel;
    s->ops.loop_open = r_loop_open;
    s->ops.loop_close = r_loop_close;
    s->ops.version_bump = r_version_bump;
    s->ops.version_get = r_version_get;
    s->ops.seed_claim = r_seed_claim;
    s->ops.seed_done = r_seed_done;
    s->ops.mark_once = r_mark_once;
    s->ops.tell = r_tell;
    s->base.ops = &s->ops;
    pthread_mutex_lock(&s->mu);
    const char *why;
    bool up = sync_connect(s, &why);
    pthread_mutex_unlock(&s->mu);
    if (up)
        fg_info("redis %s:%d: budgets, rate limits, key revocations and the caches are shared",
                s->host, s->port);
    else
        went_down(s, why);
    *out = &s->base;
    return 0;
}

void fg_shared_redis_close(struct fg_shared *sh)
{
    if (!sh)
        return;
    struct rstate *s = rs(sh);
    if (s->sync)
        redisFree(s->sync);
    pthread_mutex_destroy(&s->mu);
    free(s->password);
    free(s);
}

void fg_shared_redis_stats(struct fg_shared *sh, struct fg_shared_redis_stats *st)
{
    struct rstate *s = rs(sh);
    st->errors = atomic_load(&s->errors);
    st->lost_settles = atomic_load(&s->lost);
    st->local_applies = atomic_load(&s->local_applies);
    st->up = !atomic_load(&s->down_logged);
    st->rt_sum_s = (double)atomic_load(&s->rt_sum_ns) / 1e9;
    /* the count is the buckets' sum, so +Inf and the buckets always agree */
    st->rt_count = 0;
    for (int b = 0; b <= FG_REDIS_RT_BUCKETS; b++) {
        uint64_t k = atomic_load(&s->rt_bucket[b]);
        if (b < FG_REDIS_RT_BUCKETS)
            st->rt_bucket[b] = k;
        st->rt_count += k;
    }
}

struct fg_shared *fg_shared_redis_of(struct fg_shared *s)
{
    return s && s->ops->scheme && !strcmp(s->ops->scheme, "redis") ? s : NULL;
}
