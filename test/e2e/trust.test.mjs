// trust.test.mjs — what an upstream (or a client) says is checked before
// frugal repeats it: relayed headers are redacted, log lines cannot be
// forged, usage counts must be plausible, a cut stream is still billed.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { OpenAI, anthropic, call, ledgerFlushed, metrics, openai, rejectsWith, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const PROVIDER_OA = 'sk-trust-PROVIDERKEY-oa-6b1f0d2e';
const PROVIDER_AN = 'sk-ant-trust-PROVIDERKEY-an-77c3a9';
const user = (text) => [{ role: 'user', content: text }];

let rec;
let fr;
const dir = tempDir('frugal-trust-');

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-trust',
    cwd: dir,
    config: {
      server: { workers: 2, upstream_retries: 0, stream_idle_timeout_ms: 1500 },
      storage: `sqlite:${join(dir, 'ledger.db')}`,
      providers: [
        { name: 'oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: PROVIDER_OA },
        { name: 'an', type: 'anthropic', base_url: rec.url, api_key: PROVIDER_AN },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'oa' },
        { name: 'claude-haiku-4-5', provider: 'an' },
      ],
    },
  });
});

after(async () => {
  await fr?.stop();
  await rec?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => rec.reset());

/* The ledger rows written so far (waits for the writer to catch up). */
async function rows(where = '1=1') {
  const m = await metrics(fr);
  await ledgerFlushed(fr, m.get('frugal_ledger_queued_total') ?? 0);
  const out = execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
    `SELECT id, model, status, input_tokens, output_tokens, cache_read_tokens, cost_pico, error FROM calls WHERE ${where} ORDER BY ts_ms`]).toString();
  return out.trim() ? JSON.parse(out) : [];
}

// ------------------------------------------------------------ item 7 ----

describe('relayed provider headers are redacted', () => {
  const echo = (key) => ({
    'x-request-id': `req_Bearer ${key}`,
    'request-id': `req_${key}`,
    'x-ratelimit-limit-requests': `${key}`,
  });

  test('non-streamed, streamed and translated answers carry no provider key in a header', async () => {
    const seen = [];
    // OpenAI client → OpenAI provider, buffered
    rec.queue({ headers: echo(PROVIDER_OA) });
    let r = await call(fr, '/v1/chat/completions', { key: 'sk-client', body: { model: 'gpt-4o-mini', messages: user('hi') } });
    assert.equal(r.status, 200, r.text);
    seen.push([...r.headers]);
    assert.match(r.headers.get('x-request-id'), /^req_Bearer \[REDACTED\]$/);
    // streamed
    rec.queue({ headers: echo(PROVIDER_OA) });
    r = await call(fr, '/v1/chat/completions', { key: 'sk-client', body: { model: 'gpt-4o-mini', stream: true, messages: user('hi') } });
    assert.equal(r.status, 200, r.text);
    seen.push([...r.headers]);
    // OpenAI client → Anthropic provider (request-id copied as x-request-id)
    rec.queue({ headers: echo(PROVIDER_AN) });
    r = await call(fr, '/v1/chat/completions', { key: 'sk-client', body: { model: 'claude-haiku-4-5', messages: user('hi') } });
    assert.equal(r.status, 200, r.text);
    seen.push([...r.headers]);
    // an error answer's headers
    rec.queue({ status: 429, body: { error: { message: 'slow down', type: 'rate_limit_error' } }, headers: echo(PROVIDER_OA) });
    r = await call(fr, '/v1/chat/completions', { key: 'sk-client', body: { model: 'gpt-4o-mini', messages: user('hi') } });
    assert.equal(r.status, 429, r.text);
    seen.push([...r.headers]);
    const all = JSON.stringify(seen);
    assert.ok(all.includes('[REDACTED]'), 'the echoed headers were relayed (redacted)');
    for (const k of [PROVIDER_OA, PROVIDER_AN]) assert.ok(!all.includes(k), `${k} relayed in a header: ${all}`);
  });
});

// ------------------------------------------------------------ item 8 ----

