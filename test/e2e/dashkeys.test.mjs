// dashkeys.test.mjs — the dashboard's keys view (issue #20): refusals per
// key over the range.  frugal refuses a call at admission for a key's rate
// limit (429 rate_limit_exceeded) or budget (429 budget_exceeded); only a
// holder of a valid key can be refused so (a request without a valid key is
// refused at the head, before any call or ledger row exists), so each
// refusal's ledger row — kept as before — is counted in the rollups by kind:
// GET /frugal/spend/timeseries?group=key has them per key, equal to the
// ledger's own rows, and the keys view shows them.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, ledgerFlushed, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { NO_CHROMIUM, screenshot, showView, signedIn, tableRows, useBrowser } from './lib/dashui.mjs';

const MASTER = 'fg-dashkeys-master-0c4b';
const dir = tempDir('frugal-dashkeys-');
const db = join(dir, 'frugal.db');
const config = {
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${db}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'gpt-4o', provider: 'sim', dialect: 'openai' }],
};

let fr, rpm, tight, calm, written = 0;
const EXPECT = () => ({ [rpm.id]: { rate_limit: 3, budget: 0 }, [tight.id]: { rate_limit: 0, budget: 2 }, [calm.id]: { rate_limit: 0, budget: 0 } });

async function createKey(body) {
  const r = await call(fr, '/frugal/keys', { body, key: MASTER });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function chat(key, expect, extra = {}) {
  const r = await call(fr, '/v1/chat/completions', {
    key, body: { model: 'gpt-4o', max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }], ...extra },
  });
  assert.equal(r.status, expect, r.text);
  if (expect === 429) assert.match(r.json.error.code, /^(rate_limit_exceeded|budget_exceeded)$/);
  written++;
  return r;
}

before(async () => {
  fr = await startFrugal({ name: 'frugal-dashkeys', config, cwd: dir });
  rpm = await createKey({ name: 'rpm2', rpm: 2 });
  tight = await createKey({ name: 'tight', budget: '0.000001/day' });
  calm = await createKey({ name: 'calm' });
  await chat(rpm.key, 200);
  await chat(rpm.key, 200);
  for (let i = 0; i < 3; i++) await chat(rpm.key, 429);
  for (let i = 0; i < 2; i++) await chat(tight.key, 429);
  await chat(calm.key, 200);
  // no key and a wrong key: refused at the head, no call, no ledger row
  assert.equal((await call(fr, '/v1/chat/completions', { key: 'fg-nope', body: { model: 'gpt-4o', messages: [] } })).status, 401);
  await ledgerFlushed(fr, written);
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path, key = MASTER) => call(fr, path, { method: 'GET', key });

describe('refusals per key in the rollups', () => {
  test('rate-limit and budget refusals per key over the range, equal to the ledger rows', async () => {
    const ts = await get('/frugal/spend/timeseries?since=1h&group=key');
    assert.equal(ts.status, 200, ts.text);
    const by = Object.fromEntries(ts.json.groups.map((g) => [g.key, g.refusals]));
    for (const [id, want] of Object.entries(EXPECT())) assert.deepEqual(by[id], want, id);
    assert.deepEqual(ts.json.totals.refusals, { rate_limit: 3, budget: 2 });
    const sum = ts.json.points.reduce((a, p) => ({ rate_limit: a.rate_limit + p.refusals.rate_limit, budget: a.budget + p.refusals.budget }), { rate_limit: 0, budget: 0 });
    assert.deepEqual(sum, { rate_limit: 3, budget: 2 });
    // the ledger's own rows: one per refusal (the 401s have none)
    const rows = execFileSync('sqlite3', [db, 'SELECT key_id, count(*) FROM calls WHERE status = 429 GROUP BY key_id ORDER BY key_id'], { encoding: 'utf8' });
    assert.deepEqual(rows.trim().split('\n').sort(), [`${rpm.id}|3`, `${tight.id}|2`].sort());
    assert.equal(Number(execFileSync('sqlite3', [db, 'SELECT count(*) FROM calls'], { encoding: 'utf8' })), written);
  });

  test('a ledger whose rollups predate the refusals gains them at the next start, stored rows folded in', async () => {
    const before = (await get('/frugal/spend/timeseries?since=1h&group=key')).json.groups;
    await fr.stop();
    const sql = ["DELETE FROM rollup_migrations WHERE version >= 3;"];
    for (const t of ['rollup_minute', 'rollup_hour', 'rollup_day']) for (const c of ['refused_rate_limit', 'refused_budget']) sql.push(`ALTER TABLE ${t} DROP COLUMN ${c};`);
    execFileSync('sqlite3', [db, sql.join(' ')]);
    fr = await startFrugal({ name: 'frugal-dashkeys-2', config, cwd: dir });
    const after = (await get('/frugal/spend/timeseries?since=1h&group=key')).json.groups;
    assert.deepEqual(after, before);
    assert.deepEqual(Object.fromEntries(after.map((g) => [g.key, g.refusals]))[rpm.id], { rate_limit: 3, budget: 0 });
  });

  test('a virtual key sees its own refusals only', async () => {
    const mine = await get('/frugal/spend/timeseries?since=1h', rpm.key);
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.totals.refusals, { rate_limit: 3, budget: 0 });
  });
});

describe('the keys view in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dashkeys');

  test('rate-limit and budget refusals per key in the range', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER, { width: 1400 });
    await showView(p, 'keys?range=1h');
    const rows = await tableRows(p, 'keys');
    for (const [id, want] of Object.entries(EXPECT())) {
      const row = rows.find((r) => r.id === id);
      assert.ok(row, id);
      assert.equal(Number(row.refused_rate), want.rate_limit, `${row.name}: rate-limit refusals`);
      assert.equal(Number(row.refused_budget), want.budget, `${row.name}: budget refusals`);
    }
    await screenshot(p, 'keys-refusals.png');
    await p.close();
    assert.deepEqual(problems, []);
  });
});
