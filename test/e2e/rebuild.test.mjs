// rebuild.test.mjs — shared budget counters rebuilt from the Postgres
// ledger when Redis comes back empty count the calls still in this
// replica's spool (issue #19): those records are not in Postgres yet, and
// without them a key could spend that part of its budget again.
//
// Deterministic: while Postgres is down the calls spool; a trigger that
// refuses inserts into `calls` (made before Postgres went down) keeps them
// in the spool after it is back, while the rebuild reads it (SELECT still
// works); Redis restarted empty makes the replica rebuild.  Dropping the
// trigger lets the spool be written back; the counter then equals the
// ledger's sum.
//
// Postgres from test/pg-run.sh (skipped loudly when not installed, unless
// FRUGAL_REQUIRE_PG=1), Redis from lib/redis.mjs.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { call, openai, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { startRedis } from './lib/redis.mjs';

const MASTER = 'fg-rebuild-master-51d0';
const user = (text) => [{ role: 'user', content: text }];
const pg = startPg();
const dir = tempDir('frugal-rebuild-e2e-');

describe('counters rebuilt from Postgres include the spool', { skip: !pg && 'Postgres is not installed' }, () => {
  let redis;
  let fr;
  let key;

  before(async () => {
    const dsn = pg.createDb('rebuild');
    redis = await startRedis();
    fr = await startFrugal({
      name: 'frugal-rebuild',
      cwd: dir,
      config: {
        server: { workers: 2, master_key: MASTER },
        storage: dsn,
        redis: redis.url,
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }],
      },
    });
    const r = await call(fr, '/frugal/keys', { body: { name: 'spender', budget: '100/day' } });
    assert.equal(r.status, 201, r.text);
    key = r.json;
  });

  after(async () => {
    await fr?.stop();
    await redis?.cleanup();
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spend = (i) => openai(fr, { apiKey: key.key, maxRetries: 0 }).chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 2000, messages: user(`Spend ${i}. #sim:tokens=2000`),
  });
  const counter = async () => {
    const v = await call(fr, `/frugal/keys/${key.id}`, { method: 'GET' });
    assert.equal(v.status, 200, v.text);
    return Number(v.json.usage.budget.spent_usd);
  };
  const ledgerUsd = () => Number(pg.sql('rebuild', 'SELECT coalesce(sum(cost_pico), 0) FROM calls')) / 1e12;
  const health = async () => (await call(fr, '/healthz', { method: 'GET' })).json;

  test('Redis restarted empty while calls wait in the spool: the rebuilt counter has them', async () => {
    for (let i = 0; i < 2; i++) await spend(`stored ${i}`);
    await waitFor(() => pg.sql('rebuild', 'SELECT count(*) FROM calls') === '2', { what: 'two rows in Postgres' });
    const stored = ledgerUsd();
    assert.ok(stored > 0);
    // inserts refused from now on (the replay keeps failing), reads still work
    pg.sql('rebuild', "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'test: calls refused'; END $$ LANGUAGE plpgsql");
    pg.sql('rebuild', 'CREATE TRIGGER refuse BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION refuse()');
    pg.pause();
    let spooled = 0;
    let rebuilds = 0; // the start's own rebuild (an empty Redis) is one
    try {
      for (let i = 0; i < 3; i++) await spend(`spooled ${i}`);
      await waitFor(async () => (await health()).store?.spool === 3, { timeoutMs: 10000, stepMs: 100, what: 'three records in the spool' });
      spooled = await counter() - stored; // what Redis counted for them
      assert.ok(spooled > 0);
      // Redis loses everything
      rebuilds = (fr.stderr().match(/counters rebuilt from the ledger/g) ?? []).length;
      await redis.stop();
      await redis.start();
    } finally {
      pg.resume();
    }
    // the rebuild (one tick of the key reloader once Postgres answers)
    await waitFor(() => (fr.stderr().match(/counters rebuilt from the ledger/g) ?? []).length > rebuilds,
      { timeoutMs: 20000, stepMs: 100, what: 'the counters rebuilt' });
    assert.equal((await health()).store?.spool, 3, 'the spool was not written back (the trigger)');
    const rebuilt = await counter();
    assert.ok(Math.abs(rebuilt - (stored + spooled)) <= 2e-6,
      `rebuilt ${rebuilt}: Postgres ${stored} + the spool ${spooled} (Postgres alone: ${stored})`);
    // the spool written back: the ledger and the counter agree
    pg.sql('rebuild', 'DROP TRIGGER refuse ON calls');
    await waitFor(async () => (await health()).store?.spool === 0, { timeoutMs: 15000, stepMs: 100, what: 'the spool written back' });
    assert.ok(Math.abs(ledgerUsd() - rebuilt) <= 2e-6, `ledger ${ledgerUsd()} vs counter ${rebuilt}`);
  });
});