describe('log lines cannot be forged', () => {
  const FORGED = '2030-01-01T00:00:00.000Z error FORGED-LINE';

  test('client text with newlines and terminal escapes stays inside one escaped log line', async () => {
    const before0 = fr.stderr().length;
    // an unknown field dropped in translation is logged with its name
    const evil = `evil\n${FORGED}\u001b[2J\u001b]0;pwn\u0007\r`;
    let r = await call(fr, '/v1/chat/completions', {
      key: 'sk-client',
      body: { model: 'claude-haiku-4-5', messages: user('hi'), [evil]: 1 },
    });
    assert.equal(r.status, 200, r.text);
    // a schema that frugal cannot check is logged with the reason (its pattern)
    r = await call(fr, '/v1/chat/completions', {
      key: 'sk-client',
      body: {
        model: 'gpt-4o-mini', messages: user('hi'),
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'string', pattern: `(\n${FORGED}\u001b[31m` } } } } },
      },
    });
    await waitFor(() => fr.stderr().slice(before0).includes('FORGED-LINE'), { what: 'the logged field name' });
    const log = fr.stderr().slice(before0);
    assert.ok(!log.includes('\u001b'), 'a raw ESC byte reached the log');
    assert.ok(!log.includes('\u0007'), 'a raw BEL byte reached the log');
    assert.ok(!log.includes('\r'), 'a raw CR reached the log');
    for (const line of log.split('\n')) assert.ok(!line.startsWith(FORGED), `forged log line: ${line}`);
    assert.match(log, /evil\\n2030-01-01T00:00:00\.000Z error FORGED-LINE\\x1b\[2J/);
  });
});

// ----------------------------------------------------------- item 10 ----

const oaBody = (usage) => ({
  id: 'chatcmpl-bad', object: 'chat.completion', created: 1764000000, model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'A short answer of a few words.', refusal: null }, finish_reason: 'stop' }],
  ...(usage === undefined ? {} : { usage }),
});
const anBody = (usage) => ({
  id: 'msg_bad', type: 'message', role: 'assistant', model: 'claude-haiku-4-5',
  content: [{ type: 'text', text: 'A short answer of a few words.' }], stop_reason: 'end_turn', stop_sequence: null,
  ...(usage === undefined ? {} : { usage }),
});
/* An OpenAI stream whose usage chunk carries `usage` (raw JSON text). */
const oaSse = (usageJson) =>
  ['{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}]}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":${usageJson}}`,
    '[DONE]'].map((d) => `data: ${d}\n\n`).join('');
/* An Anthropic stream whose message_delta usage is `usageJson`. */
const anSse = (startUsage, deltaUsage) => [
  ['message_start', `{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":${startUsage}}}`],
  ['content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'],
  ['content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}'],
  ['content_block_stop', '{"type":"content_block_stop","index":0}'],
  ['message_delta', `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":${deltaUsage}}`],
  ['message_stop', '{"type":"message_stop"}'],
].map(([e, d]) => `event: ${e}\ndata: ${d}\n\n`).join('');

