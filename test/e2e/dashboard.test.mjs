// dashboard.test.mjs — the spend dashboard (issue #20): its API
// (GET /frugal/spend/timeseries from the per-minute rollups), the page
// served from the binary with a strict CSP, who may read what, and the page
// itself in a real browser (Debian's chromium driven by puppeteer-core):
// every view renders numbers equal to /frugal/spend from real calls, filters
// change them, the live view updates, a virtual key sees only its own calls,
// untrusted bytes are shown as text.  Screenshots go to build/ui-shots/.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, ledgerFlushed, openai, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { NO_CHROMIUM, newPage, screenshot, showView, signedIn, signIn, tableCells, tableRows, testidValue, useBrowser } from './lib/dashui.mjs';

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

async function createKey(name, extra = {}) {
  const r = await call(fr, '/frugal/keys', { body: { name, ...extra } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function chat(key, model, text) {
  await openai(fr, { apiKey: key }).chat.completions.create({
    model, max_tokens: 16, messages: [{ role: 'user', content: text }],
  });
  written++;
}

/* A long stable system prompt (cacheable) with text that changes on every
 * call at its top: frugal's cache-buster detector reports it, with a
 * sample of the changing bytes (here markup, which the page must show as text). */
const RULES = Array.from({ length: 160 }, (_, i) => `Rule ${i}: answer politely, cite the section.`).join(' ');
const EVIL = (i) => `<img src=x data-i=${i} onerror="window.__pwned=1"><b>${i}</b>`;

before(async () => {
  fr = await startFrugal({ name: 'frugal-dash', config, cwd: dir });
  keyA = await createKey('team-a', { budget: '5/day' });
  keyB = await createKey('team-b');
  for (let i = 0; i < 3; i++) await chat(MASTER, 'gpt-4o', `master question ${i}`);
  for (let i = 0; i < 4; i++) await chat(keyA.key, 'gpt-4o-mini', `a question ${i}`);
  for (let i = 0; i < 2; i++) await chat(keyB.key, 'gpt-4o', `b question ${i}`);
  for (let i = 0; i < 5; i++) {
    await openai(fr, { apiKey: MASTER }).chat.completions.create({
      model: 'gpt-4o', max_tokens: 8,
      messages: [{ role: 'system', content: `Request ${EVIL(i)}. ${RULES}` }, { role: 'user', content: `q ${i}` }],
    });
    written++;
  }
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
    assert.deepEqual(models, { 'gpt-4o': 10, 'gpt-4o-mini': 4 });
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

  test('GET /frugal/calls: the latest calls; a virtual key gets only its own; no key is refused', async () => {
    const all = await get('/frugal/calls?limit=200');
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.data.length, written);
    assert.ok(all.json.data.every((c, i, a) => i === 0 || a[i - 1].ts >= c.ts), 'newest first');
    const mine = await get('/frugal/calls', keyB.key);
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual([...new Set(mine.json.data.map((c) => c.key_id))], [keyB.id]);
    assert.equal(mine.json.data.length, 2);
    assert.equal((await get('/frugal/calls', null)).status, 401);
    assert.equal((await get('/frugal/calls?limit=0')).status, 400);
    assert.equal((await get('/frugal/calls?limit=201')).status, 400);
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

// ------------------------------------------------------------ browser ----

describe('the dashboard in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dash');
  const value = testidValue;
  const cells = tableCells;

  test('the master key: every view renders numbers from real calls, equal to /frugal/spend', { timeout: 90000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    await showView(p, 'overview?range=24h');
    assert.match(await p.$eval('#who', (e) => e.textContent), /master/);
    const ts = await get('/frugal/spend/timeseries?since=24h');
    const sp = (await get(`/frugal/spend?since=${ts.json.since}&until=${ts.json.until}`)).json;
    assert.equal(await value(p, 'requests'), sp.requests);
    assert.equal(await value(p, 'cost_usd'), sp.cost_usd);
    assert.equal(await value(p, 'baseline_usd'), sp.baseline_usd);
    assert.equal(await value(p, 'saved_usd'), sp.saved_usd);
    assert.ok(sp.cost_usd > 0 && sp.requests === written);
    assert.equal(await p.$$eval('#main .panel .uplot canvas', (c) => c.length), 3, 'three charts on the overview');
    await screenshot(p, 'overview.png');

    await showView(p, 'breakdowns?range=24h&dim=model');
    assert.deepEqual((await cells(p, 'breakdown', 'key')).sort(), ['gpt-4o', 'gpt-4o-mini']);
    await screenshot(p, 'breakdowns.png');
    await showView(p, 'caching?range=24h');
    await screenshot(p, 'caching.png');
    await showView(p, 'routing?range=24h');
    await screenshot(p, 'routing.png');
    await showView(p, 'keys?range=24h');
    const names = await cells(p, 'keys', 'name');
    assert.ok(names.includes('team-a') && names.includes('team-b'), names.join());
    // team-a's budget: its day's spend (= its spend: all calls are from today,
    // unless the test straddles midnight UTC) against the $5 limit
    const row = await tableRows(p, 'keys');
    const a = row.find((r) => r.name === 'team-a');
    assert.equal(Number(a.limit), 5);
    const aSpent = (await get(`/frugal/spend/timeseries?since=${new Date().toISOString().slice(0, 10)}&key=${keyA.id}`)).json.totals.cost_usd;
    assert.equal(Number(a.spent), aSpent);
    assert.ok(aSpent > 0);
    assert.equal(row.find((r) => r.name === 'team-b').limit, 'none');
    await screenshot(p, 'keys.png');
    await showView(p, 'batches?range=24h');
    assert.ok(await p.$('table[data-testid="batches"]'));
    await screenshot(p, 'batches.png');
    await showView(p, 'live?range=24h');
    assert.equal(await p.$eval('table[data-testid="live"]', (t) => Number(t.dataset.count)), Math.min(written, 50));
    await screenshot(p, 'live.png');
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('filters change the numbers; a view is linkable by URL; sorting by a column', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    await showView(p, `overview?range=24h&key=${keyA.id}`);
    assert.equal(await value(p, 'requests'), 4, 'the key filter');
    await showView(p, `overview?range=24h&key=${keyB.id}`);
    assert.equal(await value(p, 'requests'), 2);
    // the range: a 1-hour and a 30-day window are different windows (all calls are recent)
    await showView(p, 'overview?range=30d');
    const wide = await p.$eval('#main h2', (e) => e.textContent);
    await showView(p, 'overview?range=1h');
    assert.notEqual(await p.$eval('#main h2', (e) => e.textContent), wide);
    assert.equal(await p.$eval('#range', (e) => e.value), '1h');
    // a breakdown opened from its URL in a fresh tab (signed in through sessionStorage)
    await showView(p, 'breakdowns?range=24h&dim=key&sort=requests');
    const keys = await cells(p, 'breakdown', 'key');
    assert.deepEqual(keys, ['master', keyA.id, keyB.id], 'by requests: 8, 4, 2');
    await p.click('th[data-col="key"]');
    await p.waitForFunction(() => location.hash.includes('sort=key'));
    await showView(p, p.url().split('#')[1]);
    assert.deepEqual(await cells(p, 'breakdown', 'key'), [keyA.id, keyB.id, 'master'].sort());
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('the live view updates after a new call, without a reload', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    await showView(p, 'live');
    const first = await p.$eval('table[data-testid="live"] td[data-col="model"]', (e) => e.textContent);
    await chat(MASTER, 'gpt-4o-mini', 'a new call for the live view');
    await ledgerFlushed(fr, written);
    await p.waitForFunction(() => {
      const rows = document.querySelectorAll('table[data-testid="live"] tbody tr');
      return rows.length && rows[0].querySelector('td[data-col="model"]').textContent === 'gpt-4o-mini';
    }, { timeout: 15000 });
    assert.equal(first, 'gpt-4o', 'the newest call before was a gpt-4o one');
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('a virtual key sees only its own calls, whatever the URL asks', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, keyA.key);
    await showView(p, 'overview?range=24h');
    assert.match(await p.$eval('#who', (e) => e.textContent), new RegExp(keyA.id));
    assert.equal(await value(p, 'requests'), 4);
    assert.equal(await p.$eval('#key-filter-label', (e) => e.hidden), true);
    await showView(p, `overview?range=24h&key=${keyB.id}`);
    assert.equal(await value(p, 'requests'), 4, "another key's id in the URL is ignored");
    await showView(p, 'breakdowns?dim=key');
    assert.deepEqual(await cells(p, 'breakdown', 'key'), [keyA.id]);
    await showView(p, 'live');
    const keys = new Set(await cells(p, 'live', 'key_id'));
    assert.deepEqual([...keys], [keyA.id]);
    await screenshot(p, 'virtual-key.png');
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('a wrong key gets a clear message and no data', { timeout: 30000 }, async () => {
    const { p, problems } = await newPage(ui.browser);
    await signIn(p, fr.url, 'fg-not-a-key');
    await p.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
    const msg = await p.$eval('#signin-error', (e) => e.textContent);
    assert.match(msg, /not accepted/);
    assert.match(msg, /Invalid API key/);
    assert.equal(await p.$eval('#app', (e) => e.hidden), true);
    await screenshot(p, 'wrong-key.png', { fullPage: false });
    // the 401 is the page's expected answer: drop the browser's own log line about it
    for (let i = problems.length - 1; i >= 0; i--) if (/401/.test(problems[i])) problems.splice(i, 1);
    await p.close();
    assert.deepEqual(problems, []);
  });

  test('prompt bytes in the cache-buster view are shown as text, never run', { timeout: 30000 }, async () => {
    const sp = (await get('/frugal/spend?since=24h')).json;
    assert.ok(sp.cache_busters.length >= 1, JSON.stringify(sp.cache_busters));
    assert.match(sp.cache_busters[0].sample, /<img|<b>|onerror/);
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    await showView(p, 'caching?range=24h');
    const samples = await cells(p, 'busters', 'sample');
    assert.ok(samples.some((t) => t === sp.cache_busters[0].sample), samples.join(' | '));
    assert.equal(await p.$$eval('#main img', (x) => x.length), 0, 'no element made from the bytes');
    assert.equal(await p.$$eval('table[data-testid="busters"] b', (x) => x.length), 0);
    assert.equal(await p.evaluate(() => window.__pwned), undefined);
    await p.close();
    assert.deepEqual(problems, []);
  });
});
