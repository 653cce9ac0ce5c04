// dashbatch.test.mjs — the dashboard's batches view (issue #20): each
// batch's cost and savings next to its progress and mode.  A virtual key and
// the master key each run a batch through frugal (the sim's batch API at
// half price); GET /frugal/spend/batches?ids=… sums each batch's ledger rows
// (an index on batch_id, not a scan): its cost, the same lines at real-time
// prices and the batch discount, equal to the ledger's own rows.  A virtual
// key sees only its own batch's spend.  In a real browser the batches view
// shows those numbers per batch.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { toFile } from 'openai';

import { call, openai, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { NO_CHROMIUM, screenshot, showView, signedIn, tableRows, useBrowser } from './lib/dashui.mjs';

const MASTER = 'fg-dashbatch-master-6e2d';
const dir = tempDir('frugal-dashbatch-');
const db = join(dir, 'frugal.db');
const config = {
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${db}`,
  providers: [{ name: 'sim', type: 'sim', batch: 'provider' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'gpt-4o', provider: 'sim', dialect: 'openai' }],
  batches: { poll_ms: 50, poll_max_ms: 200 },
};

let fr, keyA, mine, theirs;

const line = (i, model) => ({ custom_id: `l-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model, max_tokens: 30, messages: [{ role: 'user', content: `batch line ${i}: say something long` }] } });

async function runBatch(key, lines) {
  const c = openai(fr, { apiKey: key });
  const f = await c.files.create({ file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
  const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  return waitFor(async () => {
    const x = await c.batches.retrieve(b.id);
    return x.status === 'completed' ? x : null;
  }, { timeoutMs: 30000, stepMs: 50, what: `batch ${b.id}` });
}

/* The ledger's own sums for a batch, in USD as the API rounds them. */
function truth(batchId) {
  const [r] = JSON.parse(execFileSync('sqlite3', ['-json', db,
    `SELECT count(*) AS n, SUM(cost_pico) AS cost, SUM(saved_batch_pico) AS saved FROM calls WHERE batch_id = '${batchId}'`]).toString());
  const usd = (p) => Math.round(p / 1e6) / 1e6;
  return { requests: r.n, cost_usd: usd(r.cost), saved_batch_usd: usd(r.saved), realtime_usd: usd(r.cost + r.saved) };
}

before(async () => {
  fr = await startFrugal({ name: 'frugal-dashbatch', config, cwd: dir });
  const r = await call(fr, '/frugal/keys', { body: { name: 'batcher' }, key: MASTER });
  assert.equal(r.status, 201, r.text);
  keyA = r.json;
  mine = await runBatch(keyA.key, [line(1, 'gpt-4o-mini'), line(2, 'gpt-4o'), line(3, 'gpt-4o')]);
  theirs = await runBatch(MASTER, [line(4, 'gpt-4o'), line(5, 'gpt-4o-mini')]);
  // the batch store writes its lines' ledger rows with their results (SQLite)
  await waitFor(() => truth(mine.id).requests === 3 && truth(theirs.id).requests === 2, { timeoutMs: 15000, what: 'the batch rows' });
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path, key = MASTER) => call(fr, path, { method: 'GET', key });

describe('GET /frugal/spend/batches', () => {
  test('each batch: its cost, the real-time price of the same lines and the discount, equal to the ledger', async () => {
    const r = await get(`/frugal/spend/batches?ids=${mine.id},${theirs.id},batch_unknown`);
    assert.equal(r.status, 200, r.text);
    const by = Object.fromEntries(r.json.data.map((b) => [b.batch_id, b]));
    assert.deepEqual(Object.keys(by).sort(), [mine.id, theirs.id].sort(), 'a batch without rows is left out');
    for (const b of [mine, theirs]) {
      const t = truth(b.id);
      const got = by[b.id];
      assert.equal(got.requests, t.requests);
      assert.equal(got.cost_usd, t.cost_usd);
      assert.equal(got.saved_batch_usd, t.saved_batch_usd);
      assert.equal(got.realtime_usd, t.realtime_usd);
      assert.ok(got.cost_usd > 0 && got.saved_batch_usd > 0, JSON.stringify(got));
      assert.ok(got.realtime_usd > got.cost_usd);
    }
    assert.equal(by[mine.id].requests, 3);
    assert.equal(by[mine.id].mode, 'provider');
    assert.equal(by[theirs.id].requests, 2);
  });

  test('a virtual key gets only its own batch; bad ids name the parameter; no key is refused', async () => {
    const r = await get(`/frugal/spend/batches?ids=${mine.id},${theirs.id}`, keyA.key);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data.map((b) => b.batch_id), [mine.id]);
    for (const q of ['', 'ids=', `ids=${mine.id},,x`, 'ids=a%27b', `ids=${'x'.repeat(65)}`,
      `ids=${Array.from({ length: 101 }, (_, i) => `b${i}`).join(',')}`]) {
      const bad = await get(`/frugal/spend/batches?${q}`);
      assert.equal(bad.status, 400, q);
      assert.equal(bad.json.error.param, 'ids', q);
    }
    assert.equal((await get(`/frugal/spend/batches?ids=${mine.id}`, null)).status, 401);
  });
});

describe('the batches view in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dashbatch');

  async function batchesView(key) {
    const { p, problems } = await signedIn(ui.browser, fr.url, key);
    await showView(p, 'batches?range=24h');
    return { p, rows: await tableRows(p, 'batches'), problems };
  }

  test('cost, real-time price and saving per batch next to progress and mode', { timeout: 60000 }, async () => {
    const { p, rows, problems } = await batchesView(MASTER);
    assert.equal(rows.length, 2);
    for (const b of [mine, theirs]) {
      const row = rows.find((r) => r.id === b.id);
      assert.ok(row, `${b.id} in ${JSON.stringify(rows)}`);
      const t = truth(b.id);
      assert.equal(Number(row.cost_usd), t.cost_usd);
      assert.equal(Number(row.realtime_usd), t.realtime_usd);
      assert.equal(Number(row.saved_batch_usd), t.saved_batch_usd);
      assert.match(row.progress, new RegExp(`^${t.requests}/${t.requests}`));
      assert.equal(row.mode, 'provider', 'every line through the provider\'s batch API');
    }
    await screenshot(p, 'batches-spend.png');
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('a virtual key sees its own batch and its cost only', { timeout: 60000 }, async () => {
    const { p, rows, problems } = await batchesView(keyA.key);
    assert.deepEqual(rows.map((r) => r.id), [mine.id]);
    assert.equal(Number(rows[0].cost_usd), truth(mine.id).cost_usd);
    await p.close();
    assert.deepEqual(problems, []);
  });
});
