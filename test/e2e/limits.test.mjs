// limits.test.mjs — the limits that keep one client from taking the gateway
// down: body nesting, message count, header size, connection counts (global
// and per address) and slow clients (slowloris), each refused with a clear
// error in the caller's dialect or, for a client trickling bytes, a closed
// connection.  Raw node:net sockets play the misbehaving clients, the SDKs
// the well-behaved ones.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  runFrugal,
  sleep,
  startFrugal,
  tempDir,
  test,
  waitFor,
} from './lib/frugal.mjs';

const MODELS = [
  { name: 'gpt-4o-mini', provider: 'sim' },
  { name: 'claude-haiku-4-5', provider: 'sim' },
];
const PROVIDERS = [{ name: 'sim', type: 'sim' }];
const user = (text) => [{ role: 'user', content: text }];

/* A raw client: collects what the server sends and when it closes. */
function rawClient(port) {
  return new Promise((res, rej) => {
    const c = { data: '', closedAt: null, openedAt: Date.now() };
    c.sock = connect(port, '127.0.0.1', () => res(c));
    c.sock.setEncoding('utf8');
    c.sock.on('data', (d) => (c.data += d));
    c.sock.on('error', () => {});
    c.sock.on('close', () => (c.closedAt = Date.now()));
    c.closed = new Promise((r) => c.sock.on('close', r));
    c.sock.once('error', rej);
  });
}

/* Writes `piece` every `everyMs` until the socket closes; returns a stop function. */
function trickle(c, piece, everyMs) {
  const iv = setInterval(() => {
    if (c.closedAt === null && !c.sock.destroyed) c.sock.write(piece);
  }, everyMs);
  c.closed.then(() => clearInterval(iv));
  return () => clearInterval(iv);
}

/* `depth` nested objects around a number. */
const nested = (depth) => {
  let v = 1;
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
};

describe('limits at their defaults', () => {
  let fr;
  before(async () => {
    fr = await startFrugal({ name: 'frugal-limits', config: { providers: PROVIDERS, models: MODELS } });
  });
  after(async () => {
    await fr?.stop();
  });

  test('JSON nested deeper than 64 levels → 400 naming server.max_json_depth, both dialects', async () => {
    // the body object is level 1: 63 more levels reach exactly 64
    const ok = await openai(fr).chat.completions.create({
      model: 'gpt-4o-mini', messages: user('deep'), extra: nested(63),
    });
    assert.ok(ok.choices[0].message.content);
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('deep'), extra: nested(64) }),
      OpenAI.BadRequestError,
    );
    assert.equal(e.status, 400);
    assert.equal(e.code, 'json_too_deep');
    assert.equal(e.type, 'invalid_request_error');
    assert.match(e.message, /deeper than 64 levels.*server\.max_json_depth/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('deep'), extra: nested(100) }),
      Anthropic.BadRequestError,
    );
    assert.equal(a.error.type, 'error');
    assert.equal(a.error.error.type, 'invalid_request_error');
    assert.match(a.error.error.message, /server\.max_json_depth/);
  });

  test('more than 10,000 messages → 400 naming messages and server.max_messages', async () => {
    const many = (n) => Array.from({ length: n }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'm' }))
      .concat([{ role: 'user', content: 'last' }]);
    const ok = await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: many(9999) });
    assert.ok(ok.choices[0].message.content);
    const e = await rejectsWith(
      openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: many(10000) }),
      OpenAI.BadRequestError,
    );
    assert.equal(e.param, 'messages');
    assert.equal(e.code, 'too_many_messages');
    assert.match(e.message, /'messages' has 10001, over the gateway's limit of 10000 \(server\.max_messages\)/);
    const a = await rejectsWith(
      anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: many(10000) }),
      Anthropic.BadRequestError,
    );
    assert.match(a.error.error.message, /server\.max_messages/);
  });

  test('headers over server.max_header_bytes (64 KiB) → 431 in the caller\'s dialect, connection closed', async () => {
    const big = 'a'.repeat(70 * 1024);
    const r = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', messages: user('hi') },
      headers: { 'x-padding': big },
    });
    assert.equal(r.status, 431);
    assert.equal(r.headers.get('connection'), 'close');
    assert.equal(r.json.error.code, 'request_headers_too_large');
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.match(r.json.error.message, /over the gateway's limit of 65536 bytes \(server\.max_header_bytes\)/);
    const ra = await call(fr, '/v1/messages', {
      body: { model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') },
      headers: { 'anthropic-version': '2023-06-01', 'x-padding': big },
    });
    assert.equal(ra.status, 431);
    assert.equal(ra.json.type, 'error');
    assert.equal(ra.json.error.type, 'request_too_large');
    // just under the limit passes
    const fine = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', messages: user('hi') },
      headers: { 'x-padding': 'a'.repeat(60 * 1024) },
    });
    assert.equal(fine.status, 200);
  });

  test('a header flood far over the limit: libevent cuts it off, the gateway stays healthy', async () => {
    const c = await rawClient(fr.port);
    c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    const line = `x-flood: ${'b'.repeat(1000)}\r\n`;
    for (let i = 0; i < 1000 && !c.sock.destroyed && c.closedAt === null; i++) {
      c.sock.write(line);
      if (i % 50 === 0) await sleep(1);
    }
    await Promise.race([c.closed, sleep(5000)]);
    assert.notEqual(c.closedAt, null, 'frugal must close a connection sending 1 MB of headers');
    // an answer, when the client could read one, is an error status, never a 2xx
    if (c.data) assert.match(c.data, /^HTTP\/1\.1 4\d\d /);
    const h = await call(fr, '/healthz', { method: 'GET' });
    assert.equal(h.status, 200);
  });
});

