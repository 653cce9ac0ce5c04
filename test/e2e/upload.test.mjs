// upload.test.mjs — POST /v1/files streamed to the batch store: a 150 MB
// upload never held in memory (the daemon's own RSS from /proc), the file
// read back byte for byte, the size limit enforced the moment the file part
// crosses it, line errors named as before, and an upload cut short (413,
// bad line, client gone) leaving nothing in the store.  Raw node:net
// sockets send the multipart bodies (the SDK would buffer a 150 MB file).
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { toFile } from 'openai';

import { OpenAI, openai, rejectsWith, sleep, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { MB, bodyOf, mem, rawClient, statusOf } from './lib/raw.mjs';

const MODELS = [{ name: 'gpt-4o-mini', provider: 'sim' }];
const PROVIDERS = [{ name: 'sim', type: 'sim', batch: 'local' }];
const MASTER = 'upload-master-7c2e1';
const BOUNDARY = '----frugal-upload-test-9f3a';

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

/* A valid JSONL request line of exactly `size` bytes (LF included). */
function line(i, size = 3000) {
  const head = `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`;
  const tailS = '"}]}}\n';
  return head + 'x'.repeat(size - head.length - tailS.length) + tailS;
}

/* An invalid line (JSON cut short) of exactly `size` bytes. */
function badLine(i, size) {
  const s = `{"custom_id":"bad${i}"`;
  return s + ' '.repeat(size - s.length - 1) + '\n';
}

const fileHead = (name = 'big.jsonl') =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
  'Content-Type: application/octet-stream\r\n\r\n';
const formTail = `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${BOUNDARY}--\r\n`;

function reqHead(length) {
  return 'POST /v1/files HTTP/1.1\r\nHost: x\r\n' +
    `Authorization: Bearer ${MASTER}\r\n` +
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
    (length === undefined ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
    '\r\n';
}

/* Sends an upload over a raw socket: `pieces` (strings or Buffers, produced
 * lazily by a generator) as a Content-Length body, or chunked when
 * `chunked`; stops early when the server answers or closes, or after
 * `stopAfter` body bytes (then the socket is destroyed: a client gone).
 * Resolves with the client (c.data: the answer) and c.sent. */
async function send(fr, pieces, { length, chunked = false, stopAfter = Infinity } = {}) {
  const c = await rawClient(fr.port);
  c.sock.write(reqHead(chunked ? undefined : length));
  let sent = 0;
  for (const p of pieces()) {
    if (c.closedAt !== null || c.sock.destroyed || c.data) break;
    const b = typeof p === 'string' ? Buffer.from(p, 'latin1') : p;
    const ok = c.sock.write(chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b);
    sent += b.length;
    if (!ok) await Promise.race([new Promise((r) => c.sock.once('drain', r)), c.closed]);
    /* let the loop read between pieces, as a real client does: while the
     * kernel takes every write at once this loop never yielded, so an
     * early answer sat unread until the server's linger ended in a reset
     * and the failed write destroyed the socket with it (status 0) */
    else await new Promise((r) => setImmediate(r));
    if (sent >= stopAfter) {
      c.sock.destroy();
      c.sent = sent;
      return c;
    }
  }
  if (chunked && !c.data && c.closedAt === null) c.sock.write('0\r\n\r\n');
  const lastByte = Date.now();
  c.sock.once('data', () => (c.answeredAt = Date.now()));
  await waitFor(() => c.closedAt !== null || /\r\n\r\n[\s\S]*\}/.test(c.data), {
    timeoutMs: 240000, what: 'an answer or a close',
  });
  c.sent = sent;
  c.answerMs = c.answeredAt ? c.answeredAt - lastByte : undefined; /* the work left after the body */
  return c;
}

/* The body of a file of `n` lines of `size` bytes, in ~1 MB pieces, and its
 * length and sha256. */
function bigFile(n, size = 3000, badLines = new Set()) {
  const per = Math.max(1, Math.floor(MB / size));
  const hash = createHash('sha256');
  const fileLen = n * size;
  function* pieces() {
    yield fileHead();
    for (let i = 0; i < n; i += per) {
      let s = '';
      for (let k = i; k < Math.min(n, i + per); k++)
        s += badLines.has(k + 1) ? badLine(k, size) : line(k, size);
      const b = Buffer.from(s, 'latin1');
      hash.update(b);
      yield b;
    }
    yield formTail;
  }
  return { pieces, length: fileHead().length + fileLen + formTail.length, fileLen, sha: () => hash.digest('hex') };
}

const leftovers = (fr) => ({
  chunks: Number(sql(fr, 'SELECT count(*) FROM file_chunks')),
  files: Number(sql(fr, 'SELECT count(*) FROM files')),
});

describe('uploads stream to the store', () => {
  test('a 150 MB upload: daemon RSS stays flat, the file reads back byte for byte', async (t) => {
    // ASan's quarantine (freed memory it keeps back) is not the daemon's
    // own: bound it so RSS shows what frugal holds.  The bound below (as in
    // edge.test.mjs) leaves room for a sanitizer's shadow memory (ASan
    // 25-36 MB, TSan 48 MB here; the release build 9 MB); the whole-body
    // upload grew 304-562 MB
    const fr = await gateway({ batches: { max_lines: 1000000 } },
      { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=8' });
    const c = openai(fr, { apiKey: MASTER });
    // warm up: the worker's store handle opened, first upload done
    const small = bigFile(10);
    const w = await send(fr, small.pieces, { length: small.length });
    assert.equal(statusOf(w.data), 200, w.data);
    const before = mem(fr);
    const f = bigFile(52429); // 150 MiB of 3000-byte lines
    const r = await send(fr, f.pieces, { length: f.length });
    const afterM = mem(fr);
    assert.equal(statusOf(r.data), 200, r.data.slice(0, 400));
    const obj = bodyOf(r.data);
    assert.equal(obj.bytes, f.fileLen);
    assert.equal(obj.filename, 'big.jsonl');
    const grew = afterM.hwm - before.hwm;
    t.diagnostic(`peak RSS grew by ${(grew / MB).toFixed(1)} MB (RSS ${(afterM.rss / MB).toFixed(1)} MB after); ` +
      `answered ${r.answerMs} ms after the last byte`);
    assert.ok(grew < 64 * MB, `peak RSS grew by ${(grew / MB).toFixed(1)} MB for a ${(f.fileLen / MB).toFixed(0)} MB upload`);
    // the store has it in chunks; every reader gets the whole file back
    assert.ok(Number(sql(fr, `SELECT count(*) FROM file_chunks WHERE file_id = '${obj.id}'`)) >= 150);
    assert.equal((await c.files.retrieve(obj.id)).bytes, f.fileLen);
    // a client that stops reading: the daemon reads the file only as fast as
    // it drains (batch_download.h), so it holds a few pieces, not the file
    const slow = await rawClient(fr.port);
    slow.sock.write(`GET /v1/files/${obj.id}/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER}\r\n\r\n`);
    await waitFor(() => slow.data.length > 0, { what: 'the download to start' });
    slow.sock.pause();
    await sleep(1500);
    const paused = mem(fr);
    slow.sock.destroy();
    t.diagnostic(`a paused download: peak RSS ${((paused.hwm - afterM.hwm) / MB).toFixed(1)} MB over the upload's`);
    assert.ok(paused.hwm - afterM.hwm < 32 * MB, `a paused download grew peak RSS by ${((paused.hwm - afterM.hwm) / MB).toFixed(1)} MB`);
    // every reader gets the whole file back, streamed
    const got = Buffer.from(await (await c.files.content(obj.id)).arrayBuffer());
    const read = mem(fr);
    t.diagnostic(`the 150 MB download: peak RSS ${((read.hwm - afterM.hwm) / MB).toFixed(1)} MB over the upload's`);
    assert.ok(read.hwm - afterM.hwm < 32 * MB, `the download grew peak RSS by ${((read.hwm - afterM.hwm) / MB).toFixed(1)} MB`);
    assert.equal(got.length, f.fileLen);
    assert.equal(createHash('sha256').update(got).digest('hex'), f.sha());
    // a batch of it: the file is checked piece by piece and its lines
    // written in groups, never held whole (it held the file and a copy of
    // every line's body)
    const pre = mem(fr);
    const batch = await c.batches.create({ input_file_id: obj.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const made = mem(fr);
    t.diagnostic(`a batch of the 150 MB file: peak RSS ${((made.hwm - pre.hwm) / MB).toFixed(1)} MB over the download's`);
    assert.ok(made.hwm - pre.hwm < 48 * MB, `creating the batch grew peak RSS by ${((made.hwm - pre.hwm) / MB).toFixed(1)} MB`);
    assert.equal(batch.request_counts.total, 52429);
    assert.equal(Number(sql(fr, `SELECT count(*) FROM batch_lines WHERE batch_id = '${batch.id}'`)), 52429);
    await c.batches.cancel(batch.id);
    // deleting it drops its chunks
    await c.files.delete(obj.id);
    await rejectsWith(c.files.retrieve(obj.id), OpenAI.NotFoundError);
    await waitFor(() => Number(sql(fr, `SELECT count(*) FROM file_chunks WHERE file_id = '${obj.id}'`)) === 0,
      { timeoutMs: 30000, what: 'its chunks swept' });
  });

  test('a file crossing batches.max_file_bytes: 413 at once, nothing stored', async () => {
    const fr = await gateway({ batches: { max_file_bytes: 8 * MB, max_lines: 1000000 } });
    // declared length under the path's cap (8 MB + 64 KiB), file part over 8 MB
    const f = bigFile(Math.ceil((8 * MB + 20000) / 3000));
    assert.ok(f.length < 8 * MB + 65536);
    const r = await send(fr, f.pieces, { length: f.length });
    assert.equal(statusOf(r.data), 413, r.data.slice(0, 400));
    assert.equal(bodyOf(r.data).error.code, 'file_too_large');
    assert.match(bodyOf(r.data).error.message, /batches\.max_file_bytes/);
    // chunked, no declared size: a 64 MB file is cut off at 8 MB
    const big = bigFile(Math.ceil(64 * MB / 3000));
    const rc = await send(fr, big.pieces, { chunked: true });
    assert.equal(statusOf(rc.data), 413);
    assert.equal(bodyOf(rc.data).error.code, 'file_too_large');
    assert.ok(rc.sent < 48 * MB, `sent ${rc.sent} bytes before the answer`);
    await waitFor(() => { const l = leftovers(fr); return l.files === 0 && l.chunks === 0; },
      { timeoutMs: 20000, what: 'nothing left in the store' });
  });

  test('a client gone mid-upload leaves no partial file', async () => {
    const fr = await gateway({ batches: { max_lines: 1000000 } });
    const f = bigFile(Math.ceil(40 * MB / 3000));
    const r = await send(fr, f.pieces, { length: f.length, stopAfter: 20 * MB });
    assert.equal(r.data, '');
    await waitFor(() => { const l = leftovers(fr); return l.files === 0 && l.chunks === 0; },
      { timeoutMs: 20000, what: 'the partial upload deleted' });
    const c = openai(fr, { apiKey: MASTER });
    assert.equal((await c.files.list()).data.length, 0);
  });

  test('bad lines in a multi-MB upload: named by line, nothing stored', async () => {
    const fr = await gateway({ batches: { max_lines: 1000000 } });
    const f = bigFile(4000, 3000, new Set([3, 3999]));
    const r = await send(fr, f.pieces, { length: f.length });
    assert.equal(statusOf(r.data), 400, r.data.slice(0, 400));
    const e = bodyOf(r.data).error;
    assert.equal(e.code, 'invalid_batch_file');
    assert.match(e.message, /has 2 invalid lines: line 3: .*; line 3999: /);
    await waitFor(() => { const l = leftovers(fr); return l.files === 0 && l.chunks === 0; },
      { timeoutMs: 20000, what: 'nothing left in the store' });
    // the connection stays usable after a complete body's error answer
    assert.doesNotMatch(r.data, /Connection: close/i);
  });

  test('a line longer than server.max_body_bytes: refused naming it, never held', async (t) => {
    const fr = await gateway({ server: { master_key: MASTER, body_timeout_ms: 300000, max_body_bytes: MB } },
      { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=8' });
    const w = await send(fr, bigFile(3).pieces, { length: bigFile(3).length });
    assert.equal(statusOf(w.data), 200, w.data);
    const before = mem(fr);
    const long = Buffer.alloc(60 * MB, 0x61);
    function* pieces() {
      yield fileHead();
      yield line(0);
      for (let i = 0; i < 60; i++) yield long.subarray(i * MB, (i + 1) * MB);
      yield '\n' + line(1).trimEnd();
      yield formTail;
    }
    const len = fileHead().length + 3000 + 60 * MB + 1 + 2999 + formTail.length;
    const r = await send(fr, pieces, { length: len });
    const grew = mem(fr).hwm - before.hwm;
    t.diagnostic(`peak RSS grew by ${(grew / MB).toFixed(1)} MB`);
    assert.equal(statusOf(r.data), 400, r.data.slice(0, 400));
    assert.match(bodyOf(r.data).error.message, /has 1 invalid line: line 2: longer than 1048576 bytes.*server\.max_body_bytes/);
    assert.ok(grew < 40 * MB, `peak RSS grew by ${(grew / MB).toFixed(1)} MB for a 60 MB line`);
    // only the warm-up's file is stored
    await waitFor(() => sql(fr, 'SELECT count(*) FROM files') === '1' &&
        sql(fr, 'SELECT count(*) FROM file_chunks WHERE file_id NOT IN (SELECT id FROM files WHERE deleted = 0)') === '0',
      { timeoutMs: 20000, what: 'nothing left in the store' });
  });

  test('what an upload may hold is booked against server.max_body_bytes_in_flight', async () => {
    // each chunked upload books ~1 MiB + 4 MiB (its chunk and longest line)
    const fr = await gateway({
      server: { master_key: MASTER, body_timeout_ms: 300000, max_body_bytes: 4 * MB, max_body_bytes_in_flight: 9 * MB },
      batches: { max_file_bytes: 8 * MB },
    });
    const first = await rawClient(fr.port);
    first.sock.write(reqHead());
    const h = Buffer.from(fileHead() + line(0));
    first.sock.write(`${h.length.toString(16)}\r\n`);
    first.sock.write(h);
    first.sock.write('\r\n');
    await waitFor(() => Number(sql(fr, 'SELECT count(*) FROM files WHERE deleted = 2')) === 1,
      { what: 'the first upload under way' });
    const second = await send(fr, bigFile(2).pieces, { chunked: true });
    assert.equal(statusOf(second.data), 503, second.data);
    assert.equal(bodyOf(second.data).error.code, 'server_busy');
    assert.match(bodyOf(second.data).error.message, /server\.max_body_bytes_in_flight/);
    first.sock.destroy();
    // its booking comes back when it ends: the next one passes
    await waitFor(async () => {
      const again = await send(fr, bigFile(2).pieces, { chunked: true });
      return statusOf(again.data) === 200;
    }, { timeoutMs: 10000, what: 'an upload admitted again' });
  });

  test('the SDK upload still works and a batch runs from a chunked file', async () => {
    const fr = await gateway();
    const c = openai(fr, { apiKey: MASTER });
    const body = Array.from({ length: 3 }, (_, i) => line(i, 400 + i)).join('');
    const f = await c.files.create({ file: await toFile(Buffer.from(body), 'in.jsonl'), purpose: 'batch' });
    assert.equal(f.bytes, body.length);
    assert.equal(await (await c.files.content(f.id)).text(), body);
    const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    assert.equal(b.request_counts.total, 3);
    await assert.rejects(c.files.create({ file: await toFile(Buffer.from(body), 'in.jsonl'), purpose: 'assistants' }),
      OpenAI.BadRequestError);
  });
});
