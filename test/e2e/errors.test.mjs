// errors.test.mjs — every error class, answered in the caller's dialect with
// the status, type and message the official SDKs understand.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';

import {
  Anthropic,
  AnthropicLegacy,
  OpenAI,
  anthropic,
  anthropicLegacy,
  call,
  freePort,
  openai,
  rejectsWith,
  startFrugal,
  startSim,
  test,
} from './lib/frugal.mjs';
import { anthropicError, openaiError, startRecorder } from './lib/recorder.mjs';

const MASTER = 'fg-errors-master-5d1c';

let rec;
let fr;
let sim; // the standalone `frugal sim`, to compare provider errors with

before(async () => {
  rec = await startRecorder();
  const dead = await freePort(); // nobody listens there
  fr = await startFrugal({
    name: 'frugal-errors',
    config: {
      // upstream_retries 0: these tests look at each provider failure as it is
      server: { workers: 2, master_key: MASTER, max_body_bytes: 4096, upstream_retries: 0 },
      providers: [
        { name: 'sim-main', type: 'sim', timeout_ms: 2000 },
        { name: 'rec-openai', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa', timeout_ms: 1000 },
        { name: 'rec-anthropic', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an', timeout_ms: 1000 },
        { name: 'dead-openai', type: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, api_key: 'sk-dead' },
        { name: 'dead-anthropic', type: 'anthropic', base_url: `http://127.0.0.1:${dead}`, api_key: 'sk-dead' },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'sim-main' },
        { name: 'claude-haiku-4-5', provider: 'sim-main' },
        { name: 'rec-gpt', provider: 'rec-openai' },
        { name: 'rec-claude', provider: 'rec-anthropic' },
        { name: 'dead-gpt', provider: 'dead-openai' },
        { name: 'dead-claude', provider: 'dead-anthropic' },
      ],
    },
  });
  sim = await startSim({ name: 'frugal-sim' });
});

after(async () => {
  await fr?.stop();
  await sim?.stop();
  await rec?.stop();
});

beforeEach(() => rec.reset());

const user = (text) => [{ role: 'user', content: text }];
const OA = { model: 'gpt-4o-mini', messages: user('hi') };
const AN = { model: 'claude-haiku-4-5', max_tokens: 50, messages: user('hi') };
const AN_HEADERS = { 'anthropic-version': '2026-10-21' };

/* OpenAI error body shape: {"error":{"message","type","param","code"}}. */
function assertOpenAIError(r, status, { type = 'invalid_request_error', param, message } = {}) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.ok(r.json?.error, `not an OpenAI error body: ${r.text}`);
  const e = r.json.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  if (type) assert.equal(e.type, type);
  if (param !== undefined) assert.equal(e.param, param);
  if (message) assert.match(e.message, message);
  return e;
}

