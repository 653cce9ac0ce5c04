// pg_responses.test.mjs — stored Responses (conversation state) on a
// Postgres store shared by two replicas (issues 18/19), with the official
// `openai` SDK and the simulated provider (Anthropic for claude-*):
//
//  - a conversation started on replica A is continued on replica B with
//    previous_response_id once A's ledger has written it, including a
//    translated turn to a claude-* model (B replays the stored history);
//  - GET /v1/responses/{id} and its input_items answer through B from the
//    stored copy;
//  - DELETE through B: neither B nor A continues it any more, and its row
//    is gone from Postgres;
//  - responses.retention: expired rows are pruned from Postgres;
//  - `frugal migrate --copy-from sqlite:…` copies the stored responses.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { OpenAI, ledgerFlushed, openai, rejectsWith, runFrugal, sleep, startFrugal, tempDir, test, waitFor, writeConfig } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';

const MASTER = 'fg-pgresp-master-71c3';
const pg = startPg();

const config = (storage, extra = {}) => ({
  server: { workers: 2, master_key: MASTER },
  storage,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
  ],
  ...extra,
});

after(() => pg?.stop());

const rows = (db, id) => Number(pg.sql(db, `SELECT count(*) FROM responses WHERE id = '${id}'`));

describe('stored Responses shared by two replicas on Postgres', { skip: !pg && 'Postgres is not installed' }, () => {
  let a, b;
  before(async () => {
    const dsn = pg.createDb('resp_shared');
    [a, b] = await Promise.all([
      startFrugal({ name: 'frugal-pgresp-a', config: config(dsn) }),
      startFrugal({ name: 'frugal-pgresp-b', config: config(dsn) }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('started on A, continued on B (also translated to claude-*), read and deleted through B', async () => {
    const ca = openai(a), cb = openai(b);
    const t1 = await ca.responses.create({ model: 'gpt-4o-mini', input: 'Remember the word heron, it matters a lot for later.' });
    await ledgerFlushed(a, 1);
    await waitFor(() => rows('resp_shared', t1.id) === 1, { what: 'the row in Postgres' });

    // B never saw t1: it reads it from Postgres
    const got = await cb.responses.retrieve(t1.id);
    assert.equal(got.id, t1.id);
    assert.deepEqual(got.output, t1.output);
    const items = await cb.responses.inputItems.list(t1.id, { order: 'asc' });
    assert.equal(items.data.length, 1);
    assert.match(items.data[0].content[0].text, /heron/);
    assert.equal(pg.sql('resp_shared', `SELECT key_id, provider, data IS NOT NULL FROM responses WHERE id = '${t1.id}'`), 'master|sim|t');

    // a translated turn: B replays the stored history to Anthropic
    const alone = await cb.responses.create({ model: 'claude-haiku-4-5', input: 'Which word?' });
    const t2 = await cb.responses.create({ model: 'claude-haiku-4-5', input: 'Which word?', previous_response_id: t1.id });
    assert.equal(t2.previous_response_id, t1.id);
    assert.equal(t2.status, 'completed');
    assert.ok(t2.usage.input_tokens > alone.usage.input_tokens,
      `the history went upstream (${t2.usage.input_tokens} > ${alone.usage.input_tokens} input tokens)`);
    // A continues what B started, from Postgres
    // (each replica has a simulator of its own, so only translated turns,
    // replayed from the stored history, cross replicas in this test)
    await ledgerFlushed(b, 2);
    await waitFor(() => rows('resp_shared', t2.id) === 1, { what: 't2 in Postgres' });
    const t3 = await ca.responses.create({ model: 'claude-haiku-4-5', input: 'Go on.', previous_response_id: t2.id });
    assert.equal(t3.previous_response_id, t2.id);
    assert.ok(t3.usage.input_tokens > t2.usage.input_tokens, 'the whole chain (t1, t2) was replayed');

    // DELETE through B: gone for B at once, for Postgres once B's ledger writes it, and then for A
    const del = await cb.responses.delete(t1.id).asResponse();
    assert.equal(del.status, 200);
    await rejectsWith(cb.responses.retrieve(t1.id), OpenAI.NotFoundError);
    const eb = await rejectsWith(cb.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: t1.id }), OpenAI.BadRequestError);
    assert.equal(eb.code, 'previous_response_not_found');
    await waitFor(() => rows('resp_shared', t1.id) === 0, { what: 'the row deleted from Postgres' });
    await waitFor(async () => {
      try {
        await ca.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: t1.id });
        return false;
      } catch (e) {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.code, 'previous_response_not_found');
        return true;
      }
    }, { timeoutMs: 20000, stepMs: 250, what: 'replica A to refuse the deleted response' });
  });
});

describe('stored Responses retention on Postgres', { skip: !pg && 'Postgres is not installed' }, () => {
  test('expired rows are pruned from Postgres', async () => {
    const dsn = pg.createDb('resp_retention');
    const g = await startFrugal({
      name: 'frugal-pgresp-retention',
      env: { FRUGAL_RESPONSES_PRUNE_MS: '100' },
      config: config(dsn, { responses: { retention: '1s' } }),
    });
    try {
      const c = openai(g);
      const t1 = await c.responses.create({ model: 'gpt-4o-mini', input: 'short-lived' });
      await ledgerFlushed(g, 1);
      await waitFor(() => rows('resp_retention', t1.id) === 1, { what: 'the row in Postgres' });
      await sleep(1100); // past its expiry: a lower bound, load only makes it later
      const e = await rejectsWith(c.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: t1.id }), OpenAI.BadRequestError);
      assert.equal(e.code, 'previous_response_not_found');
      await waitFor(() => rows('resp_retention', t1.id) === 0, { timeoutMs: 10000, what: 'the expired row pruned' });
    } finally {
      await g.stop();
    }
  });
});

describe('frugal migrate copies stored Responses', { skip: !pg && 'Postgres is not installed' }, () => {
  test('--copy-from sqlite: a conversation from the SQLite days continues on Postgres', async () => {
    const dir = tempDir('frugal-pgresp-copy-');
    const sqlite = `sqlite:${join(dir, 'old.db')}`;
    let fr = await startFrugal({ name: 'frugal-pgresp-sqlite', config: config(sqlite), cwd: dir });
    const t1 = await openai(fr).responses.create({ model: 'gpt-4o-mini', input: 'Remember the word ibis.' });
    await fr.stop();

    const dsn = pg.createDb('resp_copied');
    const pgFile = writeConfig(config(dsn), tempDir('frugal-pgresp-copy2-'));
    for (let round = 0; round < 2; round++) {
      const r = await runFrugal(['migrate', '-c', pgFile, '--copy-from', sqlite]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, round ? /responses: 0 copied, 1 already there/ : /responses: 1 copied, 0 already there/);
    }
    assert.equal(rows('resp_copied', t1.id), 1);
    fr = await startFrugal({ name: 'frugal-pgresp-copied', config: config(dsn) });
    try {
      const c = openai(fr);
      const t2 = await c.responses.create({ model: 'claude-haiku-4-5', input: 'Which word?', previous_response_id: t1.id });
      assert.equal(t2.previous_response_id, t1.id);
      assert.equal((await c.responses.retrieve(t1.id)).id, t1.id);
    } finally {
      await fr.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
