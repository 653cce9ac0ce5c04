// Shadow evaluation through the real daemon (issue #22 part B): a sampled
// routed call is answered first, then asked of the other tier and judged
// in both orders; every learning call has its own ledger record under
// routing_eval, off the caller's key, and the route's daily learning budget
// stops sampling.
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFrugal, startSim, call, test, waitFor, metrics, ledgerFlushed, tempDir, runFrugal } from './lib/frugal.mjs';
import { sayLine } from '../../bench/routing_say.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));

const config = (dir, learn) => ({
  storage: `sqlite:${join(dir, 'ledger.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'gpt-4o', provider: 'sim' },
  ],
  routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o', weights: WEIGHTS, learn }],
});

function rows(fr, where) {
  const out = execFileSync('sqlite3', ['-json', join(fr.dir, 'ledger.db'),
    `SELECT id, ts_ms, latency_us, key_id, tags, model, route, route_reason, linked_id, status,
            cost_pico FROM calls WHERE ${where} ORDER BY ts_ms, rowid`]).toString();
  return out.trim() ? JSON.parse(out) : [];
}

async function ask(fr, content, tier = 'cheap') {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
    headers: { 'x-frugal-route': tier },
  });
  assert.equal(r.status, 200, r.text);
  return r;
}

const HARD = 'Prove that there are infinitely many primes p such that p + 2 is also prime, or explain ' +
  'step by step why this is an open problem, and derive the best known bounds. Then implement a ' +
  'segmented sieve in C that counts twin primes below 10^12 and analyze its complexity.';

async function routedByClassifier(fr, content) {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
  });
  assert.equal(r.status, 200, r.text);
  return r.headers.get('x-frugal-request-id');
}

async function evalRows(fr, id, n) {
  await waitFor(() => rows(fr, `linked_id = '${id}' AND route = 'routing_eval'`).length >= n,
    { timeoutMs: 15000, what: `${n} routing_eval records for ${id}` });
  return rows(fr, `linked_id = '${id}' AND route = 'routing_eval'`);
}

describe('shadow evaluation of a route', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn',
      config: config(dir, { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 5 }) });
  });
  after(async () => { await fr?.stop(); });

  test('a sampled call is answered first, then shadowed and judged in both orders', async () => {
    const r = await ask(fr, 'What is 2+2? #sim:say=tie');
    const id = r.headers.get('x-frugal-request-id');
    // the client's answer is the routed tier's, untouched
    assert.equal(r.headers.get('x-frugal-model'), 'gpt-4o-mini');
    assert.equal(r.json.choices[0].message.content, 'tie');
    const ev = await evalRows(fr, id, 3);
    const [orig] = rows(fr, `id = '${id}'`);
    assert.equal(orig.route, 'cheap');
    assert.equal(ev.length, 3);
    // in order: the shadow call to the other tier, then the judge twice
    assert.match(ev[0].route_reason, new RegExp(`^shadow frontier for ${id}$`));
    assert.equal(ev[0].model, 'gpt-4o');
    assert.equal(ev[1].route_reason, 'judge, cheap as A: tie');
    assert.equal(ev[2].route_reason, 'judge, cheap as B: tie; label 1 (cheap no worse)');
    for (const e of ev) {
      assert.equal(e.status, 200);
      // learning is not charged to the caller's key, and its price is not hidden
      assert.equal(e.key_id, 'routing_eval');
      assert.equal(e.tags, 'route=auto');
      assert.ok(e.cost_pico > 0, JSON.stringify(e));
      // started only after the client's call had ended (ordering, not timing)
      assert.ok(e.ts_ms >= orig.ts_ms + Math.floor(orig.latency_us / 1000),
        `${e.ts_ms} before the end of ${orig.ts_ms} + ${orig.latency_us} us`);
    }
  });

  test('a judge that prefers the frontier answer in either order labels 0', async () => {
    // the sim's judge answers "A" in both orders: frontier wins order 2
    const r = await ask(fr, 'Name a prime. #sim:say=A', 'frontier');
    const id = r.headers.get('x-frugal-request-id');
    const ev = await evalRows(fr, id, 3);
    assert.equal(ev[0].route_reason, `shadow cheap for ${id}`);
    assert.equal(ev[0].model, 'gpt-4o-mini');
    assert.equal(ev[2].route_reason, 'judge, cheap as B: A; label 0 (frontier better)');
  });

  test('an unreadable verdict gives no label and stops after the first judge', async () => {
    const r = await ask(fr, 'Say something.');
    const id = r.headers.get('x-frugal-request-id');
    const ev = await evalRows(fr, id, 2);
    assert.equal(ev[1].route_reason, 'judge, cheap as A: unknown');
    await waitFor(async () => (await metrics(fr))
      .get('frugal_routing_eval_total{route="auto",outcome="unlabelled"}') >= 1,
      { what: 'the unlabelled evaluation counted' });
    assert.equal(rows(fr, `linked_id = '${id}' AND route = 'routing_eval'`).length, 2);
  });

  test('a request with a JSON schema is checked against it instead of judged', async () => {
    const r = await call(fr, '/v1/chat/completions', {
      body: JSON.stringify({
        model: 'auto', messages: [{ role: 'user', content: 'Give a city and its country.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'city', strict: true, schema: {
          type: 'object', additionalProperties: false, required: ['city', 'country'],
          properties: { city: { type: 'string' }, country: { type: 'string' } } } } },
      }),
      headers: { 'x-frugal-route': 'cheap' },
    });
    assert.equal(r.status, 200, r.text);
    const id = r.headers.get('x-frugal-request-id');
    const [ev] = await evalRows(fr, id, 1);
    assert.equal(ev.route_reason,
      `shadow frontier for ${id}; schema: cheap valid, frontier valid; label 1 (cheap no worse)`);
    // no judge: the evaluation ended with the shadow call
    await waitFor(async () => (await metrics(fr))
      .get('frugal_routing_eval_total{route="auto",outcome="label_ok"}') >= 2,
      { what: 'the schema label counted' });
    assert.equal(rows(fr, `linked_id = '${id}' AND route = 'routing_eval'`).length, 1);
  });

  test('learning spend is in the spend map, on its own tier', async () => {
    const m = await metrics(fr);
    await ledgerFlushed(fr, m.get('frugal_ledger_written_total'));
    const s = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    const evalCost = rows(fr, `route = 'routing_eval'`).reduce((a, e) => a + e.cost_pico, 0);
    const all = rows(fr, '1').reduce((a, e) => a + e.cost_pico, 0);
    assert.ok(evalCost > 0);
    assert.ok(Math.abs(s.cost_usd - all / 1e12) < 1e-5, `${s.cost_usd} vs ${all / 1e12}`);
    // and per route: what learning cost and the labels it bought
    const ev = rows(fr, `route = 'routing_eval'`);
    const lr = s.routing_learning.auto;
    assert.equal(lr.calls, ev.length);
    // spend-map money is rounded to the micro-dollar
    assert.ok(Math.abs(lr.cost_usd - evalCost / 1e12) <= 0.5e-6, `${lr.cost_usd} vs ${evalCost / 1e12}`);
    assert.equal(lr.labels.cheap_no_worse, ev.filter((e) => / label 1 /.test(e.route_reason)).length);
    assert.equal(lr.labels.frontier_better, ev.filter((e) => / label 0 /.test(e.route_reason)).length);
    assert.ok(lr.labels.cheap_no_worse >= 2 && lr.labels.frontier_better >= 1, JSON.stringify(lr));
  });

  test('frugal route report shows labels, APGR, tier shares and what learning cost', async () => {
    // two calls the classifier routes, one judged cheap-no-worse, one not
    const easy = await routedByClassifier(fr, 'What is the capital of France? #sim:say=tie');
    const hard = await routedByClassifier(fr, HARD + ' #sim:say=A');
    await evalRows(fr, easy, 3);
    await evalRows(fr, hard, 3);
    const m = await metrics(fr);
    await ledgerFlushed(fr, m.get('frugal_ledger_written_total'));
    const out = await runFrugal(['route', 'report', 'auto', '--json', '-c', fr.configFile]);
    assert.equal(out.code, 0, out.stderr);
    const rep = JSON.parse(out.stdout);
    const ev = rows(fr, `route = 'routing_eval'`);
    assert.equal(rep.learning.calls, ev.length);
    assert.ok(Math.abs(rep.learning.cost_usd - ev.reduce((a, e) => a + e.cost_pico, 0) / 1e12) < 1e-9);
    assert.equal(rep.labels.cheap_no_worse, 3);
    assert.equal(rep.labels.frontier_better, 2);
    assert.equal(rep.labels.none, 1);
    assert.equal(rep.labels.rate, 0.6);
    const calls = rows(fr, `model_requested = 'auto'`);
    assert.equal(rep.calls, calls.length);
    assert.equal(rep.share.cheap, Number((calls.filter((c) => c.route === 'cheap').length / calls.length).toFixed(4)));
    // the two classifier-routed labels: the easy one scored lower and was fine cheap
    assert.equal(rep.apgr.scored_labels, 2);
    assert.ok(rep.apgr.value !== null);
    const text = await runFrugal(['route', 'report', 'auto', '-c', fr.configFile]);
    assert.match(text.stdout, /labels: 3 cheap no worse, 2 frontier better, 1 without a verdict/);
    assert.match(text.stdout, /learning: \d+ calls, \$/);
  });
});

describe('the learning budget', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    // one micro-dollar a day: the first evaluation spends it
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn-budget',
      config: config(dir, { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 0.000001 }) });
  });
  after(async () => { await fr?.stop(); });

  test('stops sampling once the day\'s learning budget is spent', async () => {
    const first = await ask(fr, 'What is 3+3? #sim:say=tie');
    await evalRows(fr, first.headers.get('x-frugal-request-id'), 3);
    const second = await ask(fr, 'What is 4+4? #sim:say=tie');
    assert.equal(second.status, 200);
    await waitFor(async () => (await metrics(fr))
      .get('frugal_routing_eval_total{route="auto",outcome="over_budget"}') === 1,
      { what: 'the second call refused a sample for the budget' });
    const m = await metrics(fr);
    assert.equal(m.get('frugal_routing_eval_total{route="auto",outcome="sampled"}'), 1);
  });
});

describe('sample 0', () => {
  let fr;
  before(async () => {
    const dir = tempDir();
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn-off',
      config: config(dir, { sample: 0, judge: 'gpt-4o', budget_usd_per_day: 5 }) });
  });
  after(async () => { await fr?.stop(); });

  test('samples nothing', async () => {
    await ask(fr, 'What is 5+5?');
    await ask(fr, 'What is 6+6?');
    const m = await metrics(fr);
    assert.equal(m.get('frugal_routing_eval_total{route="auto",outcome="sampled"}'), 0);
  });
});

// bench/routing.mjs's shadow simulation: a standalone `frugal sim
// --say-table` gives the judge the data set's label for a prompt, with
// nothing in the prompt itself (the router sees the data set's words).
describe('a say-table sim as the judge', () => {
  let fr, sim;
  const OK = 'Janet\u2019s "ducks" lay 16 eggs.\nHow many\tare left? \u0001',
    WORSE = 'Prove the twin prime conjecture.';
  before(async () => {
    const dir = tempDir();
    const table = join(dir, 'say.jsonl');
    writeFileSync(table, `${sayLine(OK, 'tie')}\n${sayLine(WORSE, 'A')}\n`);
    sim = await startSim({ name: 'sim-say', args: ['--say-table', table] });
    const cfg = config(dir, { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 5 });
    cfg.providers = [{ name: 'sim', type: 'sim', base_url: sim.url }];
    fr = await startFrugal({ cwd: dir, name: 'frugal-learn-say', config: cfg });
  });
  after(async () => {
    await fr?.stop();
    await sim?.stop();
  });

  test('labels each prompt as its table line says, and only the judge reads the table', async () => {
    const ok = await ask(fr, OK), worse = await ask(fr, WORSE, 'frontier');
    for (const r of [ok, worse]) assert.match(r.json.choices[0].message.content, /^Simulated reply/);
    const a = await evalRows(fr, ok.headers.get('x-frugal-request-id'), 3);
    assert.equal(a[2].route_reason, 'judge, cheap as B: tie; label 1 (cheap no worse)');
    const b = await evalRows(fr, worse.headers.get('x-frugal-request-id'), 3);
    assert.equal(b[2].route_reason, 'judge, cheap as B: A; label 0 (frontier better)');
  });
});
