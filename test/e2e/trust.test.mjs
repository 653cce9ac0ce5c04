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
