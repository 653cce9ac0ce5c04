// redis.test.mjs — three frugal replicas on one Redis (issue #19): one
// budget across all of them under 300 concurrent calls, a key revoked
// through one replica refused by the others on their next call, a replica
// killed with SIGKILL whose hold expires (a lease), and Redis stopped under
// load (budgets.on_store_down: fail_closed → 503 naming the cause, then
// recovery when it is back).
//
// Each replica has its own SQLite ledger and key store: the keys are made
// once with `frugal keys create` and the database file copied to the other
// two before they start (same ids and secrets everywhere).  A revocation
// then reaches the other replicas only through Redis (their own stores
// still say "active"), which is what the revocation test checks.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  noteSecrets,
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  runFrugal,
  startFrugal,
  tempDir,
  test,
  waitFor,
  writeConfig,
} from './lib/frugal.mjs';
import { startRedis } from './lib/redis.mjs';
import { cliKey, copyStore } from './lib/replicas.mjs';

const MASTER = 'fg-redis-master-5d1a';
const user = (text) => [{ role: 'user', content: text }];
const dir = tempDir('frugal-redis-e2e-');
const NAMES = ['a', 'b', 'c'];
const LOCAL = 'd'; // a fourth replica, started only while Redis is down

let redis;
const fr = {};
const keys = {};

const configOf = (name) => ({
  server: { workers: 2, master_key: MASTER },
  storage: `sqlite:${join(dir, name, 'frugal.db')}`,
  redis: redis.url,
  budgets: { lease: '3s' },
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
    { name: 'omni-moderation-latest', provider: 'sim' },
  ],
});

async function start(name) {
  fr[name] = await startFrugal({ name: `frugal-redis-${name}`, config: configOf(name), cwd: join(dir, name) });
  return fr[name];
}

const makeKey = (cfgFile, ...args) => cliKey(cfgFile, join(dir, 'a'), ...args);

before(async () => {
  redis = await startRedis();
  for (const n of [...NAMES, LOCAL]) mkdirSync(join(dir, n));
  // the keys, made once in a's store, then the same store copied to b and c
  const cfgA = writeConfig({ ...configOf('a'), server: { master_key: MASTER } }, join(dir, 'a'));
  keys.tight = await makeKey(cfgA, '--name', 'tight', '--budget', '0.0003/day');
  keys.victim = await makeKey(cfgA, '--name', 'victim');
  keys.lease = await makeKey(cfgA, '--name', 'lease', '--budget', '0.001/day');
  keys.big = await makeKey(cfgA, '--name', 'big', '--budget', '100/day');
  for (const n of ['b', 'c', LOCAL]) copyStore(join(dir, 'a'), join(dir, n));
  for (const n of NAMES) await start(n);
});

after(async () => {
  for (const n of NAMES) await fr[n]?.stop();
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const oa = (name, key) => openai(fr[name], { apiKey: key, maxRetries: 0 });

/* The ledger's view of a key, summed over the replicas that are up. */
async function spendOf(key, names) {
  let requests = 0;
  let cost = 0;
  let errors = 0;
  for (const n of names) {
    const s = await call(fr[n], '/frugal/spend?since=1h', { method: 'GET', key });
    assert.equal(s.status, 200, s.text);
    requests += s.json.requests;
    cost += s.json.cost_usd;
    errors += s.json.errors;
  }
  return { requests, cost, errors };
}

describe('one budget across three replicas', () => {
  test('300 concurrent calls over three replicas: spent <= budget + one reservation, every refusal a 429 naming it', async () => {
    const BUDGET_PICO = 300_000_000n; // $0.000300
    const req = (i) => oa(NAMES[i % 3], keys.tight.key).chat.completions.create({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      messages: user('Count slowly. #sim:tokens=100 #sim:delay_ms=400'),
    });
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => req(i)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r) => r.status === 'rejected');
    assert.ok(ok.length >= 1, 'some calls fit');
    let reservation = 0n;
    for (const { reason: e } of denied) {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'budget_exceeded');
      assert.match(e.message, /daily budget of key 'tight' \(key_[0-9a-f]{12}\) is \$0\.000300/);
      const m = /may cost up to \$(\d+)\.(\d{6})/.exec(e.message);
      if (m) reservation = BigInt(m[1]) * 1_000_000_000_000n + BigInt(m[2]) * 1_000_000n;
    }
    assert.ok(reservation > 0n, 'a refusal names the call\'s reservation');
    const s = await waitFor(async () => {
      const j = await spendOf(keys.tight.key, NAMES);
      return j.requests === 300 ? j : null;
    }, { timeoutMs: 15000, what: '300 ledger rows over the three replicas' });
    assert.equal(s.errors, denied.length);
    const spent = BigInt(Math.round(s.cost * 1e6)) * 1_000_000n;
    assert.ok(spent > 0n);
    assert.ok(spent <= BUDGET_PICO + reservation,
      `spent ${spent} pico > budget ${BUDGET_PICO} + one reservation ${reservation} (${ok.length} calls answered)`);
    // every replica reads the same counter: nothing held, the ledgers' sum spent
    for (const n of NAMES) {
      const v = await call(fr[n], `/frugal/keys/${keys.tight.id}`, { method: 'GET' });
      assert.equal(v.json.usage.budget.reserved_usd, '0.000000', n);
      // (each replica's cost_usd is rounded: their sum may be a micro-dollar off per replica)
      const diff = Math.abs(Number(v.json.usage.budget.spent_usd) - s.cost);
      assert.ok(diff <= 3.5e-6, `${n}: counter ${v.json.usage.budget.spent_usd}, ledgers ${s.cost}`);
    }
    // the same after restarting all three: the counter is Redis's, not a
    // replica's (none adds its own ledger to it again)
    for (const n of NAMES) await fr[n].stop();
    for (const n of NAMES) await start(n);
    for (const n of NAMES) {
      const e = await rejectsWith(req(0 + NAMES.indexOf(n)), OpenAI.RateLimitError, `after restart on ${n}`);
      assert.equal(e.code, 'budget_exceeded');
      const v = await call(fr[n], `/frugal/keys/${keys.tight.id}`, { method: 'GET' });
      assert.ok(Math.abs(Number(v.json.usage.budget.spent_usd) - s.cost) <= 3.5e-6, n);
    }
  });
});

