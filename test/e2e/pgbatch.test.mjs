// pgbatch.test.mjs — files and batches in Postgres (batches.storage:
// postgres://…), shared by three frugal processes on one database:
//
//  - a file uploaded through one replica is listed and read back byte for
//    byte through the others, and deleted through a third;
//  - a 2,000-line batch (local mode, paced) with the replica working on it
//    killed with SIGKILL mid-way: another replica takes the batch over once
//    the dead one's lease runs out; every custom_id is answered exactly once
//    in the output file, and the ledger has exactly one row per line;
//  - a Message Batches create streamed into Postgres through one replica
//    (several 1 MiB groups under a hidden row) is listed, finished and its
//    results read through another; one refused mid-way leaves no row and no
//    line behind; a POST /v1/batches of a file over one chunk row reads it
//    in pieces through another replica and stores every line.
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';

import { anthropic, openai, startFrugal, test, waitFor } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { toFile } from 'openai';

const MASTER = 'fg-pgbatch-master-5c2e1a';
const pg = startPg();

const config = (dsn, batches = {}) => ({
  server: { workers: 2, master_key: MASTER },
  storage: dsn,
  providers: [{ name: 'sim', type: 'sim', batch: 'local' }],
  models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'claude-haiku-4-5', provider: 'sim' }],
  batches: { storage: dsn, lease_ms: 2000, ...batches },
});

after(() => pg?.stop());

async function fileText(c, id) {
  const r = await c.files.content(id);
  return Buffer.from(await r.arrayBuffer()).toString('utf8');
}