describe('slow clients (header_timeout_ms 1000, body_timeout_ms 1500)', () => {
  let fr;
  before(async () => {
    fr = await startFrugal({
      name: 'frugal-slow',
      config: { server: { header_timeout_ms: 1000, body_timeout_ms: 1500 }, providers: PROVIDERS, models: MODELS },
    });
  });
  after(async () => {
    await fr?.stop();
  });

  test('headers trickled a line at a time are cut at header_timeout_ms, without an answer', async () => {
    const c = await rawClient(fr.port);
    c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    trickle(c, 'x-slow: 1\r\n', 100);
    await Promise.race([c.closed, sleep(5000)]);
    assert.notEqual(c.closedAt, null, 'the connection must be closed');
    const took = c.closedAt - c.openedAt;
    assert.ok(took >= 900 && took < 2500, `closed after ${took} ms`);
    assert.equal(c.data, '');
  });

  test('a body trickled a byte at a time is cut at body_timeout_ms after the headers', async () => {
    const c = await rawClient(fr.port);
    await sleep(400); // the body deadline counts from the end of the headers, not from accept
    c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Content-Length: 1000\r\n\r\n{');
    const headersAt = Date.now();
    trickle(c, ' ', 100);
    await Promise.race([c.closed, sleep(5000)]);
    assert.notEqual(c.closedAt, null);
    const took = c.closedAt - headersAt;
    assert.ok(took >= 1400 && took < 3000, `closed ${took} ms after the headers`);
    assert.equal(c.data, '');
  });

  test('a connection that never sends anything is closed at header_timeout_ms', async () => {
    const c = await rawClient(fr.port);
    await Promise.race([c.closed, sleep(5000)]);
    assert.notEqual(c.closedAt, null);
    const took = c.closedAt - c.openedAt;
    assert.ok(took >= 900 && took < 2500, `closed after ${took} ms`);
  });

  test('keep-alive: a pause between requests is not a slow request', async () => {
    const c = await rawClient(fr.port);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: user('again') });
    const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    c.sock.write(req);
    await waitFor(() => /"usage"/.test(c.data), { what: 'the first answer' });
    await sleep(1600); // longer than both deadlines, shorter than client_timeout_ms
    assert.equal(c.closedAt, null);
    const before1 = c.data.length;
    c.sock.write(req);
    await waitFor(() => /"usage"/.test(c.data.slice(before1)), { what: 'the second answer' });
    assert.match(c.data.slice(before1), /^HTTP\/1\.1 200 /);
    c.sock.destroy();
  });

  test('well-behaved SDK calls are unaffected', async () => {
    const r = await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') });
    assert.ok(r.choices[0].message.content);
  });
});

