// dashreads.test.mjs — ledger reads run off the worker loops with the
// embedded SQLite ledger too (server/readq.h): the dashboard's reads (the
// time series, the live calls) and the spend map wait on the reader thread,
// never on the loop that answers calls.  A spend map over 30 days of a
// ledger with 300,000 rows takes a good part of a second; the time series
// and the live calls asked right after it are answered by another reader of
// the pool meanwhile, not queued behind it.  With one worker, /healthz is
// answered while the long read still runs, and each read gets its full answer.  (Postgres: pg.test.mjs, with a lock.)
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, ledgerFlushed, openai, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';

const MASTER = 'fg-dashreads-master-7c2e';
const dir = tempDir('frugal-dashreads-');
const db = join(dir, 'frugal.db');
const config = {
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${db}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }],
};

const BULK = 300000;

/* BULK old rows written straight into the ledger (2 to 29 days old, outside
 * the rollups: only a raw read sees them): the spend map over 30 days then
 * scans them all, a read of a good part of a second. */
function bulkRows() {
  const now = Date.now();
  execFileSync('sqlite3', ['-cmd', '.timeout 10000', db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${BULK})
    INSERT INTO calls (id, ts_ms, key_id, tags, model, route, status, priced, cost_pico, baseline_pico, input_tokens, output_tokens, latency_us)
    SELECT 'bulk' || i, ${now - 2 * 86400000} - i * 7000, 'master', '', 'gpt-4o-mini', 'cheap', 200, 1, 1000000, 2000000, 10, 5, 1000 FROM n`], { stdio: 'pipe' });
}

let fr;

before(async () => {
  fr = await startFrugal({ name: 'frugal-dashreads', config, cwd: dir });
  await openai(fr, { apiKey: MASTER }).chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'one row' }],
  });
  await ledgerFlushed(fr, 1);
  bulkRows();
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('ledger reads off the worker loop (SQLite)', () => {
  test('a long spend read and the dashboard reads asked with it do not hold the worker loop', async () => {
    let settled = false;
    const get = (path) => call(fr, path, { method: 'GET' });
    const reads = [get('/frugal/spend?since=30d').finally(() => { settled = true; }), get('/frugal/spend/timeseries?since=1h'), get('/frugal/calls?limit=5')];
    // the one worker answers while the reads are on the reader thread
    const h = await call(fr, '/healthz', { method: 'GET' });
    assert.equal(h.status, 200);
    assert.equal(settled, false, 'the long spend read had no answer before /healthz did');
    const [spend, ts, calls] = await Promise.all(reads);
    assert.equal(spend.status, 200, spend.text);
    assert.equal(ts.status, 200, ts.text);
    assert.equal(calls.status, 200, calls.text);
    assert.equal(spend.json.requests, BULK + 1);
    assert.equal(ts.json.totals.requests, 1);
    assert.equal(calls.json.data.length, 5);
    assert.equal(calls.json.data[0].model, 'gpt-4o-mini');
  });

  test('a slow read does not queue the other views behind it: a reader of the pool answers them first', async () => {
    // the 30-day spend map scans the bulk rows; the time series and the
    // live calls asked right after it are answered by another reader while
    // it still runs (one reader in order answered them after it)
    const order = [];
    const get = (name, path) => call(fr, path, { method: 'GET' }).then((r) => { order.push(name); return r; });
    const slow = get('spend', '/frugal/spend?since=30d');
    const fast = await Promise.all([get('timeseries', '/frugal/spend/timeseries?since=1h'), get('calls', '/frugal/calls?limit=5')]);
    assert.deepEqual([...order].sort(), ['calls', 'timeseries'], `answered while the slow read still ran: ${order.join(', ')}`);
    const sp = await slow;
    assert.equal(sp.status, 200, sp.text);
    assert.equal(sp.json.requests, BULK + 1);
    for (const r of fast) assert.equal(r.status, 200, r.text);
    assert.equal(order.at(-1), 'spend', `the slow spend read answered last: ${order.join(', ')}`);
  });

  test('through the reader: the spend map over the time series window has its totals', async () => {
    const ts = await call(fr, '/frugal/spend/timeseries?since=1h', { method: 'GET' });
    assert.equal(ts.status, 200, ts.text);
    const q = `since=${encodeURIComponent(ts.json.since)}&until=${encodeURIComponent(ts.json.until)}`;
    const sp = await call(fr, `/frugal/spend?${q}`, { method: 'GET' });
    assert.equal(sp.status, 200, sp.text);
    assert.equal(sp.json.requests, ts.json.totals.requests);
    assert.equal(sp.json.cost_usd, ts.json.totals.cost_usd);
  });
});
