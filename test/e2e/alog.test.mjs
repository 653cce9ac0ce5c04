// alog.test.mjs — the access log (`log: {access: PATH}`), end to end: one
// JSON line per call the ledger records, with the ledger's own numbers,
// after a mixed run through both SDKs (stream and not, a cache hit, a rate
// limit refusal, an unknown model whose name is hostile text); never a
// prompt, an answer or a secret; a logrotate-style rename + SIGHUP moves
// the next lines to a new file and loses none.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { toFile } from 'openai';
import { join } from 'node:path';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  startFrugal,
  tempDir,
  test,
  waitFor,
} from './lib/frugal.mjs';

const MASTER = 'sk-master-alog-e2e-0123456789';
const PROMPT_MARK = 'PROMPT-MARKER-7f3a9c';

let fr;
let dir;
let logPath;
let db;

before(async () => {
  dir = tempDir('frugal-alog-');
  logPath = join(dir, 'access.log');
  db = join(dir, 'ledger.db');
  fr = await startFrugal({
    name: 'frugal-alog',
    cwd: dir,
    config: {
      server: { master_key: MASTER, workers: 2 },
      storage: `sqlite:${db}`,
      providers: [{ name: 'sim', type: 'sim' }],
      models: [
        { name: 'gpt-4o-mini', provider: 'sim' },
        { name: 'claude-haiku-4-5', provider: 'sim' },
      ],
      response_cache: { enabled: true },
      log: { access: logPath },
    },
  });
});

after(async () => {
  try {
    if (fr && !fr.exited) await fr.stop();
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

const user = (text) => [{ role: 'user', content: text }];

/* Every line of a file, each parsed (a line that is not JSON fails). */
function lines(path) {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  if (!text) return [];
  assert.ok(text.endsWith('\n'), 'the file ends with a whole line');
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        assert.fail(`not a JSON line: ${JSON.stringify(l)}`);
      }
    });
}

function ledgerRows() {
  const out = execFileSync('sqlite3', ['-json', db,
    `SELECT id, ts_ms, key_id, endpoint, model_requested, model, provider, route, cache, stream, batch_id,
            status, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
            output_tokens, reasoning_tokens, priced, cost_pico, baseline_pico, latency_us, ttfb_us
       FROM calls ORDER BY ts_ms, id`]).toString();
  return out.trim() ? JSON.parse(out) : [];
}

