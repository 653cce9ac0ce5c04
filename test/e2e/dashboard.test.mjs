// dashboard.test.mjs — the spend dashboard (issue #20): its API
// (GET /frugal/spend/timeseries from the per-minute rollups), the page
// served from the binary with a strict CSP, who may read what, and the page
// itself in a real browser (Debian's chromium driven by puppeteer-core):
// every view renders numbers equal to /frugal/spend from real calls, filters
// change them, the live view updates, a virtual key sees only its own calls,
// untrusted bytes are shown as text.  Screenshots go to build/ui-shots/.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { call, ledgerFlushed, metrics, openai, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = resolve(here, '..', '..', 'build', 'ui-shots');
const MASTER = 'fg-dash-master-5a1d';
const dir = tempDir('frugal-dash-');
const config = {
  server: { workers: 2, master_key: MASTER },
  storage: `sqlite:${join(dir, 'frugal.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
  ],
};

let fr, keyA, keyB, written = 0;

async function createKey(name) {
  const r = await call(fr, '/frugal/keys', { body: { name } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function chat(key, model, text) {
  await openai(fr, { apiKey: key }).chat.completions.create({
    model, max_tokens: 16, messages: [{ role: 'user', content: text }],
  });
  written++;
}

before(async () => {
  fr = await startFrugal({ name: 'frugal-dash', config, cwd: dir });
  keyA = await createKey('team-a');
  keyB = await createKey('team-b');
  for (let i = 0; i < 3; i++) await chat(MASTER, 'gpt-4o', `master question ${i}`);
  for (let i = 0; i < 4; i++) await chat(keyA.key, 'gpt-4o-mini', `a question ${i}`);
  for (let i = 0; i < 2; i++) await chat(keyB.key, 'gpt-4o', `b question ${i}`);
  await ledgerFlushed(fr, written);
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path, key = MASTER) => call(fr, path, { method: 'GET', key });

describe('GET /frugal/spend/timeseries', () => {
  test('totals equal /frugal/spend over the same minute-aligned window', async () => {
    const ts = await get('/frugal/spend/timeseries?since=1h&group=model');
    assert.equal(ts.status, 200, ts.text);
    const { since, until, totals } = ts.json;
    assert.match(since, /:00Z$/);
    assert.match(until, /:00Z$/);
    const sp = await get(`/frugal/spend?since=${since}&until=${until}`);
    assert.equal(sp.status, 200, sp.text);
    assert.equal(totals.requests, written);
    assert.equal(totals.requests, sp.json.requests);
    assert.equal(totals.cost_usd, sp.json.cost_usd);
    assert.equal(totals.baseline_usd, sp.json.baseline_usd);
    assert.deepEqual(totals.saved_by, sp.json.saved_by);
    assert.deepEqual(totals.tokens, sp.json.tokens);
    // the points add up to the totals, the groups too
    const sum = ts.json.points.reduce((n, p) => n + p.requests, 0);
    assert.equal(sum, written);
    const models = Object.fromEntries(ts.json.groups.map((g) => [g.key, g.requests]));
    assert.deepEqual(models, { 'gpt-4o': 5, 'gpt-4o-mini': 4 });
    // latency comes from histogram buckets
    assert.equal(totals.latency.counts.reduce((a, b) => a + b, 0), written);
    assert.ok(totals.latency.p50_ms > 0);
  });

  test('a virtual key sees only its own calls; another key is refused', async () => {
    const mine = await get('/frugal/spend/timeseries?since=1h&group=key', keyA.key);
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.json.totals.requests, 4);
    assert.deepEqual(mine.json.groups.map((g) => g.key), [keyA.id]);
    const other = await get(`/frugal/spend/timeseries?since=1h&key=${keyB.id}`, keyA.key);
    assert.equal(other.status, 403, other.text);
    assert.match(other.json.error.message, /only its own/);
    const admin = await get(`/frugal/spend/timeseries?since=1h&key=${keyB.id}`);
    assert.equal(admin.json.totals.requests, 2);
  });

  test('no key or a wrong key is refused; bad parameters name themselves', async () => {
    assert.equal((await get('/frugal/spend/timeseries', null)).status, 401);
    assert.equal((await get('/frugal/spend/timeseries', 'fg-wrong-key')).status, 401);
    for (const [q, what] of [['since=yesterdayish', "'since'"], ['step=7s', "'step'"],
      ['group=tag', "'group'"], ['since=30d&step=1m', 'Too many points']]) {
      const r = await get(`/frugal/spend/timeseries?${q}`);
      assert.equal(r.status, 400, q);
      assert.ok(r.json.error.message.includes(what), `${q}: ${r.json.error.message}`);
    }
  });
});

describe('the page', () => {
  test('/ redirects to the dashboard; every asset has a strict CSP and no inline script', async () => {
    const r = await fetch(`${fr.url}/`, { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/frugal/ui/');
    const page = await fetch(`${fr.url}/frugal/ui/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const csp = page.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    // every <script> has a src (no inline code), and no inline handlers or styles
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1], /\bsrc=/);
      assert.equal(m[2].trim(), '');
    }
    assert.doesNotMatch(html, /\son[a-z]+=/i);
    assert.doesNotMatch(html, /<style|style=/i);
    for (const f of ['app.js', 'app.css', 'uPlot.min.js', 'uPlot.min.css']) {
      const a = await fetch(`${fr.url}/frugal/ui/${f}`);
      assert.equal(a.status, 200, f);
      assert.match(a.headers.get('content-security-policy'), /default-src 'none'/);
      assert.ok((await a.text()).length > 100, f);
    }
    assert.equal((await fetch(`${fr.url}/frugal/ui/nope.js`)).status, 404);
    assert.equal((await fetch(`${fr.url}/frugal/ui/`, { method: 'POST', body: 'x' })).status, 405);
  });
});