describe('usage from the upstream is validated', () => {
  const MAX_SANE_PICO = 10n ** 10n; // $0.01: far above any estimate of these tiny calls

  /* One call per case, its ledger row by the tag. */
  async function run(tag, path, model, behaviour, stream = false) {
    rec.queue(behaviour);
    const body = path === '/v1/messages'
      ? { model, max_tokens: 100, stream, messages: user(`usage case ${tag}`) }
      : { model, stream, messages: user(`usage case ${tag}`) };
    const r = await call(fr, path, { key: 'sk-client', body, headers: { 'x-frugal-tags': `case=${tag}` } });
    assert.equal(r.status, 200, `${tag}: ${r.text}`);
    const [row] = await rows(`tags = 'case=${tag}'`);
    assert.ok(row, `${tag}: no ledger row`);
    return row;
  }

  const estimated = (row, tag) => {
    assert.match(row.error ?? '', /tokens estimated/, `${tag}: not marked estimated: ${JSON.stringify(row)}`);
    assert.ok(row.input_tokens > 0 && row.input_tokens < 1000, `${tag}: input ${row.input_tokens}`);
    assert.ok(row.output_tokens > 0 && row.output_tokens < 1000, `${tag}: output ${row.output_tokens}`);
    assert.ok(row.cost_pico > 0 && BigInt(row.cost_pico) < MAX_SANE_PICO, `${tag}: cost ${row.cost_pico} pico`);
  };

  test('bad counts in non-streamed answers (both dialects) are estimated, marked and warned about', async () => {
    const before0 = fr.stderr().length;
    const cases = [
      ['oa-negative', { prompt_tokens: 11, completion_tokens: -99999999999, total_tokens: 5 }],
      ['oa-int64max', { prompt_tokens: 11, completion_tokens: 9223372036854775807n, total_tokens: 5 }],
      ['oa-float', { prompt_tokens: 11.5, completion_tokens: 3, total_tokens: 14 }],
      ['oa-string', { prompt_tokens: '11', completion_tokens: 3, total_tokens: 14 }],
      ['oa-absurd', { prompt_tokens: 11, completion_tokens: 90000000, total_tokens: 5 }],
      ['oa-cached-over', { prompt_tokens: 11, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 5000000 } }],
      ['oa-missing', undefined],
    ];
    for (const [tag, usage] of cases) {
      const text = JSON.stringify(oaBody(usage), (k, v) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(/"@@(\d+)@@"/g, '$1');
      estimated(await run(tag, '/v1/chat/completions', 'gpt-4o-mini', { body: text }), tag);
    }
    for (const [tag, usage] of [
      ['an-negative', { input_tokens: 11, output_tokens: -5 }],
      ['an-absurd', { input_tokens: 90000000, output_tokens: 3 }],
      ['an-string', { input_tokens: 11, output_tokens: '3' }],
      ['an-cache-negative', { input_tokens: 11, output_tokens: 3, cache_read_input_tokens: -1 }],
    ])
      estimated(await run(tag, '/v1/messages', 'claude-haiku-4-5', { body: anBody(usage) }), tag);
    const log = fr.stderr().slice(before0);
    assert.match(log, /warn .*usage field 'completion_tokens' is not a token count.*tokens estimated/);
    assert.match(log, /reported no usage; tokens estimated/);
  });

  test('bad counts in streams (both dialects) are estimated and marked', async () => {
    estimated(await run('oa-stream-negative', '/v1/chat/completions', 'gpt-4o-mini',
      { sse: oaSse('{"prompt_tokens":11,"completion_tokens":-99999999999,"total_tokens":1}') }, true), 'oa-stream-negative');
    estimated(await run('oa-stream-string', '/v1/chat/completions', 'gpt-4o-mini',
      { sse: oaSse('{"prompt_tokens":"11","completion_tokens":2,"total_tokens":13}') }, true), 'oa-stream-string');
    estimated(await run('an-stream-absurd', '/v1/messages', 'claude-haiku-4-5',
      { sse: anSse('{"input_tokens":11,"output_tokens":1}', '{"output_tokens":9223372036854775807}') }, true), 'an-stream-absurd');
    estimated(await run('an-stream-float', '/v1/messages', 'claude-haiku-4-5',
      { sse: anSse('{"input_tokens":11.0,"output_tokens":1}', '{"output_tokens":3}') }, true), 'an-stream-float');
  });

  test('plausible usage is billed as reported, not estimated', async () => {
    let row = await run('oa-good', '/v1/chat/completions', 'gpt-4o-mini', { body: oaBody({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 }) });
    assert.equal(row.error, null);
    assert.deepEqual([row.input_tokens, row.output_tokens], [11, 3]);
    row = await run('an-stream-good', '/v1/messages', 'claude-haiku-4-5',
      { sse: anSse('{"input_tokens":11,"output_tokens":1}', '{"output_tokens":3}') }, true);
    assert.equal(row.error, null);
    assert.deepEqual([row.input_tokens, row.output_tokens], [11, 3]);
  });
});

// ----------------------------------------------------------- item 11 ----

describe('a stream the upstream cuts or stalls is billed on an estimate', () => {
  const LONG = 'word '.repeat(40);

  async function cutStream(tag, path, model, behaviour, minOut = 3) {
    rec.queue(behaviour);
    const body = path === '/v1/messages'
      ? { model, max_tokens: 100, stream: true, messages: user(`cut ${tag} ${LONG}`) }
      : { model, stream: true, messages: user(`cut ${tag} ${LONG}`) };
    const r = await call(fr, path, { key: 'sk-client', body, headers: { 'x-frugal-tags': `cut=${tag}` } });
    assert.equal(r.status, 200);
    assert.match(r.text, /error/, `${tag}: the client saw no error event`);
    const [row] = await rows(`tags = 'cut=${tag}'`);
    assert.ok(row, `${tag}: no ledger row`);
    assert.match(row.error ?? '', /tokens partly estimated/, `${tag}: ${JSON.stringify(row)}`);
    assert.ok(row.output_tokens >= minOut, `${tag}: output ${row.output_tokens}`);
    assert.ok(row.input_tokens >= 11, `${tag}: input ${row.input_tokens}`);
    assert.ok(row.cost_pico > 0, `${tag}: recorded at $0`);
    return row;
  }

  test('cut after content: OpenAI and Anthropic streams, passthrough and translated', async () => {
    await cutStream('oa', '/v1/chat/completions', 'gpt-4o-mini', { events: 20, cutAfter: 5, eventDelayMs: 20 });
    const an = await cutStream('an', '/v1/messages', 'claude-haiku-4-5', { events: 20, cutAfter: 6, eventDelayMs: 20 });
    assert.equal(an.input_tokens, 11, 'message_start reported the input: it stands');
    await cutStream('oa-to-an', '/v1/chat/completions', 'claude-haiku-4-5', { events: 20, cutAfter: 6, eventDelayMs: 20 });
  });

  test('stalled after content (stream idle timeout)', async () => {
    // the first event arrives, then silence until frugal gives up on it
    await cutStream('stall', '/v1/chat/completions', 'gpt-4o-mini', { events: 6, eventDelayMs: 60000 }, 1);
  });
});

