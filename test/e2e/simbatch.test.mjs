// simbatch.test.mjs — the simulated provider's batch APIs on their own
// (`frugal sim`, no gateway), driven by the official SDKs exactly as a user
// of the real providers would: OpenAI files.create (toFile and a read
// stream) + batches.create / retrieve / cancel / list + files.content, and
// Anthropic messages.batches.create / retrieve / results / cancel / list /
// delete.  Covers progress while polling, error lines, prompt-cache usage
// inside a batch, validation failure, cancel and expiry.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { toFile } from 'openai';

import {
  Anthropic,
  OpenAI,
  anthropic,
  openai,
  rejectsWith,
  sleep,
  startSim,
  tempDir,
  test,
} from './lib/frugal.mjs';

let sim;
before(async () => {
  sim = await startSim({ name: 'sim-batch' });
});
after(async () => {
  await sim?.stop();
});

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const LONG = 'The quick brown fox jumps over the lazy dog. '.repeat(120); // ~1,350 tokens

const oaLine = (custom_id, content, extra = {}) => ({
  custom_id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra },
});
const jsonl = (lines) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
const parseJsonl = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function upload(c, lines, name = 'requests.jsonl') {
  return c.files.create({ file: await toFile(Buffer.from(jsonl(lines)), name), purpose: 'batch' });
}

/* Poll until done(batch); returns every state seen. */
async function pollUntil(get, done, { timeoutMs = 15000, stepMs = 25 } = {}) {
  const seen = [];
  const t0 = Date.now();
  for (;;) {
    const b = await get();
    seen.push(b);
    if (done(b)) return seen;
    if (Date.now() - t0 > timeoutMs) throw new Error(`batch never finished: ${JSON.stringify(b)}`);
    await sleep(stepMs);
  }
}

async function fileText(c, id) {
  const res = await c.files.content(id);
  return res.text();
}

