// pg.test.mjs — `storage: postgres://…` end to end: several frugal processes
// on one Postgres (started by test/pg-run.sh, run as `nobody`), one ledger,
// one key registry.
//
//  - calls through two replicas land in one ledger: `frugal report` and
//    GET /frugal/spend on either replica agree, to the pico-dollar;
//  - a key created through one replica's admin API works on the other on
//    its very next call; revoked through one, the other refuses it;
//  - Postgres stopped for a few seconds under load and started again:
//    calls keep being answered meanwhile and every answered call has
//    exactly one ledger row afterwards;
//  - `frugal migrate --copy-from sqlite:…` gives the same `frugal report`
//    totals, and copying twice changes nothing;
//  - the dashboard on both replicas: GET /frugal/spend/timeseries (from the
//    Postgres rollups) has the totals of /frugal/spend over its window and
//    counts every replica's calls once, also after a spool replay;
//  - ledger reads (the spend map, the time series, the live calls) waiting
//    on Postgres do not hold the worker loop.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, noteSecrets, openai, runFrugal, sleep, startFrugal, tempDir, test, waitFor, writeConfig } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { toFile } from 'openai';

const MASTER = 'fg-pg-master-4b1d9e';
const DSN_PASSWORD = 'pg-Pw-7f3a91c2e5';
const user = (text) => [{ role: 'user', content: text }];
const pg = startPg();

const config = (storage) => ({
  server: { workers: 2, master_key: MASTER },
  storage,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
  ],
});

after(() => pg?.stop());

/* Ledger rows written so far, as the replica's own metrics count them. */
async function written(fr) {
  const r = await call(fr, '/metrics', { method: 'GET' });
  const m = /^frugal_ledger_written_total (\d+)$/m.exec(r.text);
  return m ? Number(m[1]) : 0;
}

