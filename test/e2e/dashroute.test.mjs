// dashroute.test.mjs — the dashboard's routing view: escalations and their
// reasons over time, from the rollups (issue #20).  A route's cheap model
// (a recorder) answers empty twice and refuses once; frugal escalates each
// to the frontier model, and the router's reason is counted per reason in
// the rollups: GET /frugal/spend/timeseries has them in its totals, points
// and groups, equal to /frugal/spend's escalation count.  A ledger whose
// rollups predate the reasons (rollup migration 2 not applied) gains them
// at the next start, the stored rows folded in.  In a real browser the
// routing view shows the reasons table and chart.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { call, ledgerFlushed, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { NO_CHROMIUM, screenshot, showView, signedIn, testidValue, useBrowser } from './lib/dashui.mjs';
import { startRecorder } from './lib/recorder.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));
const MASTER = 'fg-dashroute-master-91bc';
const dir = tempDir('frugal-dashroute-');
const db = join(dir, 'frugal.db');

let rec, fr, written = 0;

const config = () => ({
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${db}`,
  providers: [
    { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
    { name: 'sim', type: 'sim' },
  ],
  models: [
    { name: 'rec-mini', provider: 'rec', model: 'gpt-4o-mini' },
    { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
  ],
  routes: [{ name: 'auto', cheap: 'rec-mini', frontier: 'gpt-4o', weights: WEIGHTS,
    frontier_share: 0, escalate_on: ['empty', 'refusal', 'truncated'] }],
});

const REFUSAL = {
  id: 'chatcmpl-r', object: 'chat.completion', created: 1764000000, model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: "I can't help with that." }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 },
};

async function routed(content, expectRoute) {
  const r = await call(fr, '/v1/chat/completions', {
    key: MASTER, body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-frugal-route'), expectRoute);
  written += expectRoute === 'escalated' ? 2 : 1; // an escalation: the cheap attempt and the frontier answer
}

const get = (path) => call(fr, path, { method: 'GET', key: MASTER });

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({ name: 'frugal-dashroute', config: config(), cwd: dir });
  rec.queue({ text: '' });
  await routed('first question', 'escalated');
  rec.queue({ text: '' });
  await routed('second question', 'escalated');
  rec.queue({ status: 200, body: REFUSAL });
  await routed('third question', 'escalated');
  await routed('What is the capital of France?', 'cheap');
  await ledgerFlushed(fr, written);
});

after(async () => {
  await fr?.stop();
  await rec?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const REASONS = { empty: 2, refusal: 1, truncated: 0, invalid_schema: 0, retry: 0, other: 0 };

async function checkReasons() {
  const ts = await get('/frugal/spend/timeseries?since=1h&group=route');
  assert.equal(ts.status, 200, ts.text);
  const { totals, points, groups, since, until } = ts.json;
  assert.equal(totals.escalations.count, 3);
  assert.deepEqual(totals.escalations.by_reason, REASONS);
  // the points add up to the totals, reason by reason
  const sum = {};
  for (const p of points) for (const [k, v] of Object.entries(p.escalations.by_reason)) sum[k] = (sum[k] ?? 0) + v;
  assert.deepEqual(sum, REASONS);
  // escalations are the calls of the escalated tier
  const esc = groups.find((g) => g.key === 'escalated');
  assert.equal(esc.requests, 3);
  assert.deepEqual(esc.escalations.by_reason, REASONS);
  assert.equal(groups.find((g) => g.key === 'cheap').escalations.count, 0);
  // the same count as the spend map over the same window
  const sp = await get(`/frugal/spend?since=${since}&until=${until}`);
  assert.equal(sp.json.escalations.count, totals.escalations.count);
  return ts.json;
}

describe('escalations and their reasons in the rollups', () => {
  test('GET /frugal/spend/timeseries counts escalations per reason, in totals, points and groups', async () => {
    await checkReasons();
  });

  test('a ledger whose rollups predate the reasons gains them at the next start, stored rows folded in', async () => {
    await fr.stop();
    // back to rollup migration 1: no escalation or refusal columns, no migrations table
    const cols = ['escalations', 'esc_empty', 'esc_refusal', 'esc_truncated', 'esc_invalid_schema', 'esc_retry',
      'refused_rate_limit', 'refused_budget'];
    const sql = ['DROP TABLE rollup_migrations;'];
    for (const t of ['rollup_minute', 'rollup_hour', 'rollup_day']) for (const c of cols) sql.push(`ALTER TABLE ${t} DROP COLUMN ${c};`);
    execFileSync('sqlite3', [db, sql.join(' ')]);
    fr = await startFrugal({ name: 'frugal-dashroute-2', config: config(), cwd: dir });
    await checkReasons();
    const applied = execFileSync('sqlite3', [db, 'SELECT version FROM rollup_migrations ORDER BY version'], { encoding: 'utf8' });
    assert.deepEqual(applied.trim().split('\n'), ['1', '2', '3', '4']);
  });
});

describe('the routing view in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dashroute');

  test('escalations by reason: a table equal to the API and a chart over time', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    await showView(p, 'routing?range=1h');
    assert.equal(await testidValue(p, 'escalations'), 3);
    const rows = await p.$$eval('table[data-testid="escalation-reasons"] tbody tr', (trs) => trs.map((tr) =>
      [tr.querySelector('td[data-col="reason"]').textContent, Number(tr.querySelector('td[data-col="count"]').dataset.value)]));
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(REASONS).filter(([, v]) => v > 0)));
    const titles = await p.$$eval('#main .panel h2', (hs) => hs.map((h) => h.textContent));
    assert.ok(titles.includes('Escalations by reason'), titles.join(' | '));
    await screenshot(p, 'routing-escalations.png');
    await p.close();
    assert.deepEqual(problems, []);
  });
});