describe('files and batches shared by three replicas', { skip: !pg && 'Postgres is not installed' }, () => {
  test('a file uploaded through one replica is read through the others', async () => {
    const dsn = pg.createDb('pgb_files');
    const rs = await Promise.all([0, 1, 2].map((i) => startFrugal({ name: `frugal-pgb-f${i}`, config: config(dsn) })));
    try {
      const [a, b, c] = rs.map((r) => openai(r, { apiKey: MASTER }));
      // over one 1 MiB chunk, so the bytes come back from several chunk rows
      const line = (i) => JSON.stringify({
        custom_id: `f-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `é ${i} ${'x'.repeat(200)}` }] },
      });
      const text = Array.from({ length: 6000 }, (_, i) => line(i)).join('\n') + '\n';
      assert.ok(Buffer.byteLength(text) > (1 << 20));
      const f = await a.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
      const got = await b.files.retrieve(f.id);
      assert.equal(got.bytes, Buffer.byteLength(text));
      assert.equal(got.filename, 'in.jsonl');
      assert.equal(await fileText(c, f.id), text);
      const listed = [];
      for await (const x of c.files.list()) listed.push(x.id);
      assert.ok(listed.includes(f.id), 'listed through another replica');
      await c.files.delete(f.id);
      await assert.rejects(b.files.retrieve(f.id), (e) => e.status === 404);
    } finally {
      await Promise.all(rs.map((r) => r.stop()));
    }
  });

  test('2,000 lines, the working replica SIGKILLed mid-way: each line answered and recorded once', async () => {
    const N = 2000;
    const dsn = pg.createDb('pgb_kill');
    const cfg = config(dsn, { local_concurrency: 8, local_rps: 150 });
    const rs = await Promise.all([0, 1, 2].map((i) => startFrugal({ name: `frugal-pgb-k${i}`, config: cfg })));
    const alive = new Set(rs);
    try {
      const ids = await Promise.all(rs.map((r) => waitFor(() => /this replica is (replica_[0-9a-f]+)/.exec(r.stderr())?.[1],
        { what: `${r.name} naming itself` })));
      const cs = rs.map((r) => openai(r, { apiKey: MASTER }));
      const lines = Array.from({ length: N }, (_, i) => JSON.stringify({
        custom_id: `k-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `line ${i}` }] },
      }));
      const f = await cs[0].files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'k.jsonl'), purpose: 'batch' });
      const b0 = await cs[1].batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const q = (sql) => pg.sql('pgb_kill', sql);
      // the replica holding the batch, once a good part of the lines is done
      await waitFor(() => Number(q(`SELECT count(*) FROM batch_lines WHERE batch_id = '${b0.id}' AND state = 'done'`)) >= N / 4,
        { timeoutMs: 60000, stepMs: 100, what: 'a quarter of the lines done' });
      const owner = q(`SELECT lease_owner FROM batches WHERE id = '${b0.id}'`);
      const k = ids.indexOf(owner);
      assert.ok(k >= 0, `the lease owner ${owner} is one of ours`);
      rs[k].proc.kill('SIGKILL');
      await rs[k].exit;
      alive.delete(rs[k]);
      const doneAtKill = Number(q(`SELECT count(*) FROM batch_lines WHERE batch_id = '${b0.id}' AND state = 'done'`));
      assert.ok(doneAtKill < N, 'killed mid-way');
      const other = cs[(k + 1) % 3];
      const b = await waitFor(async () => {
        const x = await other.batches.retrieve(b0.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
      }, { timeoutMs: 120000, stepMs: 200, what: 'the batch finished by another replica' });
      assert.equal(b.status, 'completed');
      assert.equal(b.request_counts.total, N);
      assert.equal(b.request_counts.completed, N);
      const newOwner = q(`SELECT lease_owner FROM batches WHERE id = '${b0.id}'`);
      assert.notEqual(newOwner, owner, 'taken over');
      const out = (await fileText(other, b.output_file_id)).trim().split('\n').map((l) => JSON.parse(l));
      const seen = new Map();
      for (const l of out) seen.set(l.custom_id, (seen.get(l.custom_id) ?? 0) + 1);
      assert.equal(out.length, N, 'one output line per input line');
      assert.equal(seen.size, N, 'every custom_id answered');
      assert.ok([...seen.values()].every((n) => n === 1), 'each exactly once');
      const rows = `SELECT count(*), count(DISTINCT id) FROM calls WHERE batch_id = '${b0.id}'`;
      await waitFor(() => q(rows) === `${N}|${N}`, {
        timeoutMs: 20000, stepMs: 200, what: `${N} ledger rows, one per line (have ${q(rows)})`,
      });
    } finally {
      await Promise.all([...alive].map((r) => r.stop()));
    }
  });
  test('one batch\'s lines run by several replicas (claims); one killed holding claims: its lines taken over, each answered and recorded once', async () => {
    const N = 600;
    const dsn = pg.createDb('pgb_claims');
    const cfg = config(dsn, { local_concurrency: 4, local_rps: 40 });
    const q = (sql) => pg.sql('pgb_claims', sql);
    const rs = await Promise.all([0, 1, 2].map((i) => startFrugal({ name: `frugal-pgb-c${i}`, config: cfg })));
    const alive = new Set(rs);
    try {
      const ids = await Promise.all(rs.map((r) => waitFor(() => /this replica is (replica_[0-9a-f]+)/.exec(r.stderr())?.[1],
        { what: `${r.name} naming itself` })));
      const cs = rs.map((r) => openai(r, { apiKey: MASTER }));
      const lines = Array.from({ length: N }, (_, i) => JSON.stringify({
        custom_id: `c-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `claim ${i}` }] },
      }));
      const f = await cs[0].files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'c.jsonl'), purpose: 'batch' });
      const b0 = await cs[0].batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const runners = `SELECT count(DISTINCT claim_owner) FROM batch_lines WHERE batch_id = '${b0.id}' AND state = 'done'`;
      await waitFor(() => Number(q(runners)) >= 2, { timeoutMs: 60000, stepMs: 100, what: 'lines run by two replicas' });
      // a replica that is not the batch's lease owner, holding claims on lines not done yet
      const victim = await waitFor(() => q(`SELECT l.claim_owner FROM batch_lines l JOIN batches b ON b.id = l.batch_id
        WHERE l.batch_id = '${b0.id}' AND l.state = 'planned' AND l.claim_owner IS NOT NULL
        AND l.claim_owner <> b.lease_owner LIMIT 1`), { timeoutMs: 60000, stepMs: 50, what: 'a helper holding claims' });
      const k = ids.indexOf(victim);
      assert.ok(k >= 0, `the claim owner ${victim} is one of ours`);
      rs[k].proc.kill('SIGKILL');
      await rs[k].exit;
      alive.delete(rs[k]);
      const other = cs[(k + 1) % 3];
      const b = await waitFor(async () => {
        const x = await other.batches.retrieve(b0.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
      }, { timeoutMs: 120000, stepMs: 200, what: 'the batch finished' });
      assert.equal(b.status, 'completed');
      assert.equal(b.request_counts.completed, N);
      const out = (await fileText(other, b.output_file_id)).trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(out.length, N, 'one output line per input line');
      assert.equal(new Set(out.map((l) => l.custom_id)).size, N, 'every custom_id answered once');
      assert.ok(Number(q(runners)) >= 2, 'lines answered by several replicas');
      const rows = `SELECT count(*), count(DISTINCT id) FROM calls WHERE batch_id = '${b0.id}'`;
      await waitFor(() => q(rows) === `${N}|${N}`, {
        timeoutMs: 20000, stepMs: 200, what: `${N} ledger rows, one per line (have ${q(rows)})`,
      });
    } finally {
      await Promise.all([...alive].map((r) => r.stop()));
    }
  });

  test('a replica killed right after committing lines, before its ledger writer ran: each line still recorded once', async () => {
    // FRUGAL_TEST_KILL_AFTER_LINES=1 (batch_store_pg.c): the process kills
    // itself with SIGKILL right after the first commit of answered lines
    // that carry ledger records, the window where a record handed to the
    // ledger writer after the commit would be lost for good
    const N = 40;
    const dsn = pg.createDb('pgb_window');
    const cfg = config(dsn, { local_concurrency: 4 });
    const q = (sql) => pg.sql('pgb_window', sql);
    const a = await startFrugal({ name: 'frugal-pgb-w0', config: cfg, env: { FRUGAL_TEST_KILL_AFTER_LINES: '1' } });
    let b = null;
    try {
      const ca = openai(a, { apiKey: MASTER });
      const lines = Array.from({ length: N }, (_, i) => JSON.stringify({
        custom_id: `w-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `window ${i}` }] },
      }));
      const f = await ca.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'w.jsonl'), purpose: 'batch' });
      const b0 = await ca.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const gone = await a.exit;
      assert.equal(gone.signal, 'SIGKILL', 'the fault hook killed the replica');
      const doneAtKill = Number(q(`SELECT count(*) FROM batch_lines WHERE batch_id = '${b0.id}' AND state = 'done'`));
      assert.ok(doneAtKill > 0 && doneAtKill < N, `killed after some lines were committed (${doneAtKill})`);
      b = await startFrugal({ name: 'frugal-pgb-w1', config: cfg });
      const cb = openai(b, { apiKey: MASTER });
      const fin = await waitFor(async () => {
        const x = await cb.batches.retrieve(b0.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
      }, { timeoutMs: 120000, stepMs: 200, what: 'the batch finished by the other replica' });
      assert.equal(fin.status, 'completed');
      assert.equal(fin.request_counts.completed, N);
      const rows = `SELECT count(*), count(DISTINCT id) FROM calls WHERE batch_id = '${b0.id}'`;
      await waitFor(() => q(rows) === `${N}|${N}`, {
        timeoutMs: 20000, stepMs: 200, what: `${N} ledger rows, one per line (have ${q(rows)})`,
      });
    } finally {
      if (!a.exited) await a.stop();
      await b?.stop();
    }
  });

  test('storage: postgres:// alone puts batches there; a batch API query waiting on Postgres never holds the worker loop', async () => {
    // one worker: a batch API query run on its loop would stall every other
    // request until Postgres answers; run off the loop (offq.h) it does not
    const dsn = pg.createDb('pgb_offloop');
    const q = (sql) => pg.sql('pgb_offloop', sql);
    const fr = await startFrugal({
      name: 'frugal-pgb-o',
      config: {
        server: { workers: 1, master_key: MASTER },
        storage: dsn,
        providers: [{ name: 'sim', type: 'sim', batch: 'local' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }],
      },
    });
    let locker = null;
    const unlock = () => q(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()`);
    try {
      const c = openai(fr, { apiKey: MASTER });
      const line = JSON.stringify({
        custom_id: 'o-0', method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'off the loop' }] },
      });
      const f = await c.files.create({ file: await toFile(Buffer.from(line + '\n'), 'o.jsonl'), purpose: 'batch' });
      const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal(q(`SELECT count(*) FROM batches WHERE id = '${b0.id}'`), '1', 'the batch is in Postgres');
      assert.equal(q(`SELECT count(*) FROM files WHERE id = '${f.id}'`), '1', 'the file is in Postgres');
      await waitFor(async () => (await c.batches.retrieve(b0.id)).status === 'completed',
        { timeoutMs: 60000, stepMs: 100, what: 'the batch completed' });
      // a session holding the batches table until the test ends it
      locker = pg.sqlAsync('pgb_offloop', 'BEGIN; LOCK TABLE batches IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT')
        .catch(() => 'ended');
      await waitFor(() => q(`SELECT count(*) FROM pg_locks l JOIN pg_class k ON k.oid = l.relation
        WHERE k.relname = 'batches' AND l.mode = 'AccessExclusiveLock' AND l.granted`) === '1',
      { timeoutMs: 20000, stepMs: 50, what: 'the lock taken' });
      const got = c.batches.retrieve(b0.id);
      await waitFor(() => Number(q(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
        AND query LIKE '%FROM batches WHERE id = $1%'`)) >= 1, { timeoutMs: 20000, stepMs: 50, what: 'the retrieve waiting on Postgres' });
      // while it waits, a call through the same (only) worker is answered
      const chat = c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      const first = await Promise.race([chat.then(() => 'call'), new Promise((r) => setTimeout(r, 20000, 'stalled'))]);
      assert.equal(unlock(), '1');
      await locker;
      locker = null;
      assert.equal(first, 'call', 'the call was answered while the batch query waited');
      assert.equal((await got).id, b0.id, 'the retrieve answered once Postgres did');
      await chat;
    } finally {
      if (locker) {
        unlock();
        await locker;
      }
      await fr.stop();
    }
  });

  test('a Message Batches create streamed into Postgres; a refused one leaves nothing; a file batch read in pieces', async () => {
    const dsn = pg.createDb('pgb_mb');
    const rs = await Promise.all([0, 1].map((i) => startFrugal({ name: `frugal-pgb-m${i}`, config: config(dsn) })));
    try {
      const [a, b] = rs.map((r) => anthropic(r, { apiKey: MASTER, maxRetries: 0 }));
      const q = (sql) => pg.sql('pgb_mb', sql);
      const N = 1200; // ~1.8 MB: the lines go to the store in several groups
      const params = (i) => ({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: `m ${i} ${'y'.repeat(1400)}` }] });
      const requests = Array.from({ length: N }, (_, i) => ({ custom_id: `m-${i}`, params: params(i) }));
      assert.ok(Buffer.byteLength(JSON.stringify({ requests })) > 1.5 * (1 << 20));
      const mb = await a.messages.batches.create({ requests });
      assert.equal(mb.request_counts.processing, N);
      assert.ok((await b.messages.batches.list()).data.some((x) => x.id === mb.id), 'listed through the other replica');
      const done = await waitFor(async () => {
        const x = await b.messages.batches.retrieve(mb.id);
        return x.processing_status === 'ended' ? x : null;
      }, { timeoutMs: 120000, stepMs: 200, what: 'the message batch ended' });
      assert.equal(done.request_counts.succeeded, N);
      const seen = new Set();
      for await (const r of await b.messages.batches.results(mb.id)) {
        assert.equal(r.result.type, 'succeeded');
        seen.add(r.custom_id);
      }
      assert.equal(seen.size, N);

      // refused at requests.1000, after groups were written: no row, no line left
      const bad = requests.map((r, i) => (i === 1000 ? { ...r, custom_id: 'bad id' } : r));
      const e = await a.messages.batches.create({ requests: bad }).then(() => null, (x) => x);
      assert.equal(e?.status, 400);
      assert.match(e.error.error.message, /^requests\.1000\.custom_id: /);
      await waitFor(() => q(`SELECT count(*) FROM batches WHERE id <> '${mb.id}'`) === '0' &&
        q(`SELECT count(*) FROM batch_lines WHERE batch_id <> '${mb.id}'`) === '0',
      { timeoutMs: 30000, stepMs: 200, what: 'the refused create swept' });
      assert.equal((await b.messages.batches.list()).data.length, 1);

      // POST /v1/batches through the other replica: its file (over one 1 MiB
      // chunk row) is checked and stored piece by piece
      const [oa, ob] = rs.map((r) => openai(r, { apiKey: MASTER }));
      const M = 3000;
      const text = Array.from({ length: M }, (_, i) => JSON.stringify({
        custom_id: `p-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `p ${i} ${'z'.repeat(400)}` }] },
      })).join('\n') + '\n';
      assert.ok(Buffer.byteLength(text) > (1 << 20));
      const f = await oa.files.create({ file: await toFile(Buffer.from(text), 'p.jsonl'), purpose: 'batch' });
      const bt = await ob.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal(bt.request_counts.total, M);
      assert.equal(q(`SELECT count(*), count(DISTINCT custom_id) FROM batch_lines WHERE batch_id = '${bt.id}'`), `${M}|${M}`);
    } finally {
      await Promise.all(rs.map((r) => r.stop()));
    }
  });
});
