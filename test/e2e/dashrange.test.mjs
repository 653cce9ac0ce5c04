// dashrange.test.mjs — the dashboard's time ranges (issue #20): calls placed
// at known times change the numbers the right way.  The same ledger is
// written by four daemons in turn, each stamping its records a known time
// in the past (FRUGAL_LEDGER_TS_SHIFT_MS, honoured by debug builds only):
// 2 calls 3 hours ago, 3 calls 2 days ago, 4 calls 20 days ago, 1 call now.
// Through the real store (rollups kept by the writer), the 1 h / 24 h / 7 d
// / 30 d totals are 1 / 3 / 6 / 10 calls and equal /frugal/spend over the
// same windows; the page's overview shows the same numbers per range.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, ledgerFlushed, openai, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { NO_CHROMIUM, noPageError, screenshot, signedIn, testidValue, useBrowser } from './lib/dashui.mjs';

const MASTER = 'fg-dashrange-master-3f0a';
const dir = tempDir('frugal-dashrange-');
const HOUR = 3600000;
const config = {
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${join(dir, 'frugal.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'gpt-4o', provider: 'sim', dialect: 'openai' }],
};

// [how long ago, how many calls]: what each range must count
const PLACED = [[3 * HOUR, 2], [48 * HOUR, 3], [20 * 24 * HOUR, 4], [0, 1]];
const EXPECT = { '1h': 1, '24h': 3, '7d': 6, '30d': 10 };

let fr;

async function placeCalls(shiftMs, n, name) {
  const f = await startFrugal({ name, config, cwd: dir, env: shiftMs ? { FRUGAL_LEDGER_TS_SHIFT_MS: String(shiftMs) } : {} });
  for (let i = 0; i < n; i++) {
    await openai(f, { apiKey: MASTER }).chat.completions.create({
      model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: `call ${i} placed ${shiftMs} ms ago` }],
    });
  }
  return f;
}

before(async () => {
  for (const [ago, n] of PLACED) {
    const f = await placeCalls(ago, n, `frugal-dashrange-${ago}`);
    await ledgerFlushed(f, n); // this daemon's own records
    if (ago) await f.stop();
    else fr = f;
  }
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path) => call(fr, path, { method: 'GET', key: MASTER });

describe('time ranges over calls placed at known times', () => {
  test('1h, 24h, 7d and 30d totals count the calls in each window and equal /frugal/spend over it', async () => {
    for (const [range, n] of Object.entries(EXPECT)) {
      const ts = await get(`/frugal/spend/timeseries?since=${range}`);
      assert.equal(ts.status, 200, ts.text);
      assert.equal(ts.json.totals.requests, n, `${range}: ${ts.json.since} .. ${ts.json.until}`);
      assert.equal(ts.json.points.reduce((a, p) => a + p.requests, 0), n, `${range}: the points`);
      const sp = await get(`/frugal/spend?since=${ts.json.since}&until=${ts.json.until}`);
      assert.equal(sp.status, 200, sp.text);
      assert.equal(sp.json.requests, n, range);
      assert.equal(sp.json.cost_usd, ts.json.totals.cost_usd, range);
      assert.equal(sp.json.baseline_usd, ts.json.totals.baseline_usd, range);
      assert.ok(ts.json.totals.cost_usd > 0, range);
    }
    // the wider window costs more: the older calls are in it
    const c = {};
    for (const r of Object.keys(EXPECT)) c[r] = (await get(`/frugal/spend/timeseries?since=${r}`)).json.totals.cost_usd;
    assert.ok(c['1h'] < c['24h'] && c['24h'] < c['7d'] && c['7d'] < c['30d'], JSON.stringify(c));
  });
});

describe('the overview per range in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dashrange');

  test('the range changes the numbers: each equal to /frugal/spend over its window', { timeout: 60000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER);
    for (const [range, n] of Object.entries(EXPECT)) {
      // through the range selector, as a person would
      await p.select('#range', range);
      await p.waitForFunction((r) => {
        const m = document.getElementById('main');
        return location.hash.includes(`range=${r}`) && m.dataset.view === 'overview' && m.dataset.ready === '1';
      }, { timeout: 15000 }, range);
      await noPageError(p, range);
      const value = (id) => testidValue(p, id);
      assert.equal(await value('requests'), n, range);
      const ts = (await get(`/frugal/spend/timeseries?since=${range}`)).json;
      const sp = (await get(`/frugal/spend?since=${ts.since}&until=${ts.until}`)).json;
      assert.equal(await value('cost_usd'), sp.cost_usd, range);
      assert.equal(await value('baseline_usd'), sp.baseline_usd, range);
      if (range === '7d') await screenshot(p, 'overview-7d.png');
    }
    await p.close();
    assert.deepEqual(problems, []);
  });
});
