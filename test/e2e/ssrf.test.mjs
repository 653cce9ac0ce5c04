// ssrf.test.mjs — clients never choose where frugal connects or with which
// key.  Fields and headers that could carry a URL are sent pointing at a
// second recorder (the would-be target): only the configured upstream is
// ever contacted, with the configured key.  A provider answering with a
// redirect to the other host is not followed: the client gets a 502 and
// the target receives nothing.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';

import { Anthropic, OpenAI, anthropic, call, openai, rejectsWith, startFrugal, test } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const OA_KEY = 'sk-test-PROVIDERSECRET-ssrf-oa-5e1f';
const AN_KEY = 'sk-ant-test-PROVIDERSECRET-ssrf-an-77c0';
const user = (text) => [{ role: 'user', content: text }];

let rec; // the configured provider
let target; // where a client would like frugal to go
let fr;

before(async () => {
  rec = await startRecorder();
  target = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-ssrf',
    config: {
      server: { upstream_retries: 0 },
      providers: [
        { name: 'oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: OA_KEY },
        { name: 'an', type: 'anthropic', base_url: rec.url, api_key: AN_KEY },
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
  await target?.stop();
});

beforeEach(() => {
  rec.reset();
  target.reset();
});

/* Every way a request could name another upstream. */
function urlHeaders() {
  const t = target.url;
  const host = new URL(t).host;
  return {
    'x-forwarded-host': host,
    'x-forwarded-proto': 'http',
    forwarded: `host=${host};proto=http`,
    'x-original-url': `${t}/v1/chat/completions`,
    'x-rewrite-url': `${t}/v1/chat/completions`,
    'openai-base-url': `${t}/v1`,
    'anthropic-base-url': t,
    'x-frugal-upstream': t,
    'x-upstream-url': t,
    'x-api-base': t,
    'x-base-url': t,
  };
}

function urlFields() {
  const t = target.url;
  return {
    api_base: `${t}/v1`,
    base_url: `${t}/v1`,
    baseURL: `${t}/v1`,
    api_url: t,
    endpoint: `${t}/v1/chat/completions`,
    url: t,
    upstream: t,
    provider: { base_url: t, api_key: 'sk-attacker-chosen-key-0001' },
    api_key: 'sk-attacker-chosen-key-0002',
  };
}

function assertOnlyConfiguredUpstream(n) {
  assert.equal(target.requests.length, 0, 'the would-be target was contacted');
  assert.equal(rec.requests.length, n);
  for (const r of rec.requests) {
    assert.equal(r.headers.host, new URL(rec.url).host);
    assert.ok(!/attacker-chosen/.test(JSON.stringify(r.headers)), 'a client-chosen key went upstream');
    for (const h of Object.keys(urlHeaders())) assert.equal(r.headers[h], undefined, `${h} was forwarded`);
  }
}

describe('SSRF: the upstream is config\'s, not the client\'s', () => {
  test('URL-carrying body fields and headers: OpenAI SDK, plain and streamed', async () => {
    const c = openai(fr, { defaultHeaders: urlHeaders() });
    const r = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi'), ...urlFields() });
    assert.ok(r.choices[0].message.content);
    const s = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi'), stream: true, ...urlFields() });
    for await (const chunk of s) void chunk;
    assertOnlyConfiguredUpstream(2);
    for (const q of rec.requests) {
      assert.equal(q.path, '/v1/chat/completions');
      assert.equal(q.headers.authorization, `Bearer ${OA_KEY}`);
    }
  });

  test('URL-carrying body fields and headers: Anthropic SDK, plain and streamed', async () => {
    const c = anthropic(fr, { defaultHeaders: urlHeaders() });
    const body = { model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi'), ...urlFields() };
    const m = await c.messages.create(body);
    assert.ok(m.content[0].text);
    const s = await c.messages.create({ ...body, stream: true });
    for await (const ev of s) void ev;
    assertOnlyConfiguredUpstream(2);
    for (const q of rec.requests) {
      assert.equal(q.path, '/v1/messages');
      assert.ok(q.headers['x-api-key'] === AN_KEY || q.headers.authorization === `Bearer ${AN_KEY}`);
    }
  });

  test('a Host header and an absolute-form request target naming another host', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: user('hi') });
    const status = await new Promise((res, rej) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: fr.port,
        method: 'POST',
        path: `${target.url}/v1/chat/completions`, // absolute-form
        headers: { host: new URL(target.url).host, 'content-type': 'application/json', ...urlHeaders() },
      }, (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode));
      });
      req.on('error', rej);
      req.end(body);
    });
    assert.equal(status, 200);
    assertOnlyConfiguredUpstream(1);
  });

  test('a provider redirect to another host is not followed: 502 upstream_redirect, target untouched', async () => {
    for (const code of [301, 302, 307, 308]) {
      rec.queue({ status: code, headers: { location: `${target.url}/v1/chat/completions` }, body: '' });
      const e = await rejectsWith(
        openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') }),
        OpenAI.InternalServerError,
        `HTTP ${code}`,
      );
      assert.equal(e.status, 502);
      assert.equal(e.code, 'upstream_redirect');
      assert.match(e.message, new RegExp(`redirect \\(HTTP ${code}\\)`));
      assert.ok(!e.message.includes(target.url), 'the Location is not echoed');
    }
    // streamed, and the Anthropic dialect
    rec.queue({ status: 302, headers: { location: `${target.url}/v1/chat/completions` }, body: '' });
    const s = await rejectsWith(
      (async () => {
        const st = await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi'), stream: true });
        for await (const ch of st) void ch;
      })(),
      OpenAI.InternalServerError,
    );
    assert.equal(s.status, 502);
    rec.queue({ status: 307, headers: { location: `${target.url}/v1/messages` }, body: '{"redirected":true}' });
    const a = await rejectsWith(
      anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') }),
      Anthropic.InternalServerError,
    );
    assert.equal(a.status, 502);
    assert.equal(a.error.error.type, 'api_error');
    assert.equal(target.requests.length, 0, 'frugal followed a redirect');
    assert.equal(rec.requests.length, 6, 'one attempt per call: a redirect is not retried');
  });

  test('the raw 3xx status never reaches the client (an SDK would follow it with the client key)', async () => {
    rec.queue({ status: 302, headers: { location: `${target.url}/steal` }, body: '' });
    const r = await call(fr, '/v1/chat/completions', { body: { model: 'gpt-4o-mini', messages: user('hi') } });
    assert.equal(r.status, 502);
    assert.equal(r.headers.get('location'), null);
    assert.equal(target.requests.length, 0);
  });
});