async function createKey(opts) {
  const r = await call(fr, '/frugal/keys', { body: opts });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/* The ledger holds n records, has nothing queued, and the access log files
 * have a line for each. */
async function settled(paths, n) {
  let rows;
  await waitFor(async () => {
    const m = await call(fr, '/metrics', { method: 'GET' });
    if (Number(/^frugal_ledger_queue_depth (\d+)$/m.exec(m.text)?.[1]) !== 0) return false;
    rows = ledgerRows();
    return rows.length >= n && paths.flatMap(lines).length >= rows.length;
  }, { timeoutMs: 15000, what: `${n} ledger records and their access log lines` });
  return rows;
}

// the run below: 2 OpenAI, 2 Anthropic, miss + hit, 1 allowed + 1 refused,
// the two hostile model names
const CALLS = 10;
const answers = []; // answer texts: none may appear in the log

describe('access log', () => {
  test('one line per ledger record, with its numbers, after a mixed run through both SDKs', async () => {
    const team = await createKey({ name: 'alog-team' });
    const limited = await createKey({ name: 'alog-limited', rpm: 1 });
    const oa = openai(fr, { apiKey: team.key });
    const an = anthropic(fr, { apiKey: team.key });

    // OpenAI, not streamed and streamed
    const c1 = await oa.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 30, messages: user(`${PROMPT_MARK} one`) });
    answers.push(c1.choices[0].message.content);
    const s1 = await oa.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 30, stream: true, stream_options: { include_usage: true },
      messages: user(`${PROMPT_MARK} two`),
    });
    let streamed = '';
    for await (const ch of s1) streamed += ch.choices[0]?.delta?.content ?? '';
    answers.push(streamed);
    // Anthropic, not streamed and streamed
    const m1 = await an.messages.create({ model: 'claude-haiku-4-5', max_tokens: 30, messages: user(`${PROMPT_MARK} three`) });
    answers.push(m1.content[0].text);
    const ms = an.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 30, messages: user(`${PROMPT_MARK} four`) });
    answers.push(await ms.finalText());
    // the same request twice: a miss, then a cache hit
    const same = { model: 'gpt-4o-mini', max_tokens: 30, temperature: 0, messages: user(`${PROMPT_MARK} cached`) };
    const miss = await oa.chat.completions.create(same).withResponse();
    const hit = await oa.chat.completions.create(same).withResponse();
    assert.equal(miss.response.headers.get('x-frugal-cache'), 'miss');
    assert.equal(hit.response.headers.get('x-frugal-cache'), 'hit');
    answers.push(hit.data.choices[0].message.content);
    // a rate-limit refusal (429), recorded as a call
    const lim = openai(fr, { apiKey: limited.key });
    await lim.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user(`${PROMPT_MARK} five`) });
    await rejectsWith(lim.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user(`${PROMPT_MARK} six`) }),
      OpenAI.RateLimitError, 'over rpm');
    // a model name that tries to forge fields of its own and to drive a
    // terminal (a C1 control), and one with a line break (refused early)
    const forged = `nope","id":"forged","key_id":"master\\\u009b[2J\u00e9`;
    const bad = await call(fr, '/v1/chat/completions', { key: team.key, body: { model: forged, messages: user('x') } });
    assert.ok(bad.status >= 400, bad.text);
    const nl = await call(fr, '/v1/chat/completions', { key: team.key, body: { model: 'a\n{"id":"forged"}', messages: user('x') } });
    assert.ok(nl.status >= 400, nl.text);
    // a wrong key: refused before any call exists (no record, no line)
    await rejectsWith(openai(fr, { apiKey: 'fk-not-a-real-key-000000000000' }).chat.completions.create({
      model: 'gpt-4o-mini', messages: user('x') }), OpenAI.AuthenticationError, 'bad key');
    const anBad = anthropic(fr, { apiKey: 'fk-not-a-real-key-000000000000' });
    await rejectsWith(anBad.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('x') }),
      Anthropic.AuthenticationError, 'bad key (Anthropic)');

    const rows = await settled([logPath], CALLS);
    const log = lines(logPath);
    assert.equal(log.length, rows.length, 'one line per ledger record');
    const byId = new Map(log.map((l) => [l.id, l]));
    assert.equal(byId.size, log.length, 'ids are unique');
    assert.ok(!byId.has('forged'));
    assert.equal(log.filter((l) => l.model_requested === forged).length, 1, 'the hostile name, logged as sent');
    for (const r of rows) {
      const l = byId.get(r.id);
      assert.ok(l, `ledger record ${r.id} has a line`);
      const what = `${r.id}`;
      assert.equal(Date.parse(l.ts), r.ts_ms, what);
      assert.equal(l.key_id, r.key_id, what);
      assert.equal(l.endpoint, r.endpoint, what);
      assert.equal(l.model, r.model, what);
      assert.equal(l.provider, r.provider, what);
      assert.equal(l.route, r.route, what);
      assert.equal(l.cache, r.cache, what);
      assert.equal(l.stream, !!r.stream, what);
      assert.equal(l.batch_id, r.batch_id, what);
      assert.equal(l.status, r.status, what);
      assert.deepEqual(l.tokens, {
        input: r.input_tokens, cache_read: r.cache_read_tokens, cache_write_5m: r.cache_write_5m_tokens,
        cache_write_1h: r.cache_write_1h_tokens, output: r.output_tokens, reasoning: r.reasoning_tokens,
      }, what);
      assert.equal(l.priced, !!r.priced, what);
      if (r.priced) {
        assert.equal(l.cost_pico, r.cost_pico, what);
        assert.equal(l.saved_pico, r.baseline_pico - r.cost_pico, what);
      }
      assert.equal(Math.round(l.latency_ms * 1000), r.latency_us, what);
      if (r.ttfb_us) assert.equal(Math.round(l.ttfb_ms * 1000), r.ttfb_us, what);
      if (r.key_id === team.id) assert.equal(l.key_name, 'alog-team', what);
      if (r.key_id === limited.id) assert.equal(l.key_name, 'alog-limited', what);
      if (r.model_requested === forged) assert.equal(l.model_requested, forged, what);
      else assert.equal(l.model_requested, r.model_requested, what);
    }
    // the run's shapes are all there
    const mine = log.filter((l) => l.key_id === team.id || l.key_id === limited.id);
    assert.equal(mine.filter((l) => l.status === 200 && l.stream).length, 2, 'two streams');
    assert.equal(mine.filter((l) => l.cache === 'hit').length, 1, 'the cache hit');
    assert.equal(mine.filter((l) => l.status === 429).length, 1, 'the refusal');
    assert.equal(mine.filter((l) => l.endpoint === 'messages').length, 2, 'Anthropic calls');
    const up = mine.filter((l) => l.status === 200 && l.cache !== 'hit');
    assert.ok(up.every((l) => l.upstream_ms > 0 && l.upstream_ms <= l.latency_ms), 'upstream time of provider calls');
    assert.equal(mine.find((l) => l.cache === 'hit').upstream_ms, null, 'a hit asked no provider');
  });

  test('never a prompt, an answer or a secret', async () => {
    const text = readFileSync(logPath, 'utf8');
    assert.ok(text.length > 0);
    assert.ok(!text.includes(PROMPT_MARK), 'no prompt text');
    assert.ok(!text.includes(MASTER), 'no master key');
    assert.ok(!/fk-[A-Za-z0-9_-]{6,}/.test(text), 'no virtual key');
    for (const a of answers) if (a && a.length >= 12) assert.ok(!text.includes(a), `no answer text: ${a}`);
    // one line per record: no raw control byte anywhere but the newlines
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(text), 'no control bytes');
  });

  test('logrotate: rename, SIGHUP, the next lines go to a new file, none lost', async () => {
    const before = ledgerRows().length;
    const rotated = `${logPath}.1`;
    renameSync(logPath, rotated);
    fr.proc.kill('SIGHUP');
    // the writer reopens the path: the new file appears
    await waitFor(() => existsSync(logPath), { timeoutMs: 10000, what: 'the reopened access log' });
    const oa = openai(fr);
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const { response } = await oa.chat.completions
        .create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user(`after rotate ${i}`) })
        .withResponse();
      ids.push(response.headers.get('x-frugal-request-id'));
    }
    const rows = await settled([rotated, logPath], before + 5);
    assert.equal(rows.length, before + 5);
    const now = lines(logPath), old = lines(rotated);
    assert.equal(old.length, before, 'the rotated file kept every earlier line');
    assert.equal(now.length, 5, 'the new file has the calls made after SIGHUP');
    const all = new Set([...old, ...now].map((l) => l.id));
    for (const r of rows) assert.ok(all.has(r.id), `${r.id} is logged`);
    for (const id of ids.filter(Boolean)) assert.ok(now.some((l) => l.id === id), `${id} in the new file`);
    assert.equal(fr.exited, null, 'SIGHUP did not stop the daemon');
    const m = (await call(fr, '/metrics', { method: 'GET' })).text;
    assert.equal(Number(/^frugal_access_log_lines_total (\d+)$/m.exec(m)?.[1]), old.length + now.length);
    assert.equal(Number(/^frugal_access_log_dropped_total (\d+)$/m.exec(m)?.[1]), 0);
  });
});