async function spend(fr, q = 'since=1h') {
  const r = await call(fr, `/frugal/spend?${q}`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function report(configFile, ...args) {
  const r = await runFrugal(['report', '-c', configFile, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/* One chat call; its x-frugal-request-id (the ledger row's id) when answered. */
async function chatId(fr, key, text) {
  const { response } = await openai(fr, { apiKey: key })
    .chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16, messages: user(text) })
    .withResponse();
  return response.headers.get('x-frugal-request-id');
}

describe('postgres storage, two replicas', { skip: !pg && 'Postgres is not installed' }, () => {
  const dir = tempDir('frugal-pg-');
  let dsn, a, b, file;

  before(async () => {
    // a password in the URL (the test server trusts local connections and
    // ignores it): it must never reach a log line (checked below and by
    // zz_redaction.test.mjs through noteSecrets)
    dsn = pg.createDb('replicas').replace('frugal@', `frugal:${DSN_PASSWORD}@`);
    noteSecrets(DSN_PASSWORD);
    file = writeConfig(config(dsn), dir);
    // one config for both, as in production; each its own port
    [a, b] = await Promise.all([
      startFrugal({ name: 'frugal-pg-a', config: config(dsn) }),
      startFrugal({ name: 'frugal-pg-b', config: config(dsn) }),
    ]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the connection string never reaches a log line or an output', async () => {
    const chk = await runFrugal(['check', '-c', file]);
    assert.equal(chk.code, 0, chk.stderr);
    assert.match(chk.stdout, /storage postgresql:\/\/\/replicas\)/);
    const rep = await runFrugal(['report', '-c', file]);
    const mig = await runFrugal(['migrate', '-c', file, '--check']);
    for (const out of [chk.stdout, chk.stderr, rep.stdout, rep.stderr, mig.stdout, mig.stderr, a.stderr(), b.stderr()])
      assert.ok(!out.includes(DSN_PASSWORD) && !out.includes(pg.dir), out);
  });

  test('calls through both replicas land in one ledger; report and /frugal/spend agree', async () => {
    const before_ = Number(pg.sql('replicas', 'SELECT count(*) FROM calls'));
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push(await chatId(i % 2 ? b : a, MASTER, `question ${i} about ledgers`));
    await waitFor(async () => (await written(a)) + (await written(b)) >= before_ + 12, { what: 'both writers' });
    const rows = pg.sql('replicas', `SELECT id FROM calls WHERE id IN (${ids.map((x) => `'${x}'`).join(',')})`);
    assert.equal(rows.split('\n').length, 12, 'every call has its row');
    const [sa, sb, rep] = await Promise.all([spend(a), spend(b), report(file, '--since', '1h')]);
    assert.equal(sa.requests, before_ + 12);
    assert.deepEqual(sb, { ...sa, until: sb.until, since: sb.since });
    assert.equal(rep.requests, sa.requests);
    assert.equal(rep.cost_usd, sa.cost_usd);
    assert.ok(sa.cost_usd > 0);
  });

  test('a key created through one replica works on the other at once; revoked, refused', async () => {
    const r = await call(a, '/frugal/keys', { body: { name: 'shared-team', budget: '5/day' } });
    assert.equal(r.status, 201, r.text);
    const key = r.json.key;
    assert.ok(await chatId(b, key, 'first call through the other replica'));
    const rv = await call(a, `/frugal/keys/${r.json.id}`, { method: 'DELETE' });
    assert.ok(rv.status === 200 || rv.status === 204, rv.text);
    // replica b learns of the revocation from the keys table (its reloader)
    await waitFor(
      async () => (await call(b, '/v1/chat/completions', { key, body: { model: 'gpt-4o-mini', messages: user('x') } })).status === 401,
      { timeoutMs: 10000, stepMs: 200, what: 'the revocation on replica b' },
    );
  });

  test('Postgres stopped under load: calls keep flowing, every answered call has exactly one row', async () => {
    const answered = [];
    let stop = false, failed = 0;
    const worker = async (fr, n) => {
      for (let i = 0; !stop; i++) {
        try {
          answered.push(await chatId(fr, MASTER, `load ${n} ${i}`));
        } catch {
          failed++;
        }
      }
    };
    const load = [a, b, a, b].map((fr, n) => worker(fr, n));
    await sleep(500);
    pg.pause();
    const duringFrom = answered.length;
    // /healthz says where the records are: the store unreachable, the spool growing
    const health = async (fr) => (await call(fr, '/healthz', { method: 'GET' })).json;
    await waitFor(async () => {
      const h = await health(a);
      return h.status === 'ok' && h.store.state === 'unreachable' && h.store.spool > 0;
    }, { timeoutMs: 10000, stepMs: 100, what: 'replica a to report the store unreachable and its spool' });
    await sleep(2500);
    const during = answered.length - duringFrom;
    const metrics = (await call(a, '/metrics', { method: 'GET' })).text;
    assert.match(metrics, /^frugal_ledger_spool_depth [1-9]\d*$/m);
    assert.match(metrics, /^frugal_store_up 0$/m);
    pg.resume();
    await sleep(500);
    stop = true;
    await Promise.all(load);
    for (const fr of [a, b])
      await waitFor(async () => {
        const h = await health(fr);
        return h.store.state === 'ok' && h.store.spool === 0;
      }, { timeoutMs: 15000, stepMs: 100, what: `${fr.name}: the spool written back` });
    assert.equal(failed, 0, 'no call failed while Postgres was down');
    assert.ok(during > 0, 'calls were answered while Postgres was down');
    const want = new Set(answered);
    assert.equal(want.size, answered.length);
    // the spooled records reach Postgres once it is back
    const q = `SELECT count(*), count(DISTINCT id) FROM calls WHERE id IN (${[...want].map((x) => `'${x}'`).join(',')})`;
    await waitFor(() => pg.sql('replicas', q) === `${want.size}|${want.size}`, {
      timeoutMs: 20000,
      stepMs: 200,
      what: `all ${want.size} answered calls in the ledger once (have ${pg.sql('replicas', q)})`,
    });
    const dup = pg.sql('replicas', 'SELECT count(*) FROM (SELECT id FROM calls GROUP BY id HAVING count(*) > 1) d');
    assert.equal(dup, '0');
    // the rollups counted every row once: the replayed spool too
    const rows = pg.sql('replicas', 'SELECT count(*), sum(cost_pico) FROM calls');
    for (const t of ['rollup_minute', 'rollup_hour', 'rollup_day'])
      assert.equal(pg.sql('replicas', `SELECT sum(requests), sum(cost_pico) FROM ${t}`), rows, t);
  });

  test('the dashboard on both replicas: time series totals equal /frugal/spend, each call counted once', async () => {
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push(await chatId(i % 2 ? b : a, MASTER, `dashboard question ${i}`));
    const mine = `SELECT count(*) FROM calls WHERE id IN (${ids.map((x) => `'${x}'`).join(',')})`;
    await waitFor(() => pg.sql('replicas', mine) === '8', { timeoutMs: 10000, what: 'both replicas written' });
    const series = async (fr, q) => {
      const r = await call(fr, `/frugal/spend/timeseries?${q}`, { method: 'GET' });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const [ta, tb] = await Promise.all([series(a, 'since=1h'), series(b, 'since=1h')]);
    assert.deepEqual(tb.totals, ta.totals, 'both replicas read the same rollups');
    const n = Number(pg.sql('replicas', `SELECT count(*) FROM calls WHERE ts_ms >= ${Date.parse(ta.since)} AND ts_ms < ${Date.parse(ta.until)}`));
    assert.ok(n >= 8);
    assert.equal(ta.totals.requests, n, 'every row counted once');
    // the spend map over the same minute-aligned window: the same totals
    const sp = await spend(b, `since=${encodeURIComponent(ta.since)}&until=${encodeURIComponent(ta.until)}`);
    assert.equal(sp.requests, ta.totals.requests);
    assert.equal(sp.errors, ta.totals.errors);
    assert.equal(sp.cost_usd, ta.totals.cost_usd);
    assert.equal(sp.baseline_usd, ta.totals.baseline_usd);
    assert.ok(ta.totals.cost_usd > 0);
    // grouped by key: the groups add up to the totals
    const byKey = await series(a, 'since=1h&group=key');
    assert.equal(byKey.groups.reduce((t, g) => t + g.requests, 0), ta.totals.requests);
    // the live view reads the same ledger, newest first
    const live = await call(b, '/frugal/calls?limit=200', { method: 'GET' });
    assert.equal(live.status, 200, live.text);
    const liveIds = live.json.data.map((c) => c.id);
    for (const id of ids) assert.ok(liveIds.includes(id), `${id} in the live view`);
  });
});

describe('reads off the worker loop', { skip: !pg && 'Postgres is not installed' }, () => {
  test('dashboard reads waiting on Postgres do not hold the worker loop', async () => {
    const dsn = pg.createDb('dashreader');
    const fr = await startFrugal({ name: 'frugal-pg-dashreader', config: { ...config(dsn), server: { workers: 1, master_key: MASTER } } });
    try {
      await chatId(fr, MASTER, 'one row');
      await waitFor(async () => (await written(fr)) >= 1, { what: 'the row' });
      // another session holds the ledger's tables for 4 s: every read waits for it
      const lock = pg.sqlAsync('dashreader',
        'BEGIN; LOCK TABLE calls, rollup_minute, rollup_hour, rollup_day IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;');
      const waiting = () => Number(pg.sql('dashreader', "SELECT count(*) FROM pg_stat_activity WHERE datname = 'dashreader' AND wait_event_type = 'Lock'"));
      await waitFor(async () => (await call(fr, '/healthz', { method: 'GET' })).status === 200 &&
        Number(pg.sql('dashreader', "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted")) >= 4, { what: 'the lock' });
      let settled = 0;
      const get = (path) => call(fr, path, { method: 'GET' }).finally(() => settled++);
      const reads = [get('/frugal/spend/timeseries?since=1h'), get('/frugal/calls?limit=5')];
      // the reader thread waits on the lock...
      await waitFor(() => waiting() >= 1, { timeoutMs: 10000, what: 'a dashboard read waiting on the lock' });
      // ...while the one worker still answers
      const h = await call(fr, '/healthz', { method: 'GET' });
      assert.equal(h.status, 200);
      assert.equal(settled, 0, 'no dashboard read had its answer before /healthz did');
      const [ts, calls] = await Promise.all(reads);
      await lock;
      assert.equal(ts.status, 200, ts.text);
      assert.equal(ts.json.totals.requests, 1);
      assert.equal(calls.status, 200, calls.text);
      assert.equal(calls.json.data.length, 1);
    } finally {
      await fr.stop();
    }
  });

  test('a spend query waiting on Postgres does not hold the worker loop', async () => {
    const dsn = pg.createDb('reader');
    const fr = await startFrugal({ name: 'frugal-pg-reader', config: { ...config(dsn), server: { workers: 1, master_key: MASTER } } });
    try {
      await chatId(fr, MASTER, 'one row');
      await waitFor(async () => (await written(fr)) >= 1, { what: 'the row' });
      // another session holds the calls table for 3 s: a spend query waits for it
      const lock = pg.sqlAsync('reader', 'BEGIN; LOCK TABLE calls IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;');
      await sleep(300);
      const t0 = Date.now();
      const spendP = spend(fr);
      await sleep(100);
      // the one worker still answers while the query waits
      const h = await call(fr, '/healthz', { method: 'GET' });
      const healthMs = Date.now() - t0;
      assert.equal(h.status, 200);
      const s = await spendP;
      const spendMs = Date.now() - t0;
      await lock;
      assert.equal(s.requests, 1);
      assert.ok(spendMs >= 2000, `the spend query waited for the lock (${spendMs} ms)`);
      assert.ok(healthMs < spendMs - 1000, `/healthz answered in ${healthMs} ms, the spend map in ${spendMs} ms`);
    } finally {
      await fr.stop();
    }
  });
});

describe('batches next to a Postgres ledger', { skip: !pg && 'Postgres is not installed' }, () => {
  for (const [mode, store] of [['provider', 'sqlite'], ['local', 'sqlite'], ['provider', 'postgres'], ['local', 'postgres']]) {
    test(`${mode} mode: files and batches in batches.storage (${store}), each line's record in Postgres once`, async () => {
      const db = `batch_${mode}_${store}`;
      const dsn = pg.createDb(db);
      const dir = tempDir('frugal-pg-batch-');
      const cfg = {
        ...config(dsn),
        providers: [{ name: 'sim', type: 'sim', batch: mode }],
        batches: { poll_ms: 50, poll_max_ms: 200, storage: store === 'sqlite' ? `sqlite:${join(dir, 'batches.db')}` : dsn },
      };
      const fr = await startFrugal({ name: `frugal-pg-batch-${mode}`, config: cfg, cwd: dir });
      try {
        const c = openai(fr);
        const lines = [1, 2, 3].map((i) => JSON.stringify({
          custom_id: `l-${i}`, method: 'POST', url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini', max_tokens: 20, messages: user(`batch line ${i}`) },
        }));
        const f = await c.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
        const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        const b = await waitFor(async () => {
          const x = await c.batches.retrieve(b0.id);
          return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
        }, { timeoutMs: 20000, stepMs: 50, what: 'the batch' });
        assert.equal(b.status, 'completed');
        assert.equal(b.request_counts.completed, 3);
        const q = `SELECT count(*), count(DISTINCT id) FROM calls WHERE batch_id = '${b0.id}'`;
        await waitFor(() => pg.sql(db, q) === '3|3', {
          timeoutMs: 10000, stepMs: 100, what: `3 line records in Postgres (have ${pg.sql(db, q)})`,
        });
        if (store === 'postgres') {
          assert.equal(pg.sql(db, `SELECT count(*) FROM batch_lines WHERE batch_id = '${b0.id}' AND state = 'done'`), '3');
        }
      } finally {
        await fr.stop();
      }
      rmSync(dir, { recursive: true, force: true });
    });
  }
});

describe('the spool across a restart', { skip: !pg && 'Postgres is not installed' }, () => {
  test('stopped while Postgres is down, frugal keeps the records in its spool; the next start writes them', async () => {
    const dsn = pg.createDb('spool_restart');
    const dir = tempDir('frugal-pg-spool-');
    const cfg = { ...config(dsn), spool: join(dir, 'ledger.spool') };
    let fr = await startFrugal({ name: 'frugal-pg-spool', config: cfg, cwd: dir });
    const ids = [await chatId(fr, MASTER, 'before the outage')];
    await waitFor(async () => (await written(fr)) >= 1, { what: 'the first row' });
    pg.pause();
    try {
      for (let i = 0; i < 6; i++) ids.push(await chatId(fr, MASTER, `during the outage ${i}`));
      await fr.stop(); // SIGTERM: the queue drains into the spool, not into a lost write
    } finally {
      pg.resume();
    }
    assert.match(fr.stderr(), /record\(s\) stay in the spool .*ledger\.spool for the next start/);
    assert.equal(pg.sql('spool_restart', 'SELECT count(*) FROM calls'), '1');
    fr = await startFrugal({ name: 'frugal-pg-spool-2', config: cfg, cwd: dir });
    const q = `SELECT count(*) FROM calls WHERE id IN (${ids.map((x) => `'${x}'`).join(',')})`;
    await waitFor(() => pg.sql('spool_restart', q) === '7', { timeoutMs: 10000, stepMs: 100, what: 'the spooled rows' });
    await fr.stop();
    assert.match(fr.stderr(), /record\(s\) in the spool from a previous run are written first/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('frugal migrate', { skip: !pg && 'Postgres is not installed' }, () => {
  test('--copy-from a SQLite ledger: the same report totals, and copying twice changes nothing', async () => {
    const dir = tempDir('frugal-pg-copy-');
    const sqlite = `sqlite:${join(dir, 'old.db')}`;
    const fr = await startFrugal({ name: 'frugal-sqlite', config: config(sqlite), cwd: dir });
    const mk = await call(fr, '/frugal/keys', { body: { name: 'copied-key' } });
    assert.equal(mk.status, 201, mk.text);
    for (let i = 0; i < 7; i++) await chatId(fr, i % 2 ? MASTER : mk.json.key, `old call ${i}`);
    await fr.stop();
    const sqliteFile = writeConfig(config(sqlite), dir);
    const want = await report(sqliteFile, '--since', '1h', '--by', 'key');

    const dsn = pg.createDb('copied');
    const pgDir = tempDir('frugal-pg-copy2-');
    const pgFile = writeConfig(config(dsn), pgDir);
    const check = await runFrugal(['migrate', '-c', pgFile, '--check']);
    assert.equal(check.code, 1, 'a new database has pending migrations');
    assert.match(check.stdout, /ledger: 7 migration\(s\) pending/);
    // the routing tables (labels, versions, the fitting lease, learning spend) too
    assert.match(check.stdout, /routing: 2 migration\(s\) pending/);
    assert.doesNotMatch(check.stdout + check.stderr, /frugal@|host=/, 'the DSN is not printed');
    for (let round = 0; round < 2; round++) {
      const r = await runFrugal(['migrate', '-c', pgFile, '--copy-from', sqlite]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /calls: 7 row\(s\) copied/);
      assert.match(r.stdout, round ? /keys: 0 copied, 1 already there/ : /keys: 1 copied/);
    }
    const got = await report(pgFile, '--since', '1h', '--by', 'key');
    assert.equal(got.requests, 7);
    assert.deepEqual({ ...got, since: 0, until: 0 }, { ...want, since: 0, until: 0 });
    assert.equal((await runFrugal(['migrate', '-c', pgFile, '--check'])).code, 0);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pgDir, { recursive: true, force: true });
  });
});
