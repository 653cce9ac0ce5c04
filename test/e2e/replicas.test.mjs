// replicas.test.mjs — the combined setup of issue #19: three frugal
// processes on ONE Postgres (ledger and keys: keystore_pg) and ONE Redis
// (budgets, rate limits, revocation).
//
//  - 300 concurrent calls spread over the three against a small key
//    budget: spent <= budget + one call's reservation, every refusal a 429
//    naming the budget; the same after restarting all three;
//  - Redis restarted without persistence (empty): no call is admitted
//    against the lost counters; they are rebuilt from the Postgres ledger
//    (one replica does it) and the budget is refused again, on every
//    replica, with the ledger's spend;
//  - a key revoked through one replica is refused by the others on their
//    next call;
//  - Postgres stopped for 10 s under load over the three: every answered
//    call has exactly one ledger row afterwards, and the shared counter
//    agrees with the ledger;
//  - Redis stopped under load: fail_closed answers 503 naming it, /healthz
//    says so; when it comes back (empty) the counters are rebuilt and
//    calls flow again on every replica.
//
// Postgres comes from test/pg-run.sh (skipped loudly when not installed,
// unless FRUGAL_REQUIRE_PG=1), Redis from lib/redis.mjs.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { OpenAI, call, openai, rejectsWith, sleep, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { startRedis } from './lib/redis.mjs';

const MASTER = 'fg-replicas-master-77c2';
const user = (text) => [{ role: 'user', content: text }];
const NAMES = ['a', 'b', 'c'];
const pg = startPg();
const dir = tempDir('frugal-replicas-e2e-');

let redis, dsn;
const fr = {};
const keys = {};

const configOf = () => ({
  server: { workers: 2, master_key: MASTER },
  storage: dsn,
  redis: redis.url,
  budgets: { lease: '3s' },
  providers: [{ name: 'sim', type: 'sim' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }],
});

async function start(name) {
  // each its own working directory: its own ledger spool
  fr[name] = await startFrugal({ name: `frugal-replica-${name}`, config: configOf(), cwd: join(dir, name) });
  return fr[name];
}

