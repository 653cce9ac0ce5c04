// Learned routing across replicas (issue #22): the route's learning budget
// is one budget for every replica (in Redis with `redis:`, else through the
// store's route_spend), one replica fits a version at a time (the lease in
// route_lock) and every replica runs the version it fitted, and the
// retraining thread carries on after Postgres dropped its connection.
// The sim plays the judge (#sim:say=).
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFrugal, call, test, waitFor, metrics, tempDir } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { startRedis } from './lib/redis.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));
const EVERY = 20;
const pg = startPg();
const skip = !pg && 'Postgres is not installed';

const config = (storage, learn, extra = {}) => ({
  storage,
  ...extra,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'gpt-4o', provider: 'sim' },
  ],
  routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o',
    learn: { sample: 1, judge: 'gpt-4o', budget_usd_per_day: 5, retrain_every: EVERY, ...learn } }],
});

after(() => pg?.stop());

/* Each replica in a working directory of its own (its own ledger spool). */
function start(name, cfg, dir) {
  mkdirSync(join(dir, name), { recursive: true });
  return startFrugal({ name: `frugal-learn-${name}`, config: cfg, cwd: join(dir, name),
    env: { FRUGAL_ROUTER_WEIGHTS: WEIGHTS } });
}

async function ask(fr, content, tier = 'cheap') {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
    headers: tier ? { 'x-frugal-route': tier } : {},
  });
  assert.equal(r.status, 200, r.text);
  return r;
}

const outcome = async (fr, o) =>
  (await metrics(fr)).get(`frugal_routing_eval_total{route="auto",outcome="${o}"}`);

// The built-in weights send LEMON to the frontier; the judge says the cheap
// answer is as good there, and not for ZEBRA (retrain.test.mjs).
const ZEBRA = 'What colour is a zebra?';
const LEMON = 'Prove step by step that the lemon citrus sequence converges, derive its bounds, ' +
  'then implement a segmented sieve in C for it and analyze its complexity.';
const teach = (fr, i) => ask(fr, `${i % 2 ? LEMON : ZEBRA} (${i}) #sim:say=${i % 2 ? 'tie' : 'A'}`);
const tierOf = async (fr, content) =>
  (await ask(fr, `${content} #sim:say=tie`, null)).headers.get('x-frugal-route');

/* One evaluation on `a` (the budget is one micro-dollar: it spends it). */
async function spendThenRefuse(db, a) {
  const first = await ask(a, 'What is 3+3? #sim:say=tie');
  const id = first.headers.get('x-frugal-request-id');
  await waitFor(() => Number(pg.sql(db, `SELECT count(*) FROM calls WHERE linked_id = '${id}'`)) >= 3,
    { timeoutMs: 20000, what: 'the first evaluation in the ledger' });
  return id;
}

