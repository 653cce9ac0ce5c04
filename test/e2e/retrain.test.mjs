// Retraining a route on its own labels in the daemon (issue #22 item 2):
// shadow evaluation's labels go to the store with the classifier's
// features, a route with retrain_every new labels gets a fitted version
// that is swapped in only when it beats the running weights on held-out
// labels, every version is kept (route history), an operator can roll
// back, a learned version survives a restart, and a pinned weights file
// never retrains.  The sim plays the judge (#sim:say=).
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFrugal, call, test, waitFor, tempDir, runFrugal } from './lib/frugal.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));
const EVERY = 20;

const config = (dir, route, learn = {}) => ({
  storage: `sqlite:${join(dir, 'ledger.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'gpt-4o', provider: 'sim' },
  ],
  routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o', ...route,
    learn: { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 5, retrain_every: EVERY, ...learn } }],
});

function sql(fr, q) {
  const out = execFileSync('sqlite3', ['-json', join(fr.dir, 'ledger.db'), q]).toString();
  return out.trim() ? JSON.parse(out) : [];
}
const labels = (fr) => sql(fr, `SELECT count(*) AS n FROM route_labels WHERE route = 'auto'`)[0].n;

async function history(fr) {
  const out = await runFrugal(['route', 'history', 'auto', '--json', '-c', fr.configFile]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout);
}

// One call a tier is forced for, labelled by the sim judge: "A" in both
// orders labels 0 (frontier better), "tie" labels 1 (cheap no worse).
async function teach(fr, i, content, say) {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: `${content} (${i}) #sim:say=${say}` }] }),
    headers: { 'x-frugal-route': 'cheap' },
  });
  assert.equal(r.status, 200, r.text);
}

// Where the classifier sends a prompt (its own sampled evaluation is
// harmless: a tie labels 1, counted in the store like any label).
async function tier(fr, content) {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: `${content} #sim:say=tie` }] }),
  });
  assert.equal(r.status, 200, r.text);
  return r.headers.get('x-frugal-route');
}

// The built-in weights send the long one to the frontier; this route's
// judge says the cheap answer is as good there, and not for the short one.
const ZEBRA = 'What colour is a zebra?';
const LEMON = 'Prove step by step that the lemon citrus sequence converges, derive its bounds, ' +
  'then implement a segmented sieve in C for it and analyze its complexity.';

async function teachAll(fr, n, from = 0) {
  for (let i = from; i < from + n; i++)
    await teach(fr, i, i % 2 ? LEMON : ZEBRA, i % 2 ? 'tie' : 'A');
}

describe('a route retrains on its own labels', () => {
  let fr, dir, before0;
  before(async () => {
    dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-retrain', config: config(dir, {}),
      env: { FRUGAL_ROUTER_WEIGHTS: WEIGHTS } });
  });
  after(async () => { await fr?.stop(); });

  test('labels are stored with features, not prompt text', async () => {
    before0 = await tier(fr, LEMON);
    assert.equal(before0, 'frontier', 'the built-in weights send the lemon prompt to the frontier');
    await teach(fr, 'x', LEMON, 'tie');
    await waitFor(() => labels(fr) >= 2, { timeoutMs: 20000, what: 'two labels stored' });
    const rows = sql(fr, `SELECT label, prompt, length(features) AS flen, n_buckets FROM route_labels`);
    for (const r of rows) {
      assert.equal(r.prompt, null);
      assert.ok(r.flen > 100, JSON.stringify(r));
    }
    assert.deepEqual((await history(fr)), []);
  });

  test('after retrain_every labels a better version is swapped in and decisions change', async () => {
    await teachAll(fr, EVERY);
    await waitFor(async () => (await history(fr)).length >= 1,
      { timeoutMs: 60000, what: 'a fitted version in route history' });
    const [v] = await history(fr);
    assert.equal(v.version, 1);
    assert.equal(v.accepted, true, JSON.stringify(v));
    assert.equal(v.active, true);
    // better on the held-out labels: APGR, then log loss when APGR ties
    assert.ok(v.apgr_after > v.apgr_before ||
      (v.apgr_after === v.apgr_before && v.loss_after < v.loss_before), JSON.stringify(v));
    assert.ok(v.held_out >= 4);
    await waitFor(async () => (await tier(fr, ZEBRA)) === 'frontier',
      { timeoutMs: 10000, what: 'the zebra prompt routed to the frontier' });
    assert.equal(await tier(fr, LEMON), 'cheap');
    const text = await runFrugal(['route', 'history', 'auto', '-c', fr.configFile]);
    assert.match(text.stdout, /^ +1 \* +\d+ labels .* accepted$/m);
  });

  test('a restart keeps the learned version', async () => {
    await fr.stop({ keepDir: true });
    fr = await startFrugal({ cwd: dir, name: 'frugal-retrain-2', config: config(dir, {}),
      env: { FRUGAL_ROUTER_WEIGHTS: WEIGHTS } });
    assert.equal(await tier(fr, ZEBRA), 'frontier');
    assert.equal(await tier(fr, LEMON), 'cheap');
  });

  test('rollback restores the built-in weights, and back again', async () => {
    let out = await runFrugal(['route', 'rollback', 'auto', '-c', fr.configFile]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /version 0 is active/);
    await waitFor(async () => (await tier(fr, LEMON)) === before0,
      { timeoutMs: 10000, what: 'the built-in decision back' });
    assert.equal((await history(fr))[0].active, false);
    out = await runFrugal(['route', 'rollback', 'auto', '7', '-c', fr.configFile]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no accepted version 7/);
    out = await runFrugal(['route', 'rollback', 'auto', '1', '-c', fr.configFile]);
    assert.equal(out.code, 0, out.stderr);
    await waitFor(async () => (await tier(fr, LEMON)) === 'cheap',
      { timeoutMs: 10000, what: 'version 1 running again' });
  });
});

describe('a route with a weights file is pinned', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-pinned',
      config: config(dir, { weights: WEIGHTS }, { store_prompts: true }) });
  });
  after(async () => { await fr?.stop(); });

  test('never retrains, however many labels it gathers', async () => {
    await teachAll(fr, EVERY);
    await waitFor(() => labels(fr) >= EVERY, { timeoutMs: 60000, what: 'the labels stored' });
    // the retrainer writes a label, then looks at the routes: one more
    // label stored means it has looked after the first EVERY
    await teach(fr, 'last', LEMON, 'tie');
    await waitFor(() => labels(fr) >= EVERY + 1, { timeoutMs: 20000, what: 'one more label' });
    assert.deepEqual(await history(fr), []);
    assert.equal(await tier(fr, LEMON), 'frontier');
  });

  test('store_prompts keeps the request with its label', async () => {
    // the first label is the first taught call's (a zebra prompt)
    const [r] = sql(fr, `SELECT prompt FROM route_labels ORDER BY id LIMIT 1`);
    assert.equal(JSON.parse(r.prompt).messages[0].content, `${ZEBRA} (0) #sim:say=A`);
  });
});