/* Anthropic error body shape: {"type":"error","error":{"type","message"}}. */
function assertAnthropicError(r, status, { type = 'invalid_request_error', message } = {}) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(r.json?.type, 'error', `not an Anthropic error body: ${r.text}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string');
  if (type) assert.equal(e.type, type);
  if (message) assert.match(e.message, message);
  return e;
}

describe('bad requests (400) in the caller dialect', () => {
  test('malformed JSON', async () => {
    const bad = '{"model": "gpt-4o-mini", "messages": [';
    assertOpenAIError(await call(fr, '/v1/chat/completions', { body: bad }), 400, { message: /JSON/ });
    assertAnthropicError(await call(fr, '/v1/messages', { body: bad, headers: AN_HEADERS }), 400, {
      message: /JSON/,
    });
  });

  test('body that is JSON but not an object', async () => {
    assertOpenAIError(await call(fr, '/v1/chat/completions', { body: '[1,2]' }), 400, { message: /object/ });
  });

  test('missing model', async () => {
    const e = await rejectsWith(openai(fr).chat.completions.create({ messages: user('hi') }), OpenAI.BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.param, 'model');
    assert.equal(e.type, 'invalid_request_error');
    assert.match(e.message, /model/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ max_tokens: 5, messages: user('hi') }),
      Anthropic.BadRequestError,
    );
    assert.equal(a.error.error.type, 'invalid_request_error');
    assert.match(a.error.error.message, /model/);
  });

  test('missing messages', async () => {
    const e = await rejectsWith(openai(fr).chat.completions.create({ model: 'gpt-4o-mini' }), OpenAI.BadRequestError);
    assert.equal(e.param, 'messages');
    assert.match(e.message, /messages/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5 }),
      Anthropic.BadRequestError,
    );
    assert.match(a.error.error.message, /messages/);
  });

  test('wrong types: messages "x", stream "yes"', async () => {
    const c = openai(fr);
    let e = await rejectsWith(c.chat.completions.create({ model: 'gpt-4o-mini', messages: 'x' }), OpenAI.BadRequestError);
    assert.equal(e.param, 'messages');
    assert.match(e.message, /messages/);
    const r = await call(fr, '/v1/chat/completions', { body: { ...OA, stream: 'yes' } });
    assertOpenAIError(r, 400, { param: 'stream', message: /stream/ });

    const a = anthropic(fr);
    e = await rejectsWith(a.messages.create({ ...AN, messages: 'x' }), Anthropic.BadRequestError);
    assert.match(e.error.error.message, /messages/);
    const ra = await call(fr, '/v1/messages', { body: { ...AN, stream: 'yes' }, headers: AN_HEADERS });
    assertAnthropicError(ra, 400, { message: /stream/ });
  });

  test('Anthropic: missing max_tokens', async () => {
    const { max_tokens, ...noMax } = AN;
    const e = await rejectsWith(anthropic(fr).messages.create(noMax), Anthropic.BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'invalid_request_error');
    assert.match(e.error.error.message, /max_tokens/);
    // the legacy SDK gets the same
    const l = await rejectsWith(anthropicLegacy(fr).messages.create(noMax), AnthropicLegacy.BadRequestError);
    assert.equal(l.status, 400);
    assert.match(l.message, /max_tokens/);
  });

  test('a 400 is not retried by the SDKs (x-should-retry: false)', async () => {
    const r = await call(fr, '/v1/chat/completions', { body: { model: 'gpt-4o-mini' } });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('x-should-retry'), 'false');
  });
});

describe('not found, too large, wrong method', () => {
  test('unknown model → 404 NotFoundError in both SDKs', async () => {
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, model: 'gpt-nonexistent-9' }),
      OpenAI.NotFoundError,
    );
    assert.equal(e.status, 404);
    assert.equal(e.param, 'model');
    assert.equal(e.code, 'model_not_found');
    assert.match(e.message, /gpt-nonexistent-9/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ ...AN, model: 'claude-nonexistent-9' }),
      Anthropic.NotFoundError,
    );
    assert.equal(a.status, 404);
    assert.equal(a.error.error.type, 'not_found_error');
    assert.match(a.error.error.message, /claude-nonexistent-9/);
  });

  test('body over server.max_body_bytes → 413 with a JSON error body', async () => {
    const big = { ...OA, messages: user('x'.repeat(10 * 1024)) };
    const r = await call(fr, '/v1/chat/completions', { body: big });
    assertOpenAIError(r, 413, { type: null, message: /4096/ });
    const ra = await call(fr, '/v1/messages', { body: { ...AN, messages: user('y'.repeat(10 * 1024)) }, headers: AN_HEADERS });
    assertAnthropicError(ra, 413, { type: 'request_too_large' });
    // and the gateway is fine afterwards
    const ok = await openai(fr).chat.completions.create(OA);
    assert.ok(ok.choices[0].message.content);
  });

  test('max_body_bytes boundary: 4096 bytes pass, 4097 do not', async () => {
    const body = JSON.stringify({ ...OA, messages: user('z'.repeat(3900)) });
    assert.ok(body.length < 4096);
    const at = await call(fr, '/v1/chat/completions', { body: body.padEnd(4096, ' ') });
    assert.equal(at.status, 200, at.text);
    const over = await call(fr, '/v1/chat/completions', { body: body.padEnd(4097, ' ') });
    assertOpenAIError(over, 413, { type: null, message: /4097/ });
  });

  test('GET /v1/chat/completions → 405 with Allow: POST', async () => {
    const r = await call(fr, '/v1/chat/completions', { method: 'GET' });
    assertOpenAIError(r, 405, { message: /POST/ });
    assert.equal(r.headers.get('allow'), 'POST');
    const ra = await call(fr, '/v1/messages', { method: 'GET', headers: AN_HEADERS });
    assertAnthropicError(ra, 405);
  });

  test('HEAD is answered without a body (keep-alive stays in sync)', async () => {
    // two requests on one connection: HEAD, then GET.  A body after the HEAD
    // response would be read as the start of the second response.
    const raw = await new Promise((resolve, reject) => {
      const s = connect(fr.port, '127.0.0.1', () =>
        s.write('HEAD /healthz HTTP/1.1\r\nHost: e2e\r\n\r\n' +
                'GET /healthz HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n'));
      let t = '';
      s.setEncoding('latin1');
      s.on('data', (d) => (t += d));
      s.on('close', () => resolve(t));
      s.on('error', reject);
      setTimeout(() => s.destroy(), 3000);
    });
    const first = raw.match(/^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/);
    assert.ok(first, raw);
    assert.ok(['200', '405'].includes(first[1]), `HEAD status ${first[1]}`);
    const rest = raw.slice(first[0].length);
    assert.match(rest, /^HTTP\/1\.1 200 /, `bytes after the HEAD response headers: ${JSON.stringify(rest.slice(0, 120))}`);
    assert.match(rest, /\{"status":"ok",.*\}$/);
  });

  test('unknown path → 404 naming the path', async () => {
    // (any /v1/ path is an OpenAI path, passed through: openai_paths.test.mjs)
    const r = await call(fr, '/v2/nothing-here', { method: 'POST', body: {} });
    assertOpenAIError(r, 404, { message: /\/v2\/nothing-here/ });
    const ra = await call(fr, '/v2/messages', { body: {}, headers: AN_HEADERS });
    assertAnthropicError(ra, 404, { type: 'not_found_error', message: /\/v2\/messages/ });
  });
});

describe('master key', () => {
  test('missing key → 401 in both dialects', async () => {
    const r = await call(fr, '/v1/chat/completions', { body: OA, key: null });
    assertOpenAIError(r, 401, { message: /key/i });
    const ra = await call(fr, '/v1/messages', { body: AN, key: null, headers: AN_HEADERS });
    assertAnthropicError(ra, 401, { type: 'authentication_error' });
    const rm = await call(fr, '/v1/models', { method: 'GET', key: null });
    assert.equal(rm.status, 401);
  });

  test('wrong key → AuthenticationError in both SDKs', async () => {
    const e = await rejectsWith(
      openai(fr, { apiKey: MASTER + 'x' }).chat.completions.create(OA),
      OpenAI.AuthenticationError,
    );
    assert.equal(e.status, 401);
    const a = await rejectsWith(anthropic(fr, { apiKey: 'nope' }).messages.create(AN), Anthropic.AuthenticationError);
    assert.equal(a.error.error.type, 'authentication_error');
    const l = await rejectsWith(anthropicLegacy(fr, { apiKey: MASTER.slice(0, -1) }).messages.create(AN), AnthropicLegacy.AuthenticationError);
    assert.equal(l.status, 401);
    // a prefix of the key is not the key
    const r = await call(fr, '/v1/chat/completions', { body: OA, key: MASTER.slice(0, 4) });
    assert.equal(r.status, 401);
  });

  test('right key works as Bearer and as x-api-key', async () => {
    const r1 = await call(fr, '/v1/chat/completions', { body: OA, headers: { authorization: `Bearer ${MASTER}` } });
    assert.equal(r1.status, 200, r1.text);
    const r2 = await call(fr, '/v1/chat/completions', { body: OA, headers: { 'x-api-key': MASTER } });
    assert.equal(r2.status, 200, r2.text);
    const r3 = await call(fr, '/v1/messages', { body: AN, headers: { 'x-api-key': MASTER, ...AN_HEADERS } });
    assert.equal(r3.status, 200, r3.text);
    const r4 = await call(fr, '/v1/messages', { body: AN, headers: { authorization: `Bearer ${MASTER}`, ...AN_HEADERS } });
    assert.equal(r4.status, 200, r4.text);
  });

  test('/healthz needs no key', async () => {
    const r = await call(fr, '/healthz', { method: 'GET', key: null });
    assert.equal(r.status, 200);
  });
});

describe('upstream errors', () => {
  test('provider 4xx passes through as the provider said it (sim)', async () => {
    const body = { ...OA, messages: user('please fail #sim:status=400') };
    // what the provider says, asked directly
    const direct = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify(body),
    });
    assert.equal(direct.status, 400);
    const want = await direct.json();
    const e = await rejectsWith(openai(fr).chat.completions.create(body), OpenAI.BadRequestError);
    assert.equal(e.status, 400);
    assert.deepEqual(e.error, want.error);

    const abody = { ...AN, messages: user('please fail #sim:status=400') };
    const adirect = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'x', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(abody),
    });
    assert.equal(adirect.status, 400);
    const awant = await adirect.json();
    const a = await rejectsWith(anthropicLegacy(fr).messages.create(abody), AnthropicLegacy.BadRequestError);
    assert.equal(a.status, 400);
    assert.equal(a.error.error.type, awant.error.type);
    assert.equal(a.error.error.message, awant.error.message);
  });

  test('provider 4xx passes through as the provider said it (recorder)', async () => {
    rec.queue({ status: 400, body: openaiError("Invalid 'max_tokens': integer above maximum value.", 'invalid_request_error', 'max_tokens', 'integer_above_max_value') });
    const e = await rejectsWith(openai(fr).chat.completions.create({ ...OA, model: 'rec-gpt' }), OpenAI.BadRequestError);
    assert.equal(e.error.message, "Invalid 'max_tokens': integer above maximum value.");
    assert.equal(e.param, 'max_tokens');
    assert.equal(e.code, 'integer_above_max_value');

    rec.queue({ status: 404, body: anthropicError('model: claude-upstream-gone', 'not_found_error') });
    const a = await rejectsWith(anthropic(fr).messages.create({ ...AN, model: 'rec-claude' }), Anthropic.NotFoundError);
    assert.equal(a.error.error.message, 'model: claude-upstream-gone');
    assert.equal(a.error.error.type, 'not_found_error');
  });

  test('provider 429 passes through with retry-after', async () => {
    rec.queue({
      status: 429,
      headers: { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0' },
      body: openaiError('Rate limit reached for requests', 'requests', null, 'rate_limit_exceeded'),
    });
    const e = await rejectsWith(openai(fr).chat.completions.create({ ...OA, model: 'rec-gpt' }), OpenAI.RateLimitError);
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), '7');
    assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(e.message, /Rate limit reached/);

    rec.queue({
      status: 429,
      headers: { 'retry-after': '3', 'anthropic-ratelimit-requests-remaining': '0' },
      body: anthropicError('Number of requests has exceeded your rate limit', 'rate_limit_error'),
    });
    const a = await rejectsWith(anthropic(fr).messages.create({ ...AN, model: 'rec-claude' }), Anthropic.RateLimitError);
    assert.equal(a.headers.get('retry-after'), '3');
    assert.equal(a.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assert.equal(a.error.error.type, 'rate_limit_error');
  });

  test('provider 5xx (sim 503 and 500) → client 5xx', async () => {
    for (const s of [503, 500]) {
      const e = await rejectsWith(
        openai(fr).chat.completions.create({ ...OA, messages: user(`boom #sim:status=${s}`) }),
        OpenAI.InternalServerError,
      );
      assert.ok(e.status >= 500 && e.status <= 599, `status ${e.status}`);
      const a = await rejectsWith(
        anthropic(fr).messages.create({ ...AN, messages: user(`boom #sim:status=${s}`) }),
        Anthropic.InternalServerError,
      );
      assert.ok(a.status >= 500 && a.status <= 599, `status ${a.status}`);
      assert.equal(a.error?.type, 'error', JSON.stringify(a.error));
    }
  });

  test('provider error on a streaming request → a plain JSON error, not a stream', async () => {
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, stream: true, messages: user('#sim:status=429') }),
      OpenAI.RateLimitError,
    );
    assert.equal(e.status, 429);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ ...AN, stream: true, messages: user('#sim:status=529') }),
      Anthropic.APIError,
    );
    assert.equal(a.status, 529);
    assert.equal(a.error?.type, 'error');
  });

  test('fault injection through the x-sim-fault request header', async () => {
    const e = await rejectsWith(
      openai(fr, { defaultHeaders: { 'x-sim-fault': 'status=503' } }).chat.completions.create(OA),
      OpenAI.InternalServerError,
    );
    assert.equal(e.status, 503);
  });

  test('provider 5xx with a non-JSON body → 502 describing it', async () => {
    rec.queue({ status: 500, body: '<html>upstream exploded</html>' });
    const r = await call(fr, '/v1/chat/completions', { body: { ...OA, model: 'rec-gpt' } });
    assertOpenAIError(r, 502, { type: 'server_error', message: /rec-openai/ });
  });

  test('connection refused → 502 naming the provider', async () => {
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, model: 'dead-gpt' }),
      OpenAI.InternalServerError,
    );
    assert.equal(e.status, 502);
    assert.match(e.message, /dead-openai/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ ...AN, model: 'dead-claude' }),
      Anthropic.InternalServerError,
    );
    assert.equal(a.status, 502);
    assert.equal(a.error.error.type, 'api_error');
    assert.match(a.error.error.message, /dead-anthropic/);
    // streaming requests fail the same way (nothing was sent yet)
    const r = await call(fr, '/v1/chat/completions', { body: { ...OA, model: 'dead-gpt', stream: true } });
    assertOpenAIError(r, 502, { type: 'server_error', message: /dead-openai/ });
  });

  test('upstream timeout (recorder hangs, timeout_ms 1000) → 504', async () => {
    rec.queue({ hang: true });
    const t0 = Date.now();
    const e = await rejectsWith(openai(fr).chat.completions.create({ ...OA, model: 'rec-gpt' }), OpenAI.APIError);
    const took = Date.now() - t0;
    assert.equal(e.status, 504);
    assert.match(e.message, /rec-openai/);
    assert.match(e.message, /timed out/);
    assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
    rec.queue({ hang: true });
    const a = await rejectsWith(anthropic(fr).messages.create({ ...AN, model: 'rec-claude' }), Anthropic.APIError);
    assert.equal(a.status, 504);
    assert.equal(a.error.error.type, 'timeout_error');
  });

  test('upstream timeout (#sim:delay_ms=4000, timeout_ms 2000) → 504', async () => {
    const t0 = Date.now();
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, messages: user('slow #sim:delay_ms=4000') }),
      OpenAI.APIError,
    );
    assert.equal(e.status, 504);
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 3900, `took ${took} ms`);
  });

  test('upstream reset (#sim:reset) → 502', async () => {
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, messages: user('go away #sim:reset') }),
      OpenAI.InternalServerError,
    );
    assert.equal(e.status, 502);
    assert.match(e.message, /sim-main/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ ...AN, messages: user('go away #sim:reset') }),
      Anthropic.InternalServerError,
    );
    assert.equal(a.status, 502);
    // the same fault on a streaming request, before any byte was sent
    const r = await call(fr, '/v1/messages', {
      body: { ...AN, stream: true, messages: user('#sim:reset') },
      headers: AN_HEADERS,
    });
    assertAnthropicError(r, 502, { type: 'api_error' });
  });

  test('upstream invalid JSON (#sim:invalid_json) → 502 mentioning malformed', async () => {
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ ...OA, messages: user('#sim:invalid_json') }),
      OpenAI.InternalServerError,
    );
    assert.equal(e.status, 502);
    assert.match(e.message, /malformed/);
    assert.equal(e.code, 'upstream_malformed');
    const a = await rejectsWith(
      anthropic(fr).messages.create({ ...AN, messages: user('#sim:invalid_json') }),
      Anthropic.InternalServerError,
    );
    assert.equal(a.status, 502);
    assert.match(a.error.error.message, /malformed/);
  });

  test('the gateway still serves normally after all of the above', async () => {
    const r = await openai(fr).chat.completions.create(OA);
    assert.match(r.choices[0].message.content, /Simulated reply/);
  });
});
