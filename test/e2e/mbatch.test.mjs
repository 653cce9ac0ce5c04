// mbatch.test.mjs — POST /v1/messages/batches streamed to the batch store:
// a 150 MB create of 100,000 requests never held in memory (the daemon's
// own RSS from /proc), every request stored; the whole-body create's errors
// (naming requests.I) kept; a create cut short (bad request, not JSON,
// client gone) leaving nothing in the store.  Raw node:net sockets send the
// bodies (the SDK would build a 150 MB string).
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { anthropic, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { MB, bodyOf, mem, rawClient, statusOf } from './lib/raw.mjs';

const MODELS = [{ name: 'claude-haiku-4-5', provider: 'sim' }];
const PROVIDERS = [{ name: 'sim', type: 'sim', batch: 'local' }];
const MASTER = 'mbatch-master-51d0c';

const started = [];
after(async () => {
  for (const d of started) if (!d.exited) await d.stop().catch(() => {});
});

async function gateway(extra = {}, env = {}) {
  const dir = tempDir();
  const db = join(dir, 'frugal.db');
  const fr = await startFrugal({
    config: {
      storage: `sqlite:${db}`,
      server: { master_key: MASTER, body_timeout_ms: 300000 },
      providers: PROVIDERS,
      models: MODELS,
      ...extra,
    },
    cwd: dir,
    env,
  });
  fr.db = db;
  started.push(fr);
  return fr;
}

const sql = (fr, q) => execFileSync('sqlite3', [fr.db, q]).toString().trim();

/* One request of the batch, `size` bytes of JSON (the comma excluded). */
function request(i, size = 1500) {
  const head = `{"custom_id":"r${i}","params":{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"`;
  const tail = '"}]}}';
  return head + 'x'.repeat(Math.max(1, size - head.length - tail.length)) + tail;
}

function reqHead(length) {
  return 'POST /v1/messages/batches HTTP/1.1\r\nHost: x\r\n' +
    `x-api-key: ${MASTER}\r\nanthropic-version: 2023-06-01\r\n` +
    'Content-Type: application/json\r\n' +
    (length === undefined ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
    '\r\n';
}

/* A body {"requests":[...]} of n requests (request(i) or over(i)), in ~1 MB
 * pieces, and its length. */
function bigBody(n, { size = 1500, over = () => undefined } = {}) {
  const per = Math.max(1, Math.floor(MB / size));
  const piece = (i) => (i ? ',' : '') + (over(i) ?? request(i, size));
  let length = '{"requests":['.length + ']}'.length;
  for (let i = 0; i < n; i++) length += Buffer.byteLength(piece(i), 'latin1');
  function* pieces() {
    yield '{"requests":[';
    for (let i = 0; i < n; i += per) {
      let s = '';
      for (let k = i; k < Math.min(n, i + per); k++) s += piece(k);
      yield s;
    }
    yield ']}';
  }
  return { pieces, length };
}

/* Sends a body over a raw socket (Content-Length, or chunked when length
 * is undefined); stops early when the server answers or closes, or after
 * `stopAfter` body bytes (then the socket is destroyed: a client gone). */
async function send(fr, pieces, { length, stopAfter = Infinity } = {}) {
  const chunked = length === undefined;
  const c = await rawClient(fr.port);
  c.sock.write(reqHead(length));
  let sent = 0;
  for (const p of pieces()) {
    if (c.closedAt !== null || c.sock.destroyed || c.data) break;
    const b = Buffer.from(p, 'latin1');
    const ok = c.sock.write(chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b);
    sent += b.length;
    if (!ok) await Promise.race([new Promise((r) => c.sock.once('drain', r)), c.closed]);
    /* let the loop read between pieces, as a real client does (the fix
     * upload.test.mjs got in bfe8d2b): an early answer left unread until
     * the server's linger ended in a reset read as status 0 */
    else await new Promise((r) => setImmediate(r));
    if (sent >= stopAfter) {
      c.sock.destroy();
      c.sent = sent;
      return c;
    }
  }
  if (chunked && !c.data && c.closedAt === null) c.sock.write('0\r\n\r\n');
  await waitFor(() => c.closedAt !== null || /\r\n\r\n[\s\S]*\}/.test(c.data), {
    timeoutMs: 240000, what: 'an answer or a close',
  });
  c.sent = sent;
  return c;
}

const leftovers = (fr) => ({
  batches: Number(sql(fr, 'SELECT count(*) FROM batches')),
  lines: Number(sql(fr, 'SELECT count(*) FROM batch_lines')),
});
const nothingLeft = (fr) => waitFor(() => {
  const l = leftovers(fr);
  return l.batches === 0 && l.lines === 0;
}, { timeoutMs: 30000, what: 'nothing left in the store' });

describe('Message Batches creates stream to the store', () => {
  test('a 150 MB create of 100,000 requests: daemon RSS stays flat, every request stored', async (t) => {
    // ASan's quarantine bounded so RSS shows what frugal holds (as in
    // upload.test.mjs); the whole-body create held the body, its parse and
    // every request's copy
    const fr = await gateway({ batches: { max_lines: 200000, max_file_bytes: '300MB' } },
      { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=8' });
    const w = bigBody(3);
    const warm = await send(fr, w.pieces, { length: w.length });
    assert.equal(statusOf(warm.data), 200, warm.data);
    const before = mem(fr);
    const N = 100000;
    const body = bigBody(N);
    assert.ok(body.length > 140 * MB);
    const r = await send(fr, body.pieces, { length: body.length });
    const afterM = mem(fr);
    assert.equal(statusOf(r.data), 200, r.data.slice(0, 400));
    const b = bodyOf(r.data);
    assert.equal(b.type, 'message_batch');
    assert.match(b.id, /^msgbatch_/);
    assert.equal(b.request_counts.processing + b.request_counts.succeeded, N);
    const grew = afterM.hwm - before.hwm;
    t.diagnostic(`${(body.length / MB).toFixed(0)} MB body: peak RSS grew by ${(grew / MB).toFixed(1)} MB ` +
      `(RSS ${(afterM.rss / MB).toFixed(1)} MB after)`);
    assert.ok(grew < 64 * MB, `peak RSS grew by ${(grew / MB).toFixed(1)} MB for a ${(body.length / MB).toFixed(0)} MB create`);
    // every request stored in order, bodies as sent
    assert.equal(Number(sql(fr, `SELECT count(*) FROM batch_lines WHERE batch_id = '${b.id}'`)), N);
    assert.equal(sql(fr, `SELECT custom_id FROM batch_lines WHERE batch_id = '${b.id}' AND idx = 77777`), 'r77777');
    const stored = JSON.parse(sql(fr, `SELECT CAST(body AS TEXT) FROM batch_lines WHERE batch_id = '${b.id}' AND idx = ${N - 1}`));
    assert.deepEqual(stored, JSON.parse(request(N - 1)).params);
    const c = anthropic(fr, { apiKey: MASTER });
    const got = await c.messages.batches.retrieve(b.id);
    assert.equal(got.id, b.id);
    await c.messages.batches.cancel(b.id);
  });

  test('an invalid request in the middle: the whole-body answer naming it, nothing stored', async () => {
    const fr = await gateway({ batches: { max_lines: 200000 } });
    const N = 8000; // several groups written before the bad one
    const body = bigBody(N, { over: (i) => (i === 6000 ? request(i).replace('"r6000"', '"r 6000"') : undefined) });
    const r = await send(fr, body.pieces, { length: body.length });
    assert.equal(statusOf(r.data), 400, r.data.slice(0, 400));
    const e = bodyOf(r.data);
    assert.equal(e.type, 'error');
    assert.equal(e.error.type, 'invalid_request_error');
    assert.equal(e.error.message,
      "requests.6000.custom_id: must be 1-64 characters of letters, digits, '_' or '-'.");
    await nothingLeft(fr);
    // a duplicate custom_id far apart, chunked
    const dup = bigBody(N, { over: (i) => (i === 7000 ? request(5) : undefined) });
    const d = await send(fr, dup.pieces, {});
    assert.equal(statusOf(d.data), 400, d.data.slice(0, 400));
    assert.equal(bodyOf(d.data).error.message, "requests.7000.custom_id: duplicate custom_id 'r5'.");
    await nothingLeft(fr);
  });

  test('more requests than batches.max_lines: counted to the end, as the whole-body create did', async () => {
    const fr = await gateway({ batches: { max_lines: 5000 } });
    const body = bigBody(6000, { size: 300 });
    const r = await send(fr, body.pieces, { length: body.length });
    assert.equal(statusOf(r.data), 400, r.data.slice(0, 400));
    assert.equal(bodyOf(r.data).error.message,
      'requests: 6000 requests, over the limit of 5000 (batches.max_lines).');
    await nothingLeft(fr);
  });

  test('a body that cannot become valid is answered before its end; a client gone leaves nothing', async () => {
    const fr = await gateway({ batches: { max_lines: 200000 }, server: { master_key: MASTER, body_timeout_ms: 300000, max_body_bytes: '1MB' } });
    // a request that is not JSON, 40 MB before the body's end
    const N = 30000;
    const broken = bigBody(N, { over: (i) => (i === 2000 ? '{"custom_id":"x",}' : undefined) });
    const r = await send(fr, broken.pieces, { length: broken.length });
    assert.equal(statusOf(r.data), 400, r.data.slice(0, 400));
    assert.match(bodyOf(r.data).error.message, /^Request body must be a JSON object: requests\.2000: /);
    assert.ok(r.sent < broken.length - 10 * MB, `sent ${r.sent} of ${broken.length} bytes before the answer`);
    assert.match(r.data, /\r\nConnection: close\r\n/i);
    // one request over server.max_body_bytes: 413 naming it
    const huge = bigBody(3000, { over: (i) => (i === 1000 ? request(i, 2 * MB) : undefined) });
    const h = await send(fr, huge.pieces, { length: huge.length });
    assert.equal(statusOf(h.data), 413, h.data.slice(0, 400));
    assert.match(bodyOf(h.data).error.message, /^requests\.1000: over the limit of 1048576 bytes/);
    // another top-level member
    const other = () => ['{"requests":[', request(0), '],"model":"x"}'];
    const o = await send(fr, other, { length: other().join('').length });
    assert.equal(statusOf(o.data), 400);
    assert.match(bodyOf(o.data).error.message, /only 'requests': unknown member 'model'/);
    // the client goes away after 20 MB
    const big = bigBody(N);
    const g = await send(fr, big.pieces, { length: big.length, stopAfter: 20 * MB });
    assert.equal(g.data, '');
    await nothingLeft(fr);
    const c = anthropic(fr, { apiKey: MASTER });
    assert.equal((await c.messages.batches.list()).data.length, 0);
  });

  test('small creates through the SDK: the answers the whole-body create gave', async () => {
    const fr = await gateway();
    const c = anthropic(fr, { apiKey: MASTER, maxRetries: 0 });
    const params = { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
    const ok = await c.messages.batches.create({ requests: [{ custom_id: 'a', params }, { custom_id: 'b', params }] });
    assert.equal(ok.request_counts.processing, 2);
    for (const [body, msg] of [
      [{ requests: [] }, 'requests: must be a non-empty array.'],
      [{}, 'requests: must be a non-empty array.'],
      [{ requests: {} }, 'requests: must be a non-empty array.'],
      [{ requests: [{ custom_id: 'a', params }, 5] }, 'requests.1: must be an object with custom_id and params.'],
      [{ requests: [{ custom_id: 'a', params: { ...params, stream: true } }] }, "requests.0.params: must not set 'stream' in a batch."],
      [{ requests: [{ custom_id: 'a', params: { model: 'm', messages: [] } }] }, "requests.0.params: needs 'messages' (a non-empty array)."],
    ]) {
      const e = await c.messages.batches.create(body).then(() => null, (x) => x);
      assert.ok(e, JSON.stringify(body));
      assert.equal(e.status, 400);
      assert.equal(e.error.error.message, msg);
    }
    const list = await c.messages.batches.list();
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].id, ok.id);
  });
});
