// quality_target and cold_start fed by the route's OWN labels (issue #22):
// before a route has learn.min_labels labels of its own, cold_start decides
// where the generic weights are not confident; from then on it no longer
// applies, and quality_target's threshold is the cheapest operating point
// whose 90% lower bound on those labels meets the target — "the cheap model
// alone meets it" and "no better than a coin" said in the log and in
// route_reason.  The sim plays the judge (#sim:say=).
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFrugal, call, test, waitFor, tempDir, metrics, ledgerFlushed, runFrugal } from './lib/frugal.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));
const MIN = 10;

const config = (dir, route) => ({
  storage: `sqlite:${join(dir, 'ledger.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'gpt-4o', provider: 'sim' },
  ],
  routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o', cold_start: 'frontier', ...route,
    learn: { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 5, retrain_every: 100000, min_labels: MIN } }],
});

async function ask(fr, content, tier) {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
    headers: tier ? { 'x-frugal-route': tier } : {},
  });
  assert.equal(r.status, 200, r.text);
  return r;
}

// Where the route sends a prompt now (the call's id for its record).
const decide = async (fr, content) => {
  const r = await ask(fr, `${content} #sim:say=tie`);
  return { tier: r.headers.get('x-frugal-route'), id: r.headers.get('x-frugal-request-id') };
};

const ZEBRA = 'What colour is a zebra?';
const LEMON = 'Prove step by step that the lemon citrus sequence converges, derive its bounds, ' +
  'then implement a segmented sieve in C for it and analyze its complexity.';

describe('a route whose own labels say the cheap model is enough', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn-point', config: config(dir, { quality_target: 0.85 }),
      env: { FRUGAL_ROUTER_WEIGHTS: WEIGHTS } });
  });
  after(async () => { await fr?.stop(); });

  test('cold start until min_labels own labels, then everything cheap, said', async () => {
    // no labels of its own: cold start sends the unsure long prompt to the frontier
    assert.equal((await decide(fr, LEMON)).tier, 'frontier');
    assert.doesNotMatch(fr.stderr(), /labels of its own/);
    // MIN labels, every one "cheap no worse" (the judge ties in both orders)
    for (let i = 0; i < MIN; i++) await ask(fr, `${i % 2 ? LEMON : ZEBRA} (${i}) #sim:say=tie`, 'cheap');
    await waitFor(() => /route auto: quality_target 0\.850 from \d+ labels of its own/.test(fr.stderr()) &&
      /cold_start no longer applies/.test(fr.stderr()),
      { timeoutMs: 30000, what: 'the operating point from the route\'s own labels' });
    assert.match(fr.stderr(), /the cheap model alone meets quality 0\.850: route everything cheap/);
    assert.match(fr.stderr(), /route auto: 10 labels of its own: cold_start no longer applies/);
    const d = await decide(fr, LEMON);
    assert.equal(d.tier, 'cheap');
    const reason = () => execFileSync('sqlite3', [join(fr.dir, 'ledger.db'),
      `SELECT route_reason FROM calls WHERE id = '${d.id}'`]).toString().trim();
    await waitFor(() => reason() !== '', { what: 'the call\'s record' });
    assert.match(reason(), /^quality_target 0\.850: the cheap model alone meets it on \d+ own labels$/);
  });

  test('frugal route report shows own labels, cold start, the operating point and the learning budget', async () => {
    await ledgerFlushed(fr, (await metrics(fr)).get('frugal_ledger_written_total'));
    const env = { FRUGAL_ROUTER_WEIGHTS: WEIGHTS };
    const out = await runFrugal(['route', 'report', 'auto', '--json', '-c', fr.configFile], { env });
    assert.equal(out.code, 0, out.stderr);
    const rep = JSON.parse(out.stdout);
    assert.ok(rep.own_labels.stored >= MIN, JSON.stringify(rep.own_labels));
    assert.equal(rep.own_labels.min_labels, MIN);
    assert.equal(rep.own_labels.enough, true);
    assert.deepEqual(rep.cold_start, { tier: 'frontier', applies: false });
    assert.equal(rep.cold_start_calls, 1, 'the first LEMON call');
    const op = rep.operating_point;
    assert.equal(op.source, 'own labels');
    assert.equal(op.verdict, 'all_cheap');
    assert.equal(op.target, 0.85);
    assert.ok(op.quality_kept_lo90 >= 0.85, JSON.stringify(op));
    assert.equal(op.weights, 'the built-in weights');
    assert.equal(rep.learning.budget_usd_per_day, 5);
    assert.ok(rep.learning.today_usd > 0 && Math.abs(rep.learning.today_usd - rep.learning.cost_usd) < 1e-12);
    const text = await runFrugal(['route', 'report', 'auto', '-c', fr.configFile], { env });
    assert.match(text.stdout, /^own labels: \d+ stored \(enough from 10\)$/m);
    assert.match(text.stdout, /^cold start: frontier, does not apply$/m);
    assert.match(text.stdout, /^operating point \(the built-in weights, from own labels\): the cheap model alone meets quality 0\.850/m);
    assert.match(text.stdout, /; today \$[0-9.]+ of \$5\.000000 a day$/m);
  });
});

describe('a route whose own labels its classifier cannot rank', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn-coin', config: config(dir, { quality_target: 0.9 }),
      env: { FRUGAL_ROUTER_WEIGHTS: WEIGHTS } });
  });
  after(async () => { await fr?.stop(); });

  test('says the classifier does not beat a coin on them', async () => {
    // one question, and every other time the frontier answer was better:
    // nothing in the prompt tells the two kinds apart
    for (let i = 0; i < MIN; i++) await ask(fr, `${ZEBRA} (${i}) #sim:say=${i % 2 ? 'tie' : 'A'}`, 'cheap');
    await waitFor(() => /route auto: quality_target 0\.900 from \d+ labels of its own/.test(fr.stderr()),
      { timeoutMs: 30000, what: 'the operating point from the route\'s own labels' });
    assert.match(fr.stderr(), /route auto: quality_target 0\.900 from \d+ labels of its own.*the classifier does not beat a coin on these labels/);
  });
});
