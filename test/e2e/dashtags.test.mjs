// dashtags.test.mjs — the dashboard's tag filter (issue #20).  Key tags are
// set by the operator on a key (bounded): they filter every rollup view at
// any range (GET /frugal/spend/timeseries?tag=k=v: the calls of the keys
// carrying that tag).  Header tags (x-frugal-tags, client-supplied and
// unbounded) are not in the rollups: only raw rows show them, for ranges up
// to 24 h, and the page says so.  Calls are placed 10 days ago too (a debug
// build's FRUGAL_LEDGER_TS_SHIFT_MS) so the 30-day filter reads the day
// rollups.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { call, ledgerFlushed, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { NO_CHROMIUM, goTo, noPageError, screenshot, signedIn, testidValue, useBrowser } from './lib/dashui.mjs';

const MASTER = 'fg-dashtags-master-8d1e';
const dir = tempDir('frugal-dashtags-');
const config = {
  server: { workers: 1, master_key: MASTER },
  storage: `sqlite:${join(dir, 'frugal.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'gpt-4o', provider: 'sim', dialect: 'openai' }],
};

let fr, a, b, ads;

async function chat(f, key, n, headers = {}) {
  for (let i = 0; i < n; i++) {
    const r = await call(f, '/v1/chat/completions', {
      key, headers, body: { model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: `tagged call ${i}` }] },
    });
    assert.equal(r.status, 200, r.text);
  }
}

before(async () => {
  // ten days ago: the keys are made, search-a calls once
  const old = await startFrugal({ name: 'frugal-dashtags-old', config, cwd: dir, env: { FRUGAL_LEDGER_TS_SHIFT_MS: String(10 * 86400000) } });
  const mk = async (body) => {
    const r = await call(old, '/frugal/keys', { body, key: MASTER });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  a = await mk({ name: 'search-a', tags: 'team=search' });
  b = await mk({ name: 'search-b', tags: 'team=search, env=prod' });
  ads = await mk({ name: 'ads', tags: 'team=ads' });
  await chat(old, a.key, 1);
  await ledgerFlushed(old, 1);
  await old.stop();
  fr = await startFrugal({ name: 'frugal-dashtags', config, cwd: dir });
  await chat(fr, a.key, 2);
  await chat(fr, b.key, 3);
  await chat(fr, ads.key, 4);
  // the master key's header tag says team=search: a header tag, not a key's
  await chat(fr, MASTER, 1, { 'x-frugal-tags': 'team=search' });
  await ledgerFlushed(fr, 10);
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path, key = MASTER) => call(fr, path, { method: 'GET', key });
const tsq = (q, key) => get(`/frugal/spend/timeseries?${q}`, key);

describe('the key-tag filter over the rollups', () => {
  test('tag=k=v counts the calls of the keys carrying it, at 1h and at 30d, per key', async () => {
    for (const [q, n] of [['since=1h&tag=team%3Dsearch', 5], ['since=30d&tag=team%3Dsearch', 6], ['since=24h&tag=team%3Dads', 4],
      ['since=7d&tag=env%3Dprod', 3], ['since=30d&tag=team%3Dnobody', 0], ['since=30d', 11]]) {
      const ts = await tsq(q);
      assert.equal(ts.status, 200, ts.text);
      assert.equal(ts.json.totals.requests, n, q);
      assert.equal(ts.json.points.reduce((s, p) => s + p.requests, 0), n, `${q}: points`);
    }
    const g = await tsq('since=30d&tag=team%3Dsearch&group=key');
    assert.deepEqual(Object.fromEntries(g.json.groups.map((x) => [x.key, x.requests])), { [a.id]: 3, [b.id]: 3 });
    assert.equal(g.json.tag, 'team=search');
    // = the spend map of those keys over the same window
    let cost = 0;
    for (const k of [a, b]) cost += (await get(`/frugal/spend?since=${g.json.since}&until=${g.json.until}&key=${k.id}`)).json.cost_usd;
    assert.equal(Math.round(g.json.totals.cost_usd * 1e6), Math.round(cost * 1e6));
  });

  test('a virtual key: the tag narrows its own calls only; a bad tag names itself', async () => {
    assert.equal((await tsq('since=30d&tag=team%3Dsearch', a.key)).json.totals.requests, 3);
    assert.equal((await tsq('since=30d&tag=team%3Dads', a.key)).json.totals.requests, 0);
    for (const t of ['nope', '=x', 'a%3D', `k%3D${'v'.repeat(300)}`]) {
      const r = await tsq(`since=1h&tag=${t}`);
      assert.equal(r.status, 400, t);
      assert.equal(r.json.error.param, 'tag', t);
    }
  });
});

describe('the tag filter in a real browser', { skip: NO_CHROMIUM }, () => {
  const ui = useBrowser('dashtags');

  test('the tag filter changes every rollup view at any range; header tags are said to be raw rows, 24 h at most', { timeout: 90000 }, async () => {
    const { p, problems } = await signedIn(ui.browser, fr.url, MASTER, { width: 1400 });
    // waits on the whole hash (tag filters included), not only the view name
    const view = async (hash) => {
      await goTo(p, hash);
      await p.waitForFunction((v) => {
        const m = document.getElementById('main');
        return m && location.hash === `#${v}` && m.dataset.ready === '1';
      }, { timeout: 15000 }, hash);
      await noPageError(p, hash);
    };
    const value = (id) => testidValue(p, id);
    await view('overview?range=30d');
    assert.equal(await value('requests'), 11);
    // typed into the tag filter, as a person would
    await p.type('#tag-filter-global', 'team=search');
    await p.evaluate(() => { document.getElementById('main').dataset.ready = '0'; }); /* stale until re-rendered */
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => location.hash.includes('tag=team') && document.getElementById('main').dataset.ready === '1', { timeout: 15000 });
    assert.equal(await value('requests'), 6);
    await screenshot(p, 'tag-filter.png');
    await view('overview?range=1h&tag=team%3Dsearch');
    assert.equal(await value('requests'), 5);
    await view('breakdowns?range=30d&tag=team%3Dsearch&dim=key');
    const keys = await p.$$eval('table[data-testid="breakdown"] td[data-col="key"]', (t) => t.map((x) => x.textContent).sort());
    assert.deepEqual(keys, [a.id, b.id].sort());
    await view('routing?range=7d&tag=team%3Dads');
    const tiers = await p.$$eval('table[data-testid="tiers"] td[data-col="requests"]', (t) => t.map((x) => Number(x.dataset.value)));
    assert.equal(tiers.reduce((s, x) => s + x, 0), 4);
    // header tags: raw rows, at most 24 h, and the page says so
    await view('breakdowns?range=30d&dim=tag');
    const note = await p.$eval('#main', (m) => m.textContent);
    assert.match(note, /header tags/i);
    assert.match(note, /24h/);
    await p.close();
    assert.deepEqual(problems, []);
  });
});
