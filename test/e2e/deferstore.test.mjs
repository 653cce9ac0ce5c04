// deferstore.test.mjs — deferred calls' provider batches kept in the batch
// store (batch/batch_defer.h, batch_store.h defer_*): a batch still running
// at the provider when the process that submitted it stops (SIGTERM) or dies
// (SIGKILL) is polled to its end by the next process on the same SQLite
// store, or by another replica sharing a Postgres store, and each line its
// call did not take is recorded once as the linked late row (CALL_ID-b) at
// the batch price.  The provider is the standalone simulated one
// (`frugal sim`), so its batches outlive the gateway; #sim:batch_delay_ms
// makes them slow.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { call, openai, sleep, startFrugal, startSim, tempDir, test, waitFor } from './lib/frugal.mjs';
import { billedChat as billed, nearWithin } from './lib/prices.mjs';
import { startPg } from './lib/pg.mjs';

const MASTER = 'sk-deferstore-master';
const user = (text) => [{ role: 'user', content: text }];
const near = nearWithin(2.02e-6);

let sim;
before(async () => {
  sim = await startSim({ name: 'sim-deferstore' });
});
after(async () => {
  await sim?.stop();
});

const config = (extra = {}) => ({
  server: { master_key: MASTER, shutdown_grace_ms: 20000 },
  providers: [{ name: 'sim', type: 'sim', base_url: sim.url, batch: 'provider' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim' }],
  deferral: { window_ms: 100, min_deadline: '1s', max_deadline: '5m' },
  ...extra,
  batches: { poll_ms: 100, ...(extra.batches ?? {}) },
});

const calls = async (fr) => (await call(fr, '/frugal/calls?limit=200', { method: 'GET' })).json.data ?? [];

/* The ledger rows of fr whose id is `id`, once there are `n` of them. */
async function rowsOf(fr, id, n = 1) {
  let got = [];
  await waitFor(async () => (got = (await calls(fr)).filter((c) => c.id === id)).length >= n,
    { timeoutMs: 20000, stepMs: 100, what: `ledger row ${id}` });
  return got;
}

/* A deferred call (OpenAI SDK) whose batch line takes `delay` ms at the
 * provider; resolves to {data, response} once answered. */
const deferred = (fr, delay, tag) =>
  openai(fr, { apiKey: MASTER, maxRetries: 0, timeout: 60000 }).chat.completions
    .create({ model: 'gpt-4o-mini', messages: user(`${tag} #sim:tokens=40 #sim:batch_delay_ms=${delay} ${Math.random()}`) },
      { headers: { 'x-frugal-defer': '5m' } })
    .withResponse();

describe('deferred provider batches survive a restart (SQLite)', () => {
  test('SIGTERM mid-batch: the call answered in real time, its late line recorded once by the next process', async () => {
    const dir = tempDir('frugal-deferstore-');
    try {
      const a = await startFrugal({ name: 'frugal-dstore-a', cwd: dir, config: config() });
      const held = deferred(a, 5000, 'restart me');
      await waitFor(() => /deferral: 1 line\(s\) in provider batch (\S+)/.test(a.stderr()),
        { timeoutMs: 10000, what: 'the line in a provider batch' });
      const remote = /deferral: 1 line\(s\) in provider batch (\S+)/.exec(a.stderr())[1];
      a.proc.kill('SIGTERM'); // the held call goes real time within the grace period
      const { data, response } = await held;
      assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
      const id = response.headers.get('x-frugal-request-id');
      await a.stop({ send: false });
      assert.doesNotMatch(a.stderr(), new RegExp(`recorded as ${id}-b`), 'not recorded before the batch ended');

      const b = await startFrugal({ name: 'frugal-dstore-b', cwd: dir, config: config() });
      try {
        const [late] = await rowsOf(b, `${id}-b`); // once the provider ends the batch
        assert.ok(b.stderr().includes(`polling provider batch ${remote} that no live process holds`),
          'the next process polled the batch');
        assert.equal(late.status, 200);
        near(Number(late.cost_usd), billed('gpt-4o-mini', data.usage, true), 'the late line at the batch price');
        assert.equal((await rowsOf(b, id)).length, 1, 'the real-time call once');
      } finally {
        await b.stop();
      }
      // a third process finds nothing left open: the line was recorded once
      const c = await startFrugal({ name: 'frugal-dstore-c', cwd: dir, config: config() });
      try {
        await sleep(1500); // its store scan runs at start, then every second
        assert.doesNotMatch(c.stderr(), /that no live process holds/);
        assert.equal((await calls(c)).filter((r) => r.id === `${id}-b`).length, 1, 'the late row once');
      } finally {
        await c.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a batch that ends while the call is held: answered from the line, nothing left in the store', async () => {
    const dir = tempDir('frugal-deferstore-');
    try {
      const a = await startFrugal({ name: 'frugal-dstore-d', cwd: dir, config: config() });
      const { response } = await deferred(a, 300, 'quick');
      assert.equal(response.headers.get('x-frugal-defer'), 'batch');
      const id = response.headers.get('x-frugal-request-id');
      await a.stop();
      const b = await startFrugal({ name: 'frugal-dstore-e', cwd: dir, config: config() });
      try {
        await sleep(1500);
        assert.doesNotMatch(b.stderr(), /that no live process holds/);
        const rows = (await calls(b)).filter((r) => r.id.startsWith(id));
        assert.deepEqual(rows.map((r) => r.id), [id], 'the call once, no late row');
      } finally {
        await b.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const pg = startPg();
after(() => pg?.stop());

describe('deferred provider batches shared by replicas (Postgres)', { skip: !pg && 'Postgres is not installed' }, () => {
  test('the submitting replica SIGKILLed: another replica polls the batch and records the line once', async () => {
    const dsn = pg.createDb('dstore_kill');
    const cfg = config({ storage: dsn, batches: { storage: dsn, lease_ms: 1500 } });
    const [a, b] = await Promise.all([
      startFrugal({ name: 'frugal-dstore-pa', config: cfg }),
      startFrugal({ name: 'frugal-dstore-pb', config: cfg }),
    ]);
    try {
      const held = deferred(a, 5000, 'orphan me').catch((e) => e);
      await waitFor(() => /deferral: 1 line\(s\) in provider batch (\S+)/.test(a.stderr()),
        { timeoutMs: 10000, what: 'the line in a provider batch' });
      const remote = /deferral: 1 line\(s\) in provider batch (\S+)/.exec(a.stderr())[1];
      a.proc.kill('SIGKILL'); // the client's connection dies with it
      await a.exit;
      assert.ok((await held) instanceof Error, 'the client lost its connection');
      let late;
      await waitFor(async () => (late = (await calls(b)).filter((r) => r.id.endsWith('-b'))).length > 0,
        { timeoutMs: 20000, stepMs: 100, what: 'the late row, recorded by the other replica' });
      assert.ok(b.stderr().includes(`polling provider batch ${remote} that no live process holds`),
        'the other replica took the batch over');
      assert.equal(late.length, 1, 'recorded once');
      assert.equal(late[0].status, 200);
      assert.ok(Number(late[0].cost_usd) > 0, 'the provider bills it: it is recorded');
      const open = pg.sql('dstore_kill', "SELECT count(*) FROM defer_lines WHERE state = 'open'");
      assert.equal(open, '0', 'no line left open');
    } finally {
      await b.stop();
    }
  });
  test('the batch taken over while its holder lives: the held call answered through the store, once, at batch price', async () => {
    const dsn = pg.createDb('dstore_hand');
    const cfg = config({ storage: dsn, batches: { storage: dsn, lease_ms: 1500 } });
    const [a, b] = await Promise.all([
      startFrugal({ name: 'frugal-dstore-ha', config: cfg }),
      startFrugal({ name: 'frugal-dstore-hb', config: cfg }),
    ]);
    try {
      const bId = await waitFor(() => /deferral: shared store; this replica is (\S+)/.exec(b.stderr())?.[1],
        { what: 'the other replica naming itself' });
      const held = deferred(a, 3000, 'hand me over');
      await waitFor(() => /deferral: 1 line\(s\) in provider batch (\S+)/.test(a.stderr()),
        { timeoutMs: 10000, what: 'the line in a provider batch' });
      const remote = /deferral: 1 line\(s\) in provider batch (\S+)/.exec(a.stderr())[1];
      // the other replica takes the batch over (as when this one's lease ran out)
      pg.sql('dstore_hand', `UPDATE defer_jobs SET holder = '${bId}' WHERE remote_id = '${remote}'`);
      const { data, response } = await held;
      assert.equal(response.headers.get('x-frugal-defer'), 'batch', 'answered from its line');
      const id = response.headers.get('x-frugal-request-id');
      assert.ok(b.stderr().includes(`${id}'s batch line handed to the replica holding its call`), 'polled by the other replica');
      assert.ok(a.stderr().includes(`${id}'s batch line answered through the store`), 'reached its holder through the store');
      const [row] = await rowsOf(a, id);
      near(Number(row.cost_usd), billed('gpt-4o-mini', data.usage, true), 'at the batch price');
      await sleep(1500); // the replicas' next scans
      assert.equal((await calls(a)).filter((r) => r.id.startsWith(id)).length, 1, 'no late row: the call paid for its line');
      assert.equal(pg.sql('dstore_hand', "SELECT count(*) FROM defer_lines WHERE state != 'done'"), '0');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