async function makeKey(body) {
  const r = await call(fr.a, '/frugal/keys', { body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const oa = (name, key) => openai(fr[name], { apiKey: key, maxRetries: 0 });

/* The ledger's view of a key (one ledger: any replica answers for all). */
async function spendOf(key) {
  const s = await call(fr.a, '/frugal/spend?since=1h', { method: 'GET', key });
  assert.equal(s.status, 200, s.text);
  return s.json;
}

async function counterOf(name, id) {
  const v = await call(fr[name], `/frugal/keys/${id}`, { method: 'GET' });
  assert.equal(v.status, 200, v.text);
  return v.json.usage.budget;
}

describe('three replicas on one Postgres and one Redis', { skip: !pg && 'Postgres is not installed' }, () => {
  before(async () => {
    dsn = pg.createDb('replicas3');
    redis = await startRedis();
    for (const n of NAMES) mkdirSync(join(dir, n));
    for (const n of NAMES) await start(n);
    // keys made through replica a's admin API: the others read them from Postgres
    keys.tight = await makeKey({ name: 'tight', budget: '0.0003/day' });
    keys.victim = await makeKey({ name: 'victim' });
    keys.big = await makeKey({ name: 'big', budget: '100/day' });
  });

  after(async () => {
    for (const n of NAMES) await fr[n]?.stop();
    await redis?.cleanup();
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tightCall = (name) => oa(name, keys.tight.key).chat.completions.create({
    model: 'gpt-4o-mini',
    max_tokens: 100,
    messages: user('Count slowly. #sim:tokens=100 #sim:delay_ms=400'),
  });

  let spent; // the ledger's cost of the tight key after the burst (USD)

  test('300 concurrent calls over three replicas: spent <= budget + one reservation; the same after restarting all three', async () => {
    const BUDGET_PICO = 300_000_000n; // $0.000300
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => tightCall(NAMES[i % 3])));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r) => r.status === 'rejected');
    assert.ok(ok.length >= 1, 'some calls fit');
    let reservation = 0n;
    for (const { reason: e } of denied) {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
      assert.equal(e.code, 'budget_exceeded');
      assert.match(e.message, /daily budget of key 'tight' \(key_[0-9a-f]{12}\) is \$0\.000300/);
      const m = /may cost up to \$(\d+)\.(\d{6})/.exec(e.message);
      if (m) reservation = BigInt(m[1]) * 1_000_000_000_000n + BigInt(m[2]) * 1_000_000n;
    }
    assert.ok(reservation > 0n, 'a refusal names the call\'s reservation');
    const s = await waitFor(async () => {
      const j = await spendOf(keys.tight.key);
      return j.requests === 300 ? j : null;
    }, { timeoutMs: 20000, what: '300 ledger rows in Postgres' });
    assert.equal(s.errors, denied.length);
    spent = s.cost_usd;
    const pico = BigInt(Math.round(s.cost_usd * 1e6)) * 1_000_000n;
    assert.ok(pico > 0n && pico <= BUDGET_PICO + reservation,
      `spent ${pico} pico > budget ${BUDGET_PICO} + one reservation ${reservation}`);
    for (const n of NAMES) {
      const b = await counterOf(n, keys.tight.id);
      assert.equal(b.reserved_usd, '0.000000', n);
      assert.ok(Math.abs(Number(b.spent_usd) - spent) <= 1.5e-6, `${n}: counter ${b.spent_usd}, ledger ${spent}`);
    }
    // restarting every replica adds nothing: the counter is Redis's
    for (const n of NAMES) await fr[n].stop();
    for (const n of NAMES) await start(n);
    for (const n of NAMES) {
      const e = await rejectsWith(tightCall(n), OpenAI.RateLimitError, `after restart on ${n}`);
      assert.equal(e.code, 'budget_exceeded');
      const b = await counterOf(n, keys.tight.id);
      assert.ok(Math.abs(Number(b.spent_usd) - spent) <= 1.5e-6, `${n}: counter ${b.spent_usd}, ledger ${spent}`);
    }
  });

  test('Redis restarted empty: counters rebuilt from the Postgres ledger before admissions resume', async () => {
    assert.ok(spent > 0, 'runs after the burst above');
    await redis.stop();
    await redis.start(); // no persistence: every counter is gone
    // until the rebuild, a budgeted call meets budgets.on_store_down
    // (fail_closed: 503); never is it admitted against an empty counter
    for (const n of NAMES) {
      const e = await waitFor(async () => {
        const r = await tightCall(n).then(() => 'admitted', (x) => x);
        assert.notEqual(r, 'admitted', `${n} admitted a call against the lost counter`);
        if (r.status === 503) {
          assert.equal(r.code, 'budget_store_unavailable', `${r}`);
          return null;
        }
        return r;
      }, { timeoutMs: 20000, stepMs: 200, what: `the budget refused again on ${n}` });
      assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
      assert.equal(e.code, 'budget_exceeded');
    }
    for (const n of NAMES) {
      const b = await counterOf(n, keys.tight.id);
      assert.ok(Math.abs(Number(b.spent_usd) - spent) <= 1.5e-6, `${n}: counter ${b.spent_usd}, ledger ${spent}`);
    }
    // exactly one replica rebuilt them
    const rebuilt = NAMES.filter((n) => /counters rebuilt from the ledger/.test(fr[n].stderr()));
    assert.equal(rebuilt.length, 1, rebuilt.join());
  });

  test('a key revoked through one replica is refused by the others on their next call', async () => {
    for (const n of NAMES) {
      const r = await oa(n, keys.victim.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') });
      assert.equal(r.choices[0].message.role, 'assistant');
    }
    const rev = await call(fr.b, `/frugal/keys/${keys.victim.id}/revoke`, { body: {} });
    assert.equal(rev.status, 200, rev.text);
    for (const n of ['a', 'c']) {
      const e = await rejectsWith(
        oa(n, keys.victim.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') }),
        OpenAI.AuthenticationError, `revoked key on ${n}`);
      assert.equal(e.code, 'key_revoked');
    }
  });

  /* Calls of the big key over the three replicas until stop(): each
   * outcome (the ledger id when answered, else the error) in order. */
  function loadOf(text) {
    const out = [];
    let stopping = false;
    const one = async (n, i) => {
      const { response } = await oa(n, keys.big.key).chat.completions
        .create({ model: 'gpt-4o-mini', max_tokens: 16, messages: user(`${text} ${n} ${i} #sim:delay_ms=50`) })
        .withResponse();
      return response.headers.get('x-frugal-request-id');
    };
    const loops = [...NAMES, ...NAMES].map(async (n, k) => {
      for (let i = 0; !stopping; i++) out.push(await one(n, `${k}.${i}`).then((id) => ({ id }), (e) => ({ e })));
    });
    return { out, stop: async () => { stopping = true; await Promise.all(loops); } };
  }

  async function counterMatchesLedger() {
    const s = await spendOf(keys.big.key);
    for (const n of NAMES) {
      const b = await counterOf(n, keys.big.id);
      assert.equal(b.reserved_usd, '0.000000', n);
      assert.ok(Math.abs(Number(b.spent_usd) - s.cost_usd) <= 1.5e-6, `${n}: counter ${b.spent_usd}, ledger ${s.cost_usd}`);
    }
  }

  test('Postgres stopped 10 s under load: every answered call has exactly one ledger row', async () => {
    const load = loadOf('pg down');
    let answered;
    try {
      await waitFor(() => load.out.length >= 10, { timeoutMs: 10000, what: 'load running' });
      pg.pause();
      const from = load.out.length;
      await sleep(10000);
      assert.ok(load.out.slice(from).some((x) => x.id), 'calls were answered while Postgres was down');
      const h = (await call(fr.a, '/healthz', { method: 'GET' })).json;
      assert.equal(h.store.state, 'unreachable', JSON.stringify(h));
    } finally {
      pg.resume();
      await sleep(500);
      await load.stop();
    }
    const failed = load.out.filter((x) => !x.id);
    assert.deepEqual(failed.map((x) => `${x.e}`), [], 'no call failed while Postgres was down');
    answered = load.out.map((x) => x.id);
    assert.equal(new Set(answered).size, answered.length);
    const q = `SELECT count(*), count(DISTINCT id) FROM calls WHERE id IN (${answered.map((x) => `'${x}'`).join(',')})`;
    await waitFor(() => pg.sql('replicas3', q) === `${answered.length}|${answered.length}`, {
      timeoutMs: 30000,
      stepMs: 250,
      what: `all ${answered.length} answered calls in the ledger once (have ${pg.sql('replicas3', q)})`,
    });
    assert.equal(pg.sql('replicas3', 'SELECT count(*) FROM (SELECT id FROM calls GROUP BY id HAVING count(*) > 1) d'), '0');
    await counterMatchesLedger();
  });

  test('Redis stopped under load: 503 naming it, then recovery (counters rebuilt) when it is back', async () => {
    const load = loadOf('redis down');
    let answeredBeforeStop = 0;
    try {
      await waitFor(() => load.out.length >= 10, { timeoutMs: 10000, what: 'load running' });
      answeredBeforeStop = load.out.filter((x) => x.id).length;
      await redis.stop();
      const from = load.out.length;
      await waitFor(() => load.out.slice(from).some((x) => x.e), { timeoutMs: 10000, what: 'a refusal' });
      for (const n of NAMES) {
        const h = await waitFor(async () => {
          const j = (await call(fr[n], '/healthz', { method: 'GET' })).json;
          return j.redis?.state === 'unreachable' ? j : null;
        }, { timeoutMs: 10000, what: `${n}: /healthz names Redis unreachable` });
        assert.equal(h.status, 'ok');
      }
      await redis.start(); // empty: the counters are rebuilt from the ledger
      await waitFor(() => load.out.length > 12 && load.out.slice(-12).every((x) => x.id),
        { timeoutMs: 20000, stepMs: 100, what: 'calls answered again on every replica' });
    } finally {
      await load.stop();
      if (redis.proc.exitCode !== null || redis.proc.signalCode !== null) await redis.start();
    }
    for (const { e } of load.out.filter((x) => x.e)) {
      assert.ok(e instanceof OpenAI.APIError, `${e}`);
      assert.equal(e.status, 503, `${e}`);
      assert.equal(e.code, 'budget_store_unavailable', `${e}`);
    }
    // every answered call is in the one ledger, and the rebuilt counter agrees
    const ids = load.out.filter((x) => x.id).map((x) => x.id);
    const q = `SELECT count(DISTINCT id) FROM calls WHERE id IN (${ids.map((x) => `'${x}'`).join(',')})`;
    await waitFor(() => pg.sql('replicas3', q) === `${ids.length}`, { timeoutMs: 15000, what: 'answered calls in the ledger' });
    // the rebuilt counter: never below the ledger; above it by at most the
    // calls that ended around the outage (a settlement that reached the new
    // Redis for a call whose row the rebuild also read counts twice)
    const around = ids.slice(answeredBeforeStop);
    const aroundUsd = Number(pg.sql('replicas3',
      `SELECT COALESCE(SUM(cost_pico), 0) FROM calls WHERE id IN (${around.map((x) => `'${x}'`).join(',')})`)) / 1e12;
    const sp = await spendOf(keys.big.key);
    for (const n of NAMES) {
      const b = await counterOf(n, keys.big.id);
      assert.equal(b.reserved_usd, '0.000000', n);
      const c = Number(b.spent_usd);
      assert.ok(c >= sp.cost_usd - 1.5e-6 && c <= sp.cost_usd + aroundUsd + 1.5e-6,
        `${n}: counter ${c}, ledger ${sp.cost_usd}, calls around the outage ${aroundUsd}`);
    }
  });
});