// ----------------------------------------------------------- item 15 ----

describe('a full ledger queue refuses calls instead of dropping records', () => {
  let fr2;
  const dir2 = tempDir('frugal-trust-queue-');
  const db = join(dir2, 'ledger.db');

  before(async () => {
    fr2 = await startFrugal({
      name: 'frugal-trust-queue',
      cwd: dir2,
      env: { FRUGAL_LEDGER_QUEUE_MAX: '2' },
      config: {
        storage: `sqlite:${db}`,
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim' }, { name: 'claude-haiku-4-5', provider: 'sim' }],
      },
    });
  });

  after(async () => {
    await fr2?.stop();
    rmSync(dir2, { recursive: true, force: true });
  });

  /* Another writer holds the database's write lock until release(). */
  async function lockDb() {
    const { spawn } = await import('node:child_process');
    const p = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stdin.write("PRAGMA busy_timeout=10000;\nBEGIN IMMEDIATE;\nSELECT 'lock-held';\n");
    await waitFor(() => out.includes('lock-held'), { timeoutMs: 15000, what: 'the sqlite3 lock' });
    return {
      release: () => new Promise((res) => {
        p.on('exit', res);
        p.stdin.end('COMMIT;\n.quit\n');
      }),
    };
  }

  test('503 in the caller\'s dialect while the queue is full; every record is written once the lock goes', async () => {
    const ok = await call(fr2, '/v1/chat/completions', { key: 'sk-q', body: { model: 'gpt-4o-mini', messages: user('before') } });
    assert.equal(ok.status, 200);
    await ledgerFlushed(fr2, 1);
    const lock = await lockDb();
    let answered = 0;
    let refused = null;
    let refusedAn = null;
    try {
      // the writer takes at most one group, then waits on the lock: the queue fills
      for (let i = 0; i < 50 && !refused; i++) {
        const r = await call(fr2, '/v1/chat/completions', { key: 'sk-q', body: { model: 'gpt-4o-mini', messages: user(`during ${i}`) } });
        if (r.status === 200) answered++;
        else refused = r;
      }
      assert.ok(refused, 'no call was refused while the ledger was locked');
      // (the writer may take the queue once more before it blocks: go on until refused)
      for (let i = 0; i < 50 && !refusedAn; i++) {
        const r = await call(fr2, '/v1/messages', {
          key: null, headers: { 'x-api-key': 'sk-q', 'anthropic-version': '2023-06-01' },
          body: { model: 'claude-haiku-4-5', max_tokens: 5, messages: user(`during, anthropic ${i}`) },
        });
        if (r.status === 200) answered++;
        else refusedAn = r;
      }
      assert.ok(refusedAn, 'no Anthropic call was refused while the ledger was locked');
      const m = await metrics(fr2);
      assert.equal(m.get('frugal_ledger_dropped_total'), 0, 'a record was dropped');
    } finally {
      await lock.release();
    }
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json?.error?.code, 'ledger_backlog', refused.text);
    assert.match(refused.json.error.message, /ledger/);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(refusedAn.status, 503, refusedAn.text);
    assert.equal(refusedAn.json?.type, 'error', refusedAn.text);
    assert.equal(refusedAn.json?.error?.type, 'overloaded_error', refusedAn.text);
    // every call, answered or refused, has its record once the writer gets the lock
    const total = 1 + answered + 2;
    await ledgerFlushed(fr2, total, 30000);
    const m = await metrics(fr2);
    assert.equal(m.get('frugal_ledger_dropped_total'), 0);
    assert.equal(m.get('frugal_ledger_write_errors_total'), 0);
    const n = Number(execFileSync('sqlite3', [db, 'SELECT COUNT(*) FROM calls']).toString());
    assert.equal(n, total);
    // and calls are admitted again
    const after = await call(fr2, '/v1/chat/completions', { key: 'sk-q', body: { model: 'gpt-4o-mini', messages: user('after') } });
    assert.equal(after.status, 200, after.text);
  });
});