describe('key revocation across replicas', () => {
  test('a key revoked through one replica is refused by the others on their next call', async () => {
    for (const n of NAMES) {
      const r = await oa(n, keys.victim.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') });
      assert.equal(r.choices[0].message.role, 'assistant');
    }
    // a call passed through (its admission waits for Redis the same way)
    const mod = () => openai(fr.c, { apiKey: keys.victim.key, maxRetries: 0 }).moderations
      .create({ model: 'omni-moderation-latest', input: 'fine text' });
    assert.equal((await mod()).results.length, 1);
    const rev = await call(fr.a, `/frugal/keys/${keys.victim.id}/revoke`, { body: {} });
    assert.equal(rev.status, 200, rev.text);
    // no waiting: b's and c's own stores still say active; Redis says revoked
    const pe = await rejectsWith(mod(), OpenAI.AuthenticationError, 'revoked key passed through on c');
    assert.equal(pe.code, 'key_revoked');
    for (const n of ['b', 'c']) {
      const e = await rejectsWith(
        oa(n, keys.victim.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') }),
        OpenAI.AuthenticationError, `revoked key on ${n}`);
      assert.equal(e.code, 'key_revoked');
    }
    // in the Anthropic dialect too
    const e = await rejectsWith(
      anthropic(fr.b, { apiKey: keys.victim.key, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') }),
      Anthropic.AuthenticationError, 'revoked key, Anthropic dialect');
    assert.match(e.message, /revoked/);
  });
});

describe('holds are leases', () => {
  test('a replica killed with SIGKILL mid-call: its hold expires, the budget frees', async () => {
    // worst case of one call ($0.0006 at 1000 output tokens) fits the
    // $0.001 budget once, not twice
    const slow = oa('c', keys.lease.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 1000, messages: user('Slow. #sim:tokens=5 #sim:delay_ms=30000'),
    }).catch(() => null);
    await waitFor(async () => {
      const v = await call(fr.a, `/frugal/keys/${keys.lease.id}`, { method: 'GET' });
      return v.json.usage.budget.reserved_usd !== '0.000000';
    }, { what: 'the slow call holds its reservation' });
    fr.c.proc.kill('SIGKILL');
    await fr.c.exit;
    await slow;
    const one = () => oa('a', keys.lease.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 1000, messages: user('hi'),
    });
    const e = await rejectsWith(one(), OpenAI.RateLimitError, 'the dead replica\'s hold still counts');
    assert.equal(e.code, 'budget_exceeded');
    // the lease (budgets.lease: 3s) expires and the next admission gives it back
    const r = await waitFor(() => one().then((x) => x, () => null),
      { timeoutMs: 15000, stepMs: 250, what: 'the hold expired' });
    assert.equal(r.choices[0].message.role, 'assistant');
    await start('c');
  });
});

describe('Redis stopped under load', () => {
  test('fail_closed: 503 naming the store in the caller\'s dialect, then recovery when it is back', async () => {
    // a fourth replica that counts in process while Redis is down
    const local = await startFrugal({
      name: 'frugal-redis-local',
      config: { ...configOf(LOCAL), budgets: { on_store_down: 'local' } },
      cwd: join(dir, LOCAL),
    });
    const req = (n) => oa(n, keys.big.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 20, messages: user('hi #sim:delay_ms=100'),
    });
    const load = [];
    let stopping = false;
    const loop = async (n) => {
      while (!stopping) load.push(await req(n).then(() => 200, (e) => e));
    };
    const loops = NAMES.map(loop);
    try {
      await waitFor(() => load.length >= 10, { what: 'load running' });
      await redis.stop();
      const atStop = load.length;
      await waitFor(() => load.slice(atStop).some((x) => x !== 200), { timeoutMs: 10000, what: 'a refusal' });
      // /healthz names Redis as unreachable; frugal itself stays healthy (200)
      const hd = await call(fr.a, '/healthz', { method: 'GET' });
      assert.equal(hd.status, 200, hd.text);
      assert.equal(hd.json.redis?.state, 'unreachable', hd.text);
      // the Anthropic dialect names it too
      const ae = await rejectsWith(
        anthropic(fr.a, { apiKey: keys.big.key, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') }),
        Anthropic.InternalServerError, 'store down, Anthropic dialect');
      assert.equal(ae.status, 503);
      assert.match(ae.message, /budget store \(Redis\)/);
      // on_store_down: local answers, and says so loudly
      const lr = await openai(local, { apiKey: keys.big.key, maxRetries: 0 }).chat.completions.create({
        model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi'),
      });
      assert.equal(lr.choices[0].message.role, 'assistant');
      assert.match(local.stderr(), /budgets and rate limits are now counted PER PROCESS \(budgets.on_store_down: local\)/);
      await redis.start();
      await waitFor(() => load.slice(-6).length === 6 && load.slice(-6).every((x) => x === 200),
        { timeoutMs: 15000, what: 'calls succeed again on every replica' });
    } finally {
      stopping = true; // a failed check must not leave the load running
      await Promise.all(loops);
      await local.stop();
      if (redis.proc.exitCode !== null || redis.proc.signalCode !== null) await redis.start();
    }
    for (const x of load) {
      if (x === 200) continue;
      assert.ok(x instanceof OpenAI.APIError, `${x}`);
      assert.equal(x.status, 503, `${x}`);
      assert.equal(x.code, 'budget_store_unavailable', `${x}`);
      assert.match(x.message, /cannot reach its budget store \(Redis\).*fail_closed/);
    }
    assert.ok(load.some((x) => x !== 200), 'some calls were refused while Redis was down');
    // /metrics says what happened, and that Redis answers again
    const m = await fetch(`${fr.a.url}/metrics`).then((r) => r.text());
    assert.match(m, /^frugal_redis_up 1$/m);
    assert.ok(Number(/^frugal_redis_errors_total (\d+)$/m.exec(m)?.[1]) > 0, m);
    // the round trips' latency: a histogram of every reply's wait
    const count = Number(/^frugal_redis_roundtrip_seconds_count (\d+)$/m.exec(m)?.[1]);
    assert.ok(count > 0, m);
    assert.equal(Number(/^frugal_redis_roundtrip_seconds_bucket\{le="\+Inf"\} (\d+)$/m.exec(m)?.[1]), count, m);
    assert.ok(Number(/^frugal_redis_roundtrip_seconds_sum ([0-9.e-]+)$/m.exec(m)?.[1]) > 0, m);
    const hu = await call(fr.a, '/healthz', { method: 'GET' });
    assert.equal(hu.json.redis?.state, 'ok', hu.text);
  });
});

describe('the redis: setting', () => {
  test('frugal check refuses a bad URL without echoing it; a password never reaches a log line', async () => {
    const pw = 'redis-pw-5e1f0c9a77';
    noteSecrets(pw); // zz_redaction.test.mjs greps every log for it too
    const bad = writeConfig({ ...configOf(LOCAL), redis: `redis://:${pw}@127.0.0.1:99999` }, tempDir());
    const c = await runFrugal(['check', '-c', bad]);
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /redis: the URL has a bad port/);
    assert.ok(!c.stderr.includes(pw) && !c.stdout.includes(pw));
    // this Redis has no password: AUTH is refused, and said so without it
    const fp = await startFrugal({
      name: 'frugal-redis-pw',
      config: { ...configOf(LOCAL), redis: `redis://:${pw}@127.0.0.1:${redis.port}` },
      cwd: join(dir, LOCAL),
    });
    try {
      const e = await rejectsWith(
        oa('a', keys.big.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') })
          .then(() => openai(fp, { apiKey: keys.big.key, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') })),
        OpenAI.APIError, 'a replica whose Redis refuses it');
      assert.equal(e.status, 503);
      assert.match(fp.stderr(), /redis 127\.0\.0\.1:\d+ unreachable \(.*setup was refused/);
    } finally {
      await fp.stop();
    }
    assert.ok(!fp.stderr().includes(pw), 'the password is not logged');
  });
});