describe('the learning budget across replicas with Redis', { skip }, () => {
  let a, b, redis, db = 'learnbudget';
  const dir = tempDir('frugal-learn-redis-');
  before(async () => {
    redis = await startRedis();
    const cfg = config(pg.createDb(db), { budget_usd_per_day: 0.000001 }, { redis: redis.url });
    [a, b] = await Promise.all([start('a', cfg, dir), start('b', cfg, dir)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.cleanup();
  });

  test('what one replica spent on learning, the other cannot spend again', async () => {
    await spendThenRefuse(db, a, b);
    await waitFor(async () => (await outcome(a, 'label_ok')) === 1, { what: 'a labelled' });
    const second = await ask(b, 'What is 4+4? #sim:say=tie');
    assert.equal(second.status, 200);
    await waitFor(async () => (await outcome(b, 'over_budget')) === 1,
      { what: 'b refused a sample for the shared budget' });
    assert.equal(await outcome(b, 'sampled'), 0);
  });
});

describe('the learning budget across replicas on one Postgres, no Redis', { skip }, () => {
  let a, b, cfg, db = 'learnspend';
  const dir = tempDir('frugal-learn-pgspend-');
  before(async () => {
    cfg = config(pg.createDb(db), { budget_usd_per_day: 0.000001 });
    [a, b] = await Promise.all([start('a', cfg, dir), start('b', cfg, dir)]);
  });
  after(async () => { await Promise.all([a?.stop(), b?.stop()]); });

  test('the route_spend row carries one replica\'s learning spend to the other', async () => {
    await spendThenRefuse(db, a, b);
    // b reads the store's total on its training thread's next tick
    await waitFor(async () => (await metrics(b)).get('frugal_routing_learn_store_spend_usd{route="auto"}') > 0,
      { timeoutMs: 20000, what: 'b saw the learning spend in the store' });
    await ask(b, 'What is 4+4? #sim:say=tie');
    await waitFor(async () => (await outcome(b, 'over_budget')) === 1,
      { what: 'b refused a sample for the shared budget' });
    assert.equal(await outcome(b, 'sampled'), 0);
    const q = `SELECT (SELECT sum(pico) FROM route_spend WHERE route = 'auto') || '|' ||
      (SELECT sum(cost_pico) FROM calls WHERE route = 'routing_eval')`;
    await waitFor(() => { const [s, l] = pg.sql(db, q).split('|'); return s === l; },
      { timeoutMs: 20000, what: 'route_spend equal to the ledger\'s routing_eval cost' });
  });

  test('a restarted replica starts from the day\'s spend so far', async () => {
    await a.stop();
    a = await start('a', cfg, dir);
    await waitFor(async () => (await metrics(a)).get('frugal_routing_learn_store_spend_usd{route="auto"}') > 0,
      { timeoutMs: 20000, what: 'the restarted replica read the day\'s spend' });
    await ask(a, 'What is 5+5? #sim:say=tie');
    await waitFor(async () => (await outcome(a, 'over_budget')) === 1,
      { what: 'the restarted replica refused a sample' });
    assert.equal(await outcome(a, 'sampled'), 0);
  });
});

describe('fitting with two replicas on one Postgres', { skip }, () => {
  let a, b, db = 'learnlease';
  const dir = tempDir('frugal-learn-lease-');
  before(async () => {
    const cfg = config(pg.createDb(db), {});
    [a, b] = await Promise.all([start('a', cfg, dir), start('b', cfg, dir)]);
  });
  after(async () => { await Promise.all([a?.stop(), b?.stop()]); });

  test('one replica fits each version, and both then route with it', async () => {
    assert.equal(await tierOf(a, LEMON), 'frontier');
    assert.equal(await tierOf(b, LEMON), 'frontier');
    // labels through both replicas; both see retrain_every new labels
    for (let i = 0; i < EVERY; i++) await teach(i % 2 ? b : a, i);
    await waitFor(() => Number(pg.sql(db, 'SELECT count(*) FROM route_versions')) >= 1,
      { timeoutMs: 60000, what: 'a fitted version' });
    await waitFor(async () => (await tierOf(a, LEMON)) === 'cheap' && (await tierOf(b, LEMON)) === 'cheap',
      { timeoutMs: 20000, what: 'both replicas routing with the new version' });
    // one fit per set of labels: no two versions fitted on the same labels
    assert.equal(pg.sql(db, 'SELECT count(*) FROM (SELECT last_label_id FROM route_versions' +
      ' GROUP BY last_label_id HAVING count(*) > 1) d'), '0');
    // the log lines may reach this process after the answers did
    const fitted = () => [a, b].filter((fr) => /route auto: fitted version 1 /.test(fr.stderr()));
    const loaded = () => [a, b].filter((fr) => /route auto: running weights version 1/.test(fr.stderr()));
    await waitFor(() => fitted().length >= 1 && loaded().length >= 1,
      { what: 'the fit and the load logged' });
    assert.equal(fitted().length, 1, 'one replica fitted version 1');
    assert.equal(loaded().length, 1, 'the other loaded it from the store');
    assert.notEqual(fitted()[0], loaded()[0]);
  });
});

describe('retraining after Postgres dropped the connection', { skip }, () => {
  let fr, db = 'learnreconnect';
  const dir = tempDir('frugal-learn-reconnect-');
  before(async () => {
    fr = await start('r', config(pg.createDb(db), {}), dir);
  });
  after(async () => { await fr?.stop(); });

  test('labels are stored and a version is fitted on a new connection', async () => {
    await teach(fr, 0);
    await waitFor(() => Number(pg.sql(db, 'SELECT count(*) FROM route_labels')) >= 1,
      { timeoutMs: 20000, what: 'the first label stored' });
    // every connection of frugal's to this database, the retraining thread's included
    const killed = pg.sql(db, 'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity' +
      ` WHERE datname = '${db}' AND pid <> pg_backend_pid()`);
    assert.ok(Number(killed) >= 1, killed);
    for (let i = 1; i <= EVERY; i++) await teach(fr, i);
    await waitFor(() => Number(pg.sql(db, 'SELECT count(*) FROM route_versions')) >= 1,
      { timeoutMs: 60000, what: 'a version fitted after the reconnect' });
    await waitFor(() => /routing store: reconnected to Postgres/.test(fr.stderr()),
      { what: 'the reconnect logged' });
  });
});