describe('server.max_header_fields', () => {
  const fields = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']));

  test('over the configured count (20) → 431 naming the key, in the caller\'s dialect; under it passes', async () => {
    const fr = await startFrugal({
      name: 'frugal-header-fields',
      config: { server: { max_header_fields: 20 }, providers: PROVIDERS, models: MODELS },
    });
    try {
      const r = await call(fr, '/v1/chat/completions', {
        body: { model: 'gpt-4o-mini', messages: user('hi') }, headers: fields(25),
      });
      assert.equal(r.status, 431);
      assert.equal(r.headers.get('connection'), 'close');
      assert.equal(r.json.error.code, 'request_headers_too_large');
      assert.match(r.json.error.message, /20 fields \(server\.max_header_fields\)/);
      const ra = await call(fr, '/v1/messages', {
        body: { model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') },
        headers: { 'anthropic-version': '2023-06-01', ...fields(25) },
      });
      assert.equal(ra.status, 431);
      assert.equal(ra.json.type, 'error');
      assert.match(ra.json.error.message, /server\.max_header_fields/);
      // fetch adds a handful of its own: 10 of ours stay under 20
      const fine = await call(fr, '/v1/chat/completions', {
        body: { model: 'gpt-4o-mini', messages: user('hi') }, headers: fields(10),
      });
      assert.equal(fine.status, 200);
    } finally {
      await fr.stop();
    }
  });

  test('frugal check refuses a count out of range', async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'f.yaml');
      const cfg = (n) => `server:\n  max_header_fields: ${n}\nproviders:\n  - name: sim\n    type: sim\n` +
        'models:\n  - name: gpt-4o-mini\n    provider: sim\n';
      for (const bad of ['0', '10001', 'many']) {
        writeFileSync(file, cfg(bad));
        const r = await runFrugal(['check', '-c', file], { cwd: dir });
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /f\.yaml:2\b[^\n]*server\.max_header_fields/);
      }
      writeFileSync(file, cfg('300'));
      const ok = await runFrugal(['check', '-c', file], { cwd: dir });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('connection caps', () => {
  test('per client address (max_connections_per_ip 4) → 429 too_many_connections in each dialect', async () => {
    const fr = await startFrugal({
      name: 'frugal-per-ip',
      config: {
        server: { max_connections_per_ip: 4, header_timeout_ms: 20000 },
        providers: PROVIDERS,
        models: MODELS,
      },
    });
    try {
      const idle = [];
      for (let i = 0; i < 4; i++) idle.push(await rawClient(fr.port));
      await sleep(100);
      // the SDK's connection is the fifth from 127.0.0.1
      const e = await rejectsWith(
        openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') }),
        OpenAI.RateLimitError,
      );
      assert.equal(e.status, 429);
      assert.equal(e.code, 'too_many_connections');
      assert.match(e.message, /server\.max_connections_per_ip = 4/);
      const conn = typeof e.headers?.get === 'function' ? e.headers.get('connection') : e.headers?.connection;
      assert.equal(conn, 'close');
      const a = await rejectsWith(
        anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') }),
        Anthropic.RateLimitError,
      );
      assert.equal(a.error.error.type, 'rate_limit_error');
      assert.match(a.error.error.message, /Too many connections from your address/);
      // closing the idle ones frees their places
      for (const c of idle) c.sock.destroy();
      await waitFor(async () => {
        try {
          await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') });
          return true;
        } catch {
          return false;
        }
      }, { what: 'a call to pass once the idle connections closed' });
      assert.match(fr.stderr(), /refused: 5 open connections from this address, over server\.max_connections_per_ip \(4\)/);
    } finally {
      await fr.stop();
    }
  });

  test('all clients together (max_connections 3) → 503 too_many_connections; places come back', async () => {
    const fr = await startFrugal({
      name: 'frugal-global-cap',
      config: {
        server: { max_connections: 3, max_connections_per_ip: 0, header_timeout_ms: 20000 },
        providers: PROVIDERS,
        models: MODELS,
      },
    });
    try {
      // each holds its place with a request begun (a connection that sent
      // nothing would be shed for the SDK's: edge.test.mjs)
      const idle = [];
      for (let i = 0; i < 3; i++) {
        const c = await rawClient(fr.port);
        c.sock.write('GET /healthz HTTP/1.1\r\n');
        idle.push(c);
      }
      await sleep(100);
      const e = await rejectsWith(
        openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') }),
        OpenAI.InternalServerError,
      );
      assert.equal(e.status, 503);
      assert.equal(e.code, 'too_many_connections');
      assert.match(e.message, /connection limit \(server\.max_connections = 3\)/);
      const a = await rejectsWith(
        anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') }),
        Anthropic.InternalServerError,
      );
      assert.equal(a.status, 503);
      assert.equal(a.error.error.type, 'overloaded_error');
      idle[0].sock.destroy();
      idle[1].sock.destroy();
      await waitFor(async () => {
        try {
          await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') });
          return true;
        } catch {
          return false;
        }
      }, { what: 'a call to pass once two idle connections closed' });
      idle[2].sock.destroy();
    } finally {
      await fr.stop();
    }
  });
});