// ------------------------------------------------------- item 14 (sim) ----

describe('the in-process sim takes calls only from frugal', () => {
  let fr3;

  before(async () => {
    fr3 = await startFrugal({
      name: 'frugal-trust-sim',
      config: {
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim' }, { name: 'claude-haiku-4-5', provider: 'sim' }],
      },
    });
  });

  after(async () => {
    await fr3?.stop();
  });

  test('a local caller without the per-process secret gets 401; frugal\'s own calls work', async () => {
    const m = /sim listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(fr3.stderr());
    assert.ok(m, 'the sim URL is logged');
    const sim = m[1];
    const chat = { model: 'gpt-4o-mini', messages: user('hi') };
    for (const [path, init] of [
      ['/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) }],
      ['/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-guess' }, body: JSON.stringify(chat) }],
      ['/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'guess', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ ...chat, model: 'claude-haiku-4-5', max_tokens: 5 }) }],
      ['/v1/files', { method: 'GET' }],
      ['/v1/batches', { method: 'GET' }],
      ['/v1/messages/batches', { method: 'GET', headers: { 'anthropic-version': '2023-06-01' } }],
    ]) {
      const r = await fetch(`${sim}${path}`, init);
      const text = await r.text();
      assert.equal(r.status, 401, `${init.method} ${path}: ${r.status} ${text}`);
    }
    assert.equal((await fetch(`${sim}/healthz`)).status, 200);
    // through frugal, both dialects
    const a = await openai(fr3).chat.completions.create(chat);
    assert.ok(a.choices[0].message.content);
    const b = await anthropic(fr3).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') });
    assert.ok(b.content[0].text);
    // the secret never shows in the log
    assert.ok(!/Bearer [0-9a-f]{64}/.test(fr3.stderr()));
  });
});

// ------------------------------------------------- item 10 (batches) ----

describe('usage in batch results is validated too', () => {
  for (const mode of ['provider', 'local']) {
    test(`a batch line with absurd usage (${mode} mode) is billed on an estimate`, async () => {
      const { toFile } = await import('openai');
      const d = tempDir('frugal-trust-batch-');
      const db = join(d, 'frugal.db');
      const fb = await startFrugal({
        name: `frugal-trust-batch-${mode}`,
        cwd: d,
        config: {
          storage: `sqlite:${db}`,
          providers: [{ name: 'sim', type: 'sim', batch: mode }],
          models: [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }, { name: 'claude-haiku-4-5', provider: 'sim', dialect: 'anthropic' }],
          batches: { poll_ms: 50, poll_max_ms: 200 },
        },
      });
      try {
        const c = openai(fb);
        const line = (id, model, content) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions',
          body: { model, max_tokens: 40, messages: [{ role: 'user', content }] } });
        const text = [line('good', 'gpt-4o-mini', 'hello'), line('bad-oa', 'gpt-4o-mini', 'hello #sim:bad_usage'),
          line('bad-an', 'claude-haiku-4-5', 'hello #sim:bad_usage')].join('\n') + '\n';
        const f = await c.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
        const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        const b = await waitFor(async () => {
          const x = await c.batches.retrieve(b0.id);
          return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
        }, { timeoutMs: 30000, stepMs: 50, what: 'the batch' });
        assert.equal(b.status, 'completed');
        await waitFor(() => Number(execFileSync('sqlite3', [db, `SELECT COUNT(*) FROM calls WHERE batch_id = '${b0.id}'`]).toString()) >= 3,
          { timeoutMs: 10000, what: 'the batch records' });
        const out = JSON.parse(execFileSync('sqlite3', ['-json', db,
          `SELECT model, status, input_tokens, output_tokens, cost_pico, error FROM calls WHERE batch_id = '${b0.id}' ORDER BY model, error`]).toString());
        assert.equal(out.length, 3, JSON.stringify(out));
        const estimated = out.filter((r) => /tokens estimated/.test(r.error ?? ''));
        assert.equal(estimated.length, 2, JSON.stringify(out));
        for (const r of out) {
          assert.equal(r.status, 200);
          assert.ok(r.output_tokens > 0 && r.output_tokens < 1000, JSON.stringify(r));
          assert.ok(r.cost_pico > 0 && r.cost_pico < 1e10, JSON.stringify(r));
        }
      } finally {
        await fb.stop();
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
});