describe('OpenAI Files + Batch', () => {
  test('upload, progress, completion: output and error files, usage, cache accounting', async () => {
    const c = openai(sim);
    const lines = [
      oaLine('warm', `${LONG} first question #sim:batch_delay_ms=800`),
      oaLine('hit', `${LONG} second question`),
      oaLine('bad', 'this one fails #sim:status=400'),
      oaLine('short', 'Hello batch', { max_tokens: 3 }),
    ];
    const file = await upload(c, lines);
    assert.equal(file.object, 'file');
    assert.equal(file.purpose, 'batch');
    assert.equal(file.filename, 'requests.jsonl');
    assert.equal(file.bytes, Buffer.byteLength(jsonl(lines)));
    assert.equal(file.status, 'processed');
    assert.ok(file.expires_at > file.created_at);
    assert.equal((await c.files.retrieve(file.id)).id, file.id);
    assert.equal(await fileText(c, file.id), jsonl(lines));

    const created = await c.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
    });
    assert.equal(created.object, 'batch');
    assert.equal(created.status, 'validating');
    assert.equal(created.input_file_id, file.id);
    assert.deepEqual(created.metadata, { job: 'nightly' });
    assert.deepEqual(created.request_counts, { total: 4, completed: 0, failed: 0 });
    assert.equal(created.output_file_id, null);

    const seen = await pollUntil(() => c.batches.retrieve(created.id), (b) => b.status === 'completed');
    const statuses = [...new Set(seen.map((b) => b.status))];
    assert.deepEqual(statuses, ['in_progress', 'completed']);
    const partial = seen.filter((b) => {
      const n = b.request_counts.completed + b.request_counts.failed;
      return n > 0 && n < 4;
    });
    assert.ok(partial.length > 0, 'polling saw lines finish one by one');
    const done = seen.at(-1);
    assert.deepEqual(done.request_counts, { total: 4, completed: 3, failed: 1 });
    assert.equal(done.model, 'gpt-4o-mini');
    for (const k of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at', 'expires_at'])
      assert.equal(typeof done[k], 'number', k);
    assert.ok(done.completed_at - done.created_at <= 2);
    assert.equal(done.failed_at, null);

    const out = parseJsonl(await fileText(c, done.output_file_id));
    assert.deepEqual(out.map((l) => l.custom_id), ['warm', 'hit', 'short']);
    for (const l of out) {
      assert.match(l.id, /^batch_req_/);
      assert.equal(l.error, null);
      assert.equal(l.response.status_code, 200);
      assert.match(l.response.request_id, /^req_/);
      assert.equal(l.response.body.object, 'chat.completion');
    }
    const [warm, hit, short] = out.map((l) => l.response.body);
    assert.equal(warm.usage.prompt_tokens_details.cached_tokens, 0);
    assert.ok(hit.usage.prompt_tokens_details.cached_tokens >= 1024, 'second line reads the cache');
    assert.equal(short.choices[0].finish_reason, 'length');

    // each line is what the same request gets in real time
    for (const [i, l] of out.entries()) {
      const body = lines.find((x) => x.custom_id === l.custom_id).body;
      const rt = await c.chat.completions.create(body);
      assert.equal(l.response.body.choices[0].message.content, rt.choices[0].message.content, `line ${i}`);
      assert.equal(l.response.body.usage.prompt_tokens, rt.usage.prompt_tokens);
      assert.equal(l.response.body.usage.completion_tokens, rt.usage.completion_tokens);
    }

    const sum = (f) => out.reduce((a, l) => a + f(l.response.body.usage), 0);
    assert.deepEqual(done.usage, {
      input_tokens: sum((u) => u.prompt_tokens),
      input_tokens_details: { cached_tokens: sum((u) => u.prompt_tokens_details.cached_tokens) },
      output_tokens: sum((u) => u.completion_tokens),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: sum((u) => u.total_tokens),
    });

    const errs = parseJsonl(await fileText(c, done.error_file_id));
    assert.equal(errs.length, 1);
    assert.equal(errs[0].custom_id, 'bad');
    assert.equal(errs[0].error, null);
    assert.equal(errs[0].response.status_code, 400);
    assert.equal(errs[0].response.body.error.type, 'invalid_request_error');

    const outFile = await c.files.retrieve(done.output_file_id);
    assert.equal(outFile.purpose, 'batch_output');
    const listed = [];
    for await (const f of c.files.list({ purpose: 'batch_output' })) listed.push(f.id);
    assert.ok(listed.includes(done.output_file_id) && listed.includes(done.error_file_id));

    const del = await c.files.delete(file.id);
    assert.deepEqual(del, { id: file.id, object: 'file', deleted: true });
    await rejectsWith(c.files.retrieve(file.id), OpenAI.NotFoundError);
    // the batch does not need its input any more
    assert.equal((await c.batches.retrieve(created.id)).status, 'completed');
  });

  test('a read stream upload (chunked multipart) works too', async () => {
    const c = openai(sim);
    const dir = tempDir();
    try {
      const path = join(dir, 'stream.jsonl');
      writeFileSync(path, jsonl([oaLine('s1', 'from a stream')]));
      const f = await c.files.create({ file: createReadStream(path), purpose: 'batch' });
      assert.equal(f.filename, 'stream.jsonl');
      assert.equal(await fileText(c, f.id), jsonl([oaLine('s1', 'from a stream')]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('upload and create errors come back as SDK exceptions', async () => {
    const c = openai(sim);
    const e1 = await rejectsWith(
      c.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.txt'), purpose: 'batch' }),
      OpenAI.BadRequestError,
    );
    assert.match(e1.message, /\.jsonl/);
    await rejectsWith(
      c.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
      OpenAI.NotFoundError,
    );
    const f = await upload(c, [oaLine('a', 'x')]);
    await rejectsWith(
      c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '48h' }),
      OpenAI.BadRequestError,
    );
    await rejectsWith(c.batches.retrieve('batch_nope'), OpenAI.NotFoundError);
  });

  test('invalid input lines fail the batch with per-line errors', async () => {
    const c = openai(sim);
    const f = await upload(c, [
      oaLine('a', 'ok'),
      oaLine('a', 'duplicate'),
      '{not json',
      { ...oaLine('b', 'x'), url: '/v1/embeddings' },
      { ...oaLine('c', 'x'), method: 'GET' },
      { custom_id: 'd', method: 'POST', url: '/v1/chat/completions', body: 'text' },
    ]);
    const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    assert.equal(b.status, 'validating');
    const failed = await c.batches.retrieve(b.id);
    assert.equal(failed.status, 'failed');
    assert.equal(typeof failed.failed_at, 'number');
    assert.equal(failed.output_file_id, null);
    assert.equal(failed.errors.object, 'list');
    assert.deepEqual(
      failed.errors.data.map((e) => [e.code, e.line, e.param]),
      [
        ['duplicate_custom_id', 2, 'custom_id'],
        ['invalid_json_line', 3, null],
        ['url_mismatch', 4, 'url'],
        ['invalid_method', 5, 'method'],
        ['invalid_type', 6, 'body'],
      ],
    );
    for (const e of failed.errors.data) assert.ok(e.message.length > 10);
    await rejectsWith(c.batches.cancel(b.id), OpenAI.BadRequestError);
  });

  test('cancel: cancelling then cancelled, finished lines kept, the rest cancelled', async () => {
    const c = openai(sim);
    const f = await upload(c, [
      oaLine('c0', 'first #sim:batch_delay_ms=2000'),
      oaLine('c1', 'second'),
      oaLine('c2', 'third'),
      oaLine('c3', 'fourth'),
    ]);
    const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await pollUntil(() => c.batches.retrieve(b.id), (x) => x.request_counts.completed >= 1);
    const cancelling = await c.batches.cancel(b.id);
    assert.equal(cancelling.status, 'cancelling');
    assert.equal(typeof cancelling.cancelling_at, 'number');
    const kept = cancelling.request_counts.completed;
    assert.ok(kept >= 1 && kept < 4, `kept ${kept}`);
    const cancelled = await c.batches.retrieve(b.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(typeof cancelled.cancelled_at, 'number');
    assert.equal(cancelled.request_counts.completed, kept);
    const out = parseJsonl(await fileText(c, cancelled.output_file_id));
    const errs = parseJsonl(await fileText(c, cancelled.error_file_id));
    assert.equal(out.length, kept);
    assert.equal(errs.length, 4 - kept);
    assert.deepEqual([...out, ...errs].map((l) => l.custom_id), ['c0', 'c1', 'c2', 'c3']);
    for (const e of errs) {
      assert.equal(e.response, null);
      assert.equal(e.error.code, 'batch_cancelled');
    }
    await rejectsWith(c.batches.cancel(b.id), OpenAI.BadRequestError);
  });

  test('#sim:batch_expire: lines not done by the deadline expire', async () => {
    const c = openai(sim);
    const f = await upload(c, [
      oaLine('e0', 'done in time #sim:batch_delay_ms=300 #sim:batch_expire'),
      oaLine('e1', 'too late'),
    ]);
    const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const seen = await pollUntil(() => c.batches.retrieve(b.id), (x) => x.status === 'expired');
    const x = seen.at(-1);
    assert.equal(typeof x.expired_at, 'number');
    assert.equal(x.completed_at, null);
    assert.deepEqual(x.request_counts, { total: 2, completed: 1, failed: 0 });
    const out = parseJsonl(await fileText(c, x.output_file_id));
    assert.deepEqual(out.map((l) => l.custom_id), ['e0']);
    const errs = parseJsonl(await fileText(c, x.error_file_id));
    assert.equal(errs.length, 1);
    assert.equal(errs[0].custom_id, 'e1');
    assert.equal(errs[0].response, null);
    assert.equal(errs[0].error.code, 'batch_expired');
  });

  test('batches.list pages newest first with after/limit', async () => {
    const c = openai(sim);
    const f = await upload(c, [oaLine('l', 'list me')]);
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    const page = await c.batches.list({ limit: 2 });
    assert.deepEqual(page.data.map((b) => b.id), [ids[2], ids[1]]);
    assert.equal(page.has_more, true);
    const all = [];
    for await (const b of c.batches.list({ limit: 2 })) all.push(b.id);
    assert.deepEqual(all.slice(0, 3), [ids[2], ids[1], ids[0]]);
    assert.equal(new Set(all).size, all.length);
  });
});

describe('Anthropic Message Batches', () => {
  const params = (text, extra = {}) => ({
    model: 'claude-haiku-4-5',
    max_tokens: 200,
    messages: [{ role: 'user', content: text }],
    ...extra,
  });

  test('create, poll, results via results_url: succeeded and errored lines', async () => {
    const c = anthropic(sim);
    const requests = [
      { custom_id: 'ok-1', params: params('Classify this #sim:batch_delay_ms=500') },
      { custom_id: 'bad-1', params: params('fails #sim:status=400') },
      { custom_id: 'zero', params: params('no tokens', { max_tokens: 0 }) },
      { custom_id: 'ok-2', params: params('And this one') },
    ];
    const b = await c.messages.batches.create({ requests });
    assert.match(b.id, /^msgbatch_/);
    assert.equal(b.type, 'message_batch');
    assert.equal(b.processing_status, 'in_progress');
    assert.deepEqual(b.request_counts, { processing: 4, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
    assert.equal(b.results_url, null);
    assert.equal(b.ended_at, null);
    assert.match(b.created_at, RFC3339);
    assert.match(b.expires_at, RFC3339);
    assert.equal(Date.parse(b.expires_at) - Date.parse(b.created_at), 24 * 3600 * 1000);
    await assert.rejects(c.messages.batches.results(b.id), /results_url/);
    await rejectsWith(c.messages.batches.delete(b.id), Anthropic.BadRequestError);

    const seen = await pollUntil(() => c.messages.batches.retrieve(b.id), (x) => x.processing_status === 'ended');
    for (const x of seen.slice(0, -1)) assert.equal(x.request_counts.processing, 4);
    const done = seen.at(-1);
    assert.deepEqual(done.request_counts, { processing: 0, succeeded: 2, errored: 2, canceled: 0, expired: 0 });
    assert.match(done.ended_at, RFC3339);
    assert.equal(done.results_url, `${sim.url}/v1/messages/batches/${b.id}/results`);

    const results = [];
    for await (const r of await c.messages.batches.results(b.id)) results.push(r);
    assert.deepEqual(results.map((r) => r.custom_id), ['ok-1', 'bad-1', 'zero', 'ok-2']);
    const byId = Object.fromEntries(results.map((r) => [r.custom_id, r.result]));
    for (const id of ['ok-1', 'ok-2']) {
      const m = byId[id].message;
      assert.equal(byId[id].type, 'succeeded');
      assert.equal(m.type, 'message');
      assert.equal(m.usage.service_tier, 'batch');
      const rt = await c.messages.create(requests.find((q) => q.custom_id === id).params);
      assert.deepEqual(m.content, rt.content);
      assert.equal(m.usage.input_tokens, rt.usage.input_tokens);
      assert.equal(m.usage.output_tokens, rt.usage.output_tokens);
      assert.equal(rt.usage.service_tier, 'standard');
    }
    assert.equal(byId['bad-1'].type, 'errored');
    assert.equal(byId['bad-1'].error.type, 'error');
    assert.equal(byId['bad-1'].error.error.type, 'invalid_request_error');
    assert.equal(byId.zero.type, 'errored');
    assert.match(byId.zero.error.error.message, /max_tokens/);

    const listed = await c.messages.batches.list({ limit: 10 });
    assert.ok(listed.data.some((x) => x.id === b.id));
    const del = await c.messages.batches.delete(b.id);
    assert.deepEqual(del, { id: b.id, type: 'message_batch_deleted' });
    await rejectsWith(c.messages.batches.retrieve(b.id), Anthropic.NotFoundError);
  });

  test('prompt caching inside a batch is accounted like real time', async () => {
    const c = anthropic(sim);
    const cached = (q) => ({
      model: 'claude-sonnet-4-6',
      max_tokens: 50,
      system: [{ type: 'text', text: LONG, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: q }],
    });
    const b = await c.messages.batches.create({
      requests: [
        { custom_id: 'w', params: cached('first #sim:batch_delay_ms=100') },
        { custom_id: 'r', params: cached('second') },
      ],
    });
    await pollUntil(() => c.messages.batches.retrieve(b.id), (x) => x.processing_status === 'ended');
    const res = {};
    for await (const r of await c.messages.batches.results(b.id)) res[r.custom_id] = r.result.message.usage;
    assert.ok(res.w.cache_creation_input_tokens > 0, JSON.stringify(res.w));
    assert.equal(res.w.cache_read_input_tokens, 0);
    assert.equal(res.r.cache_read_input_tokens, res.w.cache_creation_input_tokens);
    assert.equal(res.r.cache_creation_input_tokens, 0);
  });

  test('cancel: canceling, then ended with the unfinished requests canceled', async () => {
    const c = anthropic(sim);
    const b = await c.messages.batches.create({
      requests: ['a', 'b', 'c', 'd'].map((id, i) => ({
        custom_id: id,
        params: params(i === 0 ? 'slow #sim:batch_delay_ms=4000' : `req ${id}`),
      })),
    });
    await sleep(1100); // line a is done at 1 s, b at 2 s
    const canceling = await c.messages.batches.cancel(b.id);
    assert.equal(canceling.processing_status, 'canceling');
    assert.match(canceling.cancel_initiated_at, RFC3339);
    assert.equal(canceling.results_url, null);
    const ended = await c.messages.batches.retrieve(b.id);
    assert.equal(ended.processing_status, 'ended');
    assert.ok(ended.request_counts.canceled >= 1 && ended.request_counts.succeeded >= 1);
    assert.equal(ended.request_counts.succeeded + ended.request_counts.canceled, 4);
    const types = [];
    for await (const r of await c.messages.batches.results(b.id)) types.push(`${r.custom_id}:${r.result.type}`);
    assert.equal(types[0], 'a:succeeded');
    assert.equal(types.at(-1), 'd:canceled');
    await rejectsWith(
      c.messages.batches.create({ requests: [{ custom_id: 'bad id!', params: params('x') }] }),
      Anthropic.BadRequestError,
    );
  });

  test('#sim:batch_expire: the unfinished requests expire', async () => {
    const c = anthropic(sim);
    const b = await c.messages.batches.create({
      requests: [
        { custom_id: 'in-time', params: params('quick #sim:batch_expire #sim:batch_delay_ms=300') },
        { custom_id: 'late', params: params('late') },
      ],
    });
    assert.equal(Date.parse(b.expires_at) - Date.parse(b.created_at), 300);
    const done = (await pollUntil(() => c.messages.batches.retrieve(b.id), (x) => x.processing_status === 'ended')).at(-1);
    assert.deepEqual(done.request_counts, { processing: 0, succeeded: 1, errored: 0, canceled: 0, expired: 1 });
    const res = [];
    for await (const r of await c.messages.batches.results(b.id)) res.push(r);
    assert.deepEqual(res.map((r) => [r.custom_id, r.result.type]), [['in-time', 'succeeded'], ['late', 'expired']]);
  });
});