describe('access log to stdout', () => {
  test('log: {access: stdout}: the lines go to standard output, whole, beside the listening line', async () => {
    const d = tempDir('frugal-alog-stdout-');
    const so = await startFrugal({
      name: 'frugal-alog-stdout',
      cwd: d,
      config: {
        storage: `sqlite:${join(d, 'ledger.db')}`,
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim' }],
        log: { access: 'stdout' },
      },
    });
    try {
      const ids = [];
      for (let i = 0; i < 3; i++) {
        const { response } = await openai(so)
          .chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user(`stdout ${i}`) })
          .withResponse();
        ids.push(response.headers.get('x-frugal-request-id'));
      }
      await so.stop(); // the last lines are written before it exits
      const out = so.stdout().split('\n').filter((l) => l.startsWith('{'));
      const logged = out.map((l) => JSON.parse(l));
      assert.deepEqual(logged.map((l) => l.id).sort(), ids.slice().sort());
      assert.ok(logged.every((l) => l.key_id === 'anonymous' && l.status === 200 && l.key_name === null));
    } finally {
      if (!so.exited) await so.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

for (const mode of ['provider', 'local']) {
  describe(`batch lines (${mode} mode)`, () => {
    test('each line has its line, with its batch_id, as the ledger records it', async () => {
      const d = tempDir('frugal-alog-batch-');
      const path = join(d, 'access.log');
      const bdb = join(d, 'ledger.db');
      const b = await startFrugal({
        name: `frugal-alog-batch-${mode}`,
        cwd: d,
        config: {
          storage: `sqlite:${bdb}`,
          providers: [{ name: 'sim', type: 'sim', batch: mode }],
          models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }],
          batches: { poll_ms: 50, poll_max_ms: 200 },
          log: { access: path },
        },
      });
      try {
        const c = openai(b);
        const jsonl = [0, 1, 2].map((i) => JSON.stringify({
          custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini', max_tokens: 20, messages: user(`${PROMPT_MARK} batch ${i}`) },
        })).join('\n') + '\n';
        const f = await c.files.create({ file: await toFile(Buffer.from(jsonl), 'in.jsonl'), purpose: 'batch' });
        const batch = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        await waitFor(async () => (await c.batches.retrieve(batch.id)).status === 'completed',
          { timeoutMs: 20000, stepMs: 50, what: `batch ${batch.id}` });
        const q = () => JSON.parse(execFileSync('sqlite3', ['-json', bdb,
          `SELECT id, status, cost_pico, output_tokens FROM calls WHERE batch_id = '${batch.id}'`]).toString() || '[]');
        await waitFor(() => q().length === 3 && lines(path).filter((l) => l.batch_id === batch.id).length === 3,
          { timeoutMs: 15000, what: 'three batch lines in the ledger and the access log' });
        const logged = new Map(lines(path).filter((l) => l.batch_id === batch.id).map((l) => [l.id, l]));
        for (const r of q()) {
          const l = logged.get(r.id);
          assert.ok(l, `${r.id} logged`);
          assert.equal(l.status, r.status);
          assert.equal(l.cost_pico, r.cost_pico);
          assert.equal(l.tokens.output, r.output_tokens);
        }
        assert.ok(!readFileSync(path, 'utf8').includes(PROMPT_MARK), 'no prompt text');
      } finally {
        if (!b.exited) await b.stop();
        rmSync(d, { recursive: true, force: true });
      }
    });
  });
}
