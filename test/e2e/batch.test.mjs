// batch.test.mjs — batches through the gateway with the official SDKs:
// OpenAI files.create → batches.create → retrieve until done → files.content,
// Anthropic messages.batches.create → retrieve → results(), in provider mode
// (the sim's batch APIs, 50% price) and local mode (frugal runs the lines);
// malformed input, cancel, expiry, routing splitting a batch across two
// models, translation (an Anthropic-dialect model in an OpenAI batch and
// back), and kill -9 in the middle of a batch: every line answered once,
// every cost recorded once.
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { toFile } from 'openai';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  freePort,
  metrics,
  openai,
  rejectsWith,
  sleep,
  startFrugal,
  startSim,
  tempDir,
  test,
  waitFor,
} from './lib/frugal.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));

const MODELS = [
  { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
  { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
  { name: 'claude-haiku-4-5', provider: 'sim', dialect: 'anthropic' },
];

function config(mode, extra = {}) {
  return {
    providers: [{ name: 'sim', type: 'sim', batch: mode }],
    models: MODELS,
    batches: { poll_ms: 50, poll_max_ms: 200 },
    ...extra,
  };
}

const oaLine = (custom_id, model, content, extra = {}) => ({
  custom_id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content }], max_tokens: 40, ...extra },
});
const jsonl = (lines) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
const parseJsonl = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function upload(c, lines) {
  return c.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'in.jsonl'), purpose: 'batch' });
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

async function untilFinal(c, id, timeoutMs = 20000) {
  return waitFor(async () => {
    const b = await c.batches.retrieve(id);
    return FINAL.has(b.status) ? b : null;
  }, { timeoutMs, stepMs: 50, what: `batch ${id} to finish` });
}

async function untilEnded(c, id, timeoutMs = 20000) {
  return waitFor(async () => {
    const b = await c.messages.batches.retrieve(id);
    return b.processing_status === 'ended' ? b : null;
  }, { timeoutMs, stepMs: 50, what: `message batch ${id} to end` });
}

async function fileLines(c, id) {
  if (!id) return [];
  const r = await c.files.content(id);
  return parseJsonl(await r.text());
}

function ledger(db, batchId) {
  const out = execFileSync('sqlite3', ['-json', db,
    `SELECT id, key_id, model, route, batch, status, cost_pico, baseline_pico, saved_batch_pico,
            saved_routing_pico, batch_id, endpoint FROM calls WHERE batch_id = '${batchId}'`]).toString();
  return out.trim() ? JSON.parse(out) : [];
}

const started = [];
after(async () => {
  for (const d of started) if (!d.exited) await d.stop().catch(() => {});
});

async function gateway(cfg, opts = {}) {
  const dir = opts.cwd ?? tempDir();
  const db = join(dir, 'frugal.db');
  const fr = await startFrugal({ config: { storage: `sqlite:${db}`, ...cfg }, cwd: dir, ...opts });
  fr.db = db;
  started.push(fr);
  return fr;
}

for (const mode of ['provider', 'local']) {
  describe(`batches in ${mode} mode`, () => {
    test('OpenAI SDK: upload, create, poll, output and error files; costs in the ledger', async () => {
      const fr = await gateway(config(mode));
      const c = openai(fr);
      const lines = [
        oaLine('a-1', 'gpt-4o-mini', 'Say hello'),
        oaLine('a-2', 'claude-haiku-4-5', 'Say hello in Anthropic'),   // translated both ways
        oaLine('a-3', 'no-such-model', 'x'),
        oaLine('a-4', 'gpt-4o-mini', 'fail please #sim:status=400'),
      ];
      const f = await upload(c, lines);
      assert.equal(f.object, 'file');
      assert.equal(f.purpose, 'batch');
      assert.match(f.id, /^file-/);
      const got = await c.files.retrieve(f.id);
      assert.equal(got.bytes, jsonl(lines).length);
      const b0 = await c.batches.create({
        input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h',
        metadata: { job: 'nightly' },
      });
      assert.equal(b0.status, 'in_progress');
      assert.equal(b0.request_counts.total, 4);
      assert.deepEqual(b0.metadata, { job: 'nightly' });
      const b = await untilFinal(c, b0.id);
      assert.equal(b.status, 'completed');
      assert.deepEqual(b.request_counts, { total: 4, completed: 2, failed: 2 });
      assert.ok(b.completed_at >= b.created_at);
      assert.ok(b.usage.output_tokens > 0);
      const out = await fileLines(c, b.output_file_id);
      const errs = await fileLines(c, b.error_file_id);
      assert.deepEqual(out.map((l) => l.custom_id).sort(), ['a-1', 'a-2']);
      assert.deepEqual(errs.map((l) => l.custom_id).sort(), ['a-3', 'a-4']);
      for (const l of out) {
        assert.equal(l.response.status_code, 200);
        assert.equal(l.response.body.object, 'chat.completion');
        assert.equal(l.error, null);
      }
      const a2 = out.find((l) => l.custom_id === 'a-2').response.body;
      assert.equal(a2.model, 'claude-haiku-4-5');
      assert.match(a2.choices[0].message.content, /Anthropic/);
      const a3 = errs.find((l) => l.custom_id === 'a-3').response;
      assert.equal(a3.status_code, 404);
      assert.equal(a3.body.error.code, 'model_not_found');
      assert.equal(errs.find((l) => l.custom_id === 'a-4').response.status_code, 400);

      const rows = ledger(fr.db, b.id);
      const ok = rows.filter((r) => r.status === 200);
      assert.equal(ok.length, 2, JSON.stringify(rows));
      for (const r of ok) {
        assert.equal(r.batch, mode === 'provider' ? 1 : 0);
        assert.ok(r.cost_pico > 0);
        if (mode === 'provider') assert.equal(r.saved_batch_pico, r.cost_pico, 'batch price is half');
        else assert.equal(r.saved_batch_pico, 0);
      }
      // the spend map counts batch savings
      const spend = await call(fr, '/frugal/spend', { method: 'GET' });
      if (mode === 'provider') assert.ok(spend.json.saved_by.batch > 0, JSON.stringify(spend.json.saved_by));
      // metrics
      const m = await metrics(fr);
      assert.equal(m.get('frugal_batch_lines_total{outcome="succeeded"}'), 2);
      assert.equal(m.get('frugal_batch_lines_total{outcome="errored"}'), 2);
      // the money counters include the batch lines, as the ledger does
      const pico = ok.reduce((a, r) => a + BigInt(r.cost_pico), 0n);
      const savedBatch = ok.reduce((a, r) => a + BigInt(r.saved_batch_pico), 0n);
      assert.ok(Math.abs(m.get('frugal_cost_usd_total') - Number(pico) / 1e12) < 1e-9,
        `frugal_cost_usd_total ${m.get('frugal_cost_usd_total')} vs the lines' ${Number(pico) / 1e12}`);
      assert.ok(Math.abs(m.get('frugal_saved_usd_total{technique="batch"}') - Number(savedBatch) / 1e12) < 1e-9);
      await waitFor(async () => (await metrics(fr)).get('frugal_batches_active') === 0,
        { what: 'the executor to see no active batch' });
      if (mode === 'provider') assert.ok(m.get('frugal_batch_jobs_total{result="submitted"}') >= 1);
      // listing
      const page = await c.batches.list({ limit: 10 });
      assert.ok(page.data.some((x) => x.id === b.id));
      await fr.stop();
    });

    test('Anthropic SDK: create, retrieve until ended, results via results_url', async () => {
      const fr = await gateway(config(mode));
      const c = anthropic(fr);
      const mb = await c.messages.batches.create({
        requests: [
          { custom_id: 'r1', params: { model: 'claude-haiku-4-5', max_tokens: 30, messages: [{ role: 'user', content: 'hi' }] } },
          { custom_id: 'r2', params: { model: 'gpt-4o-mini', max_tokens: 30, messages: [{ role: 'user', content: 'hi from OpenAI' }] } },
          { custom_id: 'r3', params: { model: 'claude-haiku-4-5', max_tokens: 30, messages: [{ role: 'user', content: 'x #sim:status=400' }] } },
        ],
      });
      assert.equal(mb.type, 'message_batch');
      assert.match(mb.id, /^msgbatch_/);
      assert.equal(mb.processing_status, 'in_progress');
      assert.equal(mb.results_url, null);
      const b = await untilEnded(c, mb.id);
      assert.deepEqual(b.request_counts, { processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 0 });
      // path-relative (no server.public_url): the SDK resolves it against its baseURL
      assert.equal(b.results_url, `/v1/messages/batches/${mb.id}/results`);
      const results = [];
      for await (const r of await c.messages.batches.results(mb.id)) results.push(r);
      assert.deepEqual(results.map((r) => r.custom_id).sort(), ['r1', 'r2', 'r3']);
      const r2 = results.find((r) => r.custom_id === 'r2').result;
      assert.equal(r2.type, 'succeeded');
      assert.equal(r2.message.type, 'message');
      assert.equal(r2.message.model, 'gpt-4o-mini');
      const r3 = results.find((r) => r.custom_id === 'r3').result;
      assert.equal(r3.type, 'errored');
      assert.equal(r3.error.type, 'error');
      assert.equal(r3.error.error.type, 'invalid_request_error');
      const list = await c.messages.batches.list({ limit: 5 });
      assert.ok(list.data.some((x) => x.id === mb.id));
      const del = await c.messages.batches.delete(mb.id);
      assert.equal(del.type, 'message_batch_deleted');
      await rejectsWith(c.messages.batches.retrieve(mb.id), Anthropic.NotFoundError);
      await fr.stop();
    });
  });
}

describe('batch input validation', () => {
  test('malformed lines are refused at upload, naming the lines', async () => {
    const fr = await gateway(config('provider'));
    const c = openai(fr);
    const lines = [
      oaLine('ok', 'gpt-4o-mini', 'fine'),
      '{"custom_id": "broken", ',
      oaLine('ok', 'gpt-4o-mini', 'duplicate id'),
      { ...oaLine('u', 'gpt-4o-mini', 'x'), url: '/v1/completions' },
      { custom_id: 'nb', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } },
    ];
    const e = await rejectsWith(upload(c, lines), OpenAI.BadRequestError);
    assert.match(e.message, /4 invalid lines/);
    assert.match(e.message, /line 2: not valid JSON/);
    assert.match(e.message, /line 3: duplicate custom_id "ok"/);
    assert.match(e.message, /line 4: "url" must be/);
    assert.match(e.message, /line 5: "body.messages"/);
    assert.equal(e.param, 'file');
    await rejectsWith(c.files.create({ file: await toFile(Buffer.from('{}'), 'x.jsonl'), purpose: 'assistants' }),
      OpenAI.BadRequestError);
    // expires_after as OpenAI documents it (3600 s to 30 days)
    const body = Buffer.from(jsonl([oaLine('x', 'gpt-4o-mini', 'hi')]));
    const short = await c.files.create({ file: await toFile(body, 'e.jsonl'), purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 } });
    assert.equal(short.expires_at - short.created_at, 3600);
    const ea = await rejectsWith(c.files.create({ file: await toFile(body, 'e.jsonl'), purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 60 } }), OpenAI.BadRequestError);
    assert.equal(ea.param, 'expires_after');
    await rejectsWith(c.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
      OpenAI.NotFoundError);
    const f = await upload(c, [oaLine('x', 'gpt-4o-mini', 'hi')]);
    const e2 = await rejectsWith(c.batches.create({ input_file_id: f.id, endpoint: '/v1/moderations', completion_window: '24h' }),
      OpenAI.BadRequestError);
    assert.equal(e2.param, 'endpoint');
    // an embeddings batch whose lines are chat requests: refused naming the url
    const e2b = await rejectsWith(c.batches.create({ input_file_id: f.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
      OpenAI.BadRequestError);
    assert.match(e2b.message, /"url" must be the batch's endpoint/);
    const an = anthropic(fr);
    const e3 = await rejectsWith(an.messages.batches.create({
      requests: [
        { custom_id: 'fine', params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } },
        { custom_id: 'bad id!', params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } },
      ],
    }), Anthropic.BadRequestError);
    assert.match(e3.message, /requests\.1\.custom_id/);
    await fr.stop();
  });
});

describe('cancel and expiry', () => {
  test('cancel keeps finished lines and reports the rest as cancelled (OpenAI)', async () => {
    const fr = await gateway(config('provider'));
    const c = openai(fr);
    const lines = [0, 1, 2, 3].map((i) => oaLine(`c${i}`, 'gpt-4o-mini', `line ${i} #sim:batch_delay_ms=4000`));
    const f = await upload(c, lines);
    const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await sleep(1500);   // about one line done at the provider
    const cb = await c.batches.cancel(b0.id);
    assert.ok(['cancelling', 'cancelled'].includes(cb.status), cb.status);
    assert.ok(cb.cancelling_at);
    const b = await untilFinal(c, b0.id);
    assert.equal(b.status, 'cancelled');
    const out = await fileLines(c, b.output_file_id);
    const errs = await fileLines(c, b.error_file_id);
    assert.equal(out.length + errs.length, 4);
    assert.ok(errs.length >= 1);
    for (const l of errs) assert.equal(l.error.code, 'batch_cancelled');
    assert.equal(b.request_counts.completed, out.length);
    assert.equal(ledger(fr.db, b.id).length, out.length, 'only answered lines cost money');
    await rejectsWith(c.batches.cancel(b0.id), OpenAI.ConflictError);
    await fr.stop();
  });

  test('cancel an Anthropic batch: canceled results', async () => {
    const fr = await gateway(config('provider'));
    const c = anthropic(fr);
    const mb = await c.messages.batches.create({
      requests: [0, 1, 2].map((i) => ({ custom_id: `k${i}`,
        params: { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: `q ${i} #sim:batch_delay_ms=30000` }] } })),
    });
    const cb = await c.messages.batches.cancel(mb.id);
    assert.equal(cb.processing_status, 'canceling');
    const b = await untilEnded(c, mb.id);
    assert.equal(b.request_counts.canceled, 3);
    const results = [];
    for await (const r of await c.messages.batches.results(mb.id)) results.push(r);
    assert.deepEqual(results.map((r) => r.result.type), ['canceled', 'canceled', 'canceled']);
    await fr.stop();
  });

  test('the completion window expires unfinished lines (batches.window)', async () => {
    const fr = await gateway(config('provider', { batches: { poll_ms: 50, poll_max_ms: 200, window: '2s' } }));
    const c = openai(fr);
    const f = await upload(c, [oaLine('e1', 'gpt-4o-mini', 'slow #sim:batch_delay_ms=60000'),
      oaLine('e2', 'gpt-4o-mini', 'slow too')]);
    const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const b = await untilFinal(c, b0.id, 15000);
    assert.equal(b.status, 'expired');
    assert.ok(b.expired_at);
    const errs = await fileLines(c, b.error_file_id);
    assert.deepEqual(errs.map((l) => [l.custom_id, l.error.code]).sort(),
      [['e1', 'batch_expired'], ['e2', 'batch_expired']]);
    const an = anthropic(fr);
    const mb = await an.messages.batches.create({ requests: [{ custom_id: 'x1',
      params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'z #sim:batch_delay_ms=60000' }] } }] });
    const ended = await untilEnded(an, mb.id, 15000);
    assert.equal(ended.request_counts.expired, 1);
    await fr.stop();
  });
});

describe('structured output inside a batch', () => {
  test('provider answers are schema-checked; a failing one runs again through the pipeline', async () => {
    const fr = await gateway(config('provider'));
    const c = openai(fr);
    const schema = { type: 'object', properties: { label: { type: 'string', enum: ['pos', 'neg'] } },
      required: ['label'], additionalProperties: false };
    const rf = { type: 'json_schema', json_schema: { name: 'l', strict: true, schema } };
    const f = await upload(c, [
      oaLine('good', 'gpt-4o-mini', 'Classify: great', { response_format: rf }),
      oaLine('bad', 'gpt-4o-mini', 'Classify: awful #sim:bad_schema', { response_format: rf }),
    ]);
    const b = await untilFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    assert.equal(b.status, 'completed');
    const out = await fileLines(c, b.output_file_id);
    const errs = await fileLines(c, b.error_file_id);
    assert.deepEqual(out.map((l) => l.custom_id), ['good']);
    assert.ok(['pos', 'neg'].includes(JSON.parse(out[0].response.body.choices[0].message.content).label));
    assert.deepEqual(errs.map((l) => l.custom_id), ['bad']);
    assert.equal(errs[0].response.status_code, 502);
    assert.equal(errs[0].response.body.error.code, 'invalid_structured_output');
    // the provider's answer and the pipeline's attempts are all in the ledger
    const rows = ledger(fr.db, b.id).filter((r) => r.status === 502);
    assert.ok(rows.some((r) => r.batch === 1), JSON.stringify(rows));
    assert.ok(rows.some((r) => r.batch === 0), JSON.stringify(rows));
    await fr.stop();
  });
});

describe('routing inside a batch', () => {
  test('one batch split across a cheap and a frontier model, each at batch price', async () => {
    const fr = await gateway(config('provider', {
      routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o', weights: WEIGHTS,
        frontier_share: 0, frontier_on_tools: true }],
    }));
    const c = openai(fr);
    const tool = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } };
    const lines = [
      oaLine('s1', 'auto', 'What is 2+2?'),
      oaLine('s2', 'auto', 'Name a colour.'),
      oaLine('t1', 'auto', 'Use the tool', { tools: [tool] }),
    ];
    const f = await upload(c, lines);
    const b = await untilFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    assert.equal(b.status, 'completed');
    const out = await fileLines(c, b.output_file_id);
    assert.equal(out.length, 3);
    const rows = ledger(fr.db, b.id);
    const byModel = {};
    for (const r of rows) (byModel[r.model] ??= []).push(r);
    assert.deepEqual(Object.keys(byModel).sort(), ['gpt-4o', 'gpt-4o-mini'], JSON.stringify(rows));
    assert.equal(byModel['gpt-4o-mini'].length, 2);
    for (const r of byModel['gpt-4o-mini']) {
      assert.equal(r.route, 'cheap');
      assert.equal(r.batch, 1);
      assert.ok(r.saved_routing_pico > 0, 'cheap lines save against the frontier model');
      assert.ok(r.saved_batch_pico > 0);
    }
    assert.equal(byModel['gpt-4o'][0].route, 'frontier');
    await fr.stop();
  });

  test("a key's lines follow the operator's tag rules by the key's own tags, never the create call's header", async () => {
    const fr = await gateway(config('local', {
      server: { master_key: 'fk-e2e-master-batch-tags' },
      routes: [{ name: 'by-team', cheap: 'gpt-4o-mini', frontier: 'gpt-4o',
        frontier_for: ['tag:project=apollo'], cheap_for: ['tag:team=support'] }],
    }));
    const k = (await call(fr, '/frugal/keys', { body: { name: 'support-batch', tags: 'team=support' } })).json;
    const c = openai(fr, { apiKey: k.key });
    const f = await upload(c, [oaLine('r1', 'by-team', 'Say hello'), oaLine('r2', 'by-team', 'Say bye')]);
    // the header's project=apollo is recorded on every line, but it is the
    // tenant's claim: the frontier_for rule naming it must not apply
    const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
      { headers: { 'x-frugal-tags': 'project=apollo' } });
    const b = await untilFinal(c, b0.id);
    assert.equal(b.status, 'completed');
    const rows = JSON.parse(execFileSync('sqlite3', ['-json', fr.db,
      `SELECT key_id, tags, model, route, route_reason FROM calls WHERE batch_id = '${b.id}'`]).toString());
    assert.equal(rows.length, 2);
    for (const r of rows)
      assert.deepEqual(r, { key_id: k.id, tags: 'team=support,project=apollo', model: 'gpt-4o-mini',
                            route: 'cheap', route_reason: 'cheap tier for tag:team=support' });
    await fr.stop();
  });
});

describe('provider keys stay out of batch results', () => {
  // A provider that quotes the key it received in a line's error
  // (#sim:echo_auth, src/sim/sim.h): the client, whose key may be any
  // virtual key, gets the error with [REDACTED] where frugal's provider key
  // was, in both dialects, translated or not.  The key is not key-shaped, so
  // only its registration with the redactor (every configured api_key) can
  // catch it.
  const KEY = 'plainBATCHPROVIDERKEYnotshaped7c41e0d9';
  const echo = 'what is my key? #sim:echo_auth';
  for (const mode of ['provider', 'local']) {
    test(`errored lines quoting the provider key are redacted (${mode} mode)`, async () => {
      const sim = await startSim({ name: `sim-echo-${mode}` });
      const dir = tempDir();
      try {
        const fr = await gateway({
          providers: [{ name: 'sim', type: 'sim', base_url: sim.url, api_key: KEY, batch: mode }],
          models: MODELS,
          batches: { poll_ms: 50, poll_max_ms: 200 },
        }, { cwd: dir });
        const oc = openai(fr);
        const f = await upload(oc, [
          oaLine('o-oa', 'gpt-4o-mini', echo),
          oaLine('o-an', 'claude-haiku-4-5', echo),   // Anthropic provider, OpenAI client
          oaLine('o-ok', 'gpt-4o-mini', 'Say hello'),
        ]);
        const b0 = await oc.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        const b = await untilFinal(oc, b0.id);
        assert.deepEqual(b.request_counts, { total: 3, completed: 1, failed: 2 });
        assert.equal(b.errors ?? null, null);
        const errText = await (await oc.files.content(b.error_file_id)).text();
        const outText = await (await oc.files.content(b.output_file_id)).text();
        assert.ok(!errText.includes(KEY), `the provider key reached the error file: ${errText}`);
        assert.ok(!outText.includes(KEY));
        const errs = parseJsonl(errText);
        assert.deepEqual(errs.map((l) => l.custom_id).sort(), ['o-an', 'o-oa']);
        for (const l of errs) {
          assert.equal(l.response.status_code, 401, JSON.stringify(l));
          assert.match(l.response.body.error.message, /\[REDACTED\]/, JSON.stringify(l));
        }

        const ac = anthropic(fr);
        const mb = await ac.messages.batches.create({
          requests: [
            { custom_id: 'a-an', params: { model: 'claude-haiku-4-5', max_tokens: 30, messages: [{ role: 'user', content: echo }] } },
            { custom_id: 'a-oa', params: { model: 'gpt-4o-mini', max_tokens: 30, messages: [{ role: 'user', content: echo }] } },
          ],
        });
        await untilEnded(ac, mb.id);
        const raw = (await call(fr, `/v1/messages/batches/${mb.id}/results`, { method: 'GET' })).text;
        assert.ok(!raw.includes(KEY), `the provider key reached the message batch results: ${raw}`);
        const results = [];
        for await (const r of await ac.messages.batches.results(mb.id)) results.push(r);
        assert.deepEqual(results.map((r) => r.custom_id).sort(), ['a-an', 'a-oa']);
        for (const r of results) {
          assert.equal(r.result.type, 'errored', JSON.stringify(r));
          assert.equal(r.result.error.error.type, 'authentication_error', JSON.stringify(r));
          assert.match(r.result.error.error.message, /\[REDACTED\]/, JSON.stringify(r));
        }
        await fr.stop();
        // nor in what frugal keeps (batch results, ledger error messages)
        for (const name of readdirSync(dir).filter((x) => x.startsWith('frugal.db'))) {
          const db = readFileSync(join(dir, name)).toString('latin1');
          assert.ok(!db.includes(KEY), `the provider key is stored in ${name}`);
        }
      } finally {
        await sim.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('durability', () => {
  for (const mode of ['provider', 'local']) {
    test(`kill -9 mid-batch (${mode} mode): restart finishes it, no line lost or run twice`, async () => {
      const sim = mode === 'provider' ? await startSim({ name: 'sim-durable' }) : null;
      const dir = tempDir();
      const providers = sim
        ? [{ name: 'sim', type: 'sim', base_url: sim.url, batch: 'provider' }]
        : [{ name: 'sim', type: 'sim', batch: 'local' }];
      const cfg = {
        providers, models: MODELS,
        batches: { poll_ms: 50, poll_max_ms: 200, local_concurrency: 2 },
      };
      const N = 12;
      const slow = mode === 'provider' ? '#sim:batch_delay_ms=2500' : '#sim:delay_ms=250';
      const lines = Array.from({ length: N }, (_, i) => oaLine(`d${i}`, 'gpt-4o-mini', `item ${i} ${slow}`));
      let fr = await gateway(cfg, { cwd: dir });
      let c = openai(fr);
      const f = await upload(c, lines);
      const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      // mid-batch: provider jobs submitted / some local lines done
      await waitFor(() => {
        const out = execFileSync('sqlite3', [fr.db,
          `SELECT (SELECT COUNT(*) FROM batch_jobs), (SELECT COUNT(*) FROM batch_lines WHERE state='done')`]).toString().trim();
        const [jobs, done] = out.split('|').map(Number);
        return mode === 'provider' ? jobs > 0 : done >= 2;
      }, { timeoutMs: 10000, what: 'the batch to be under way' });
      const doneBefore = Number(execFileSync('sqlite3', [fr.db, `SELECT COUNT(*) FROM batch_lines WHERE state='done'`]).toString());
      assert.ok(doneBefore < N, 'killed mid-batch, not after');
      await fr.stop({ signal: 'SIGKILL', expectCode: null }).catch(() => {});
      fr = await gateway(cfg, { cwd: dir });
      c = openai(fr);
      const b = await untilFinal(c, b0.id, 30000);
      assert.equal(b.status, 'completed');
      assert.deepEqual(b.request_counts, { total: N, completed: N, failed: 0 });
      const out = await fileLines(c, b.output_file_id);
      assert.deepEqual(out.map((l) => l.custom_id).sort(), lines.map((l) => l.custom_id).sort());
      const rows = ledger(fr.db, b.id);
      assert.equal(rows.length, N, 'one ledger record per line');
      assert.equal(new Set(rows.map((r) => r.id)).size, N);
      await fr.stop();
      await sim?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
  }
});

describe('a crash between the provider accepting a batch and frugal recording it', () => {
  test('restart adopts the provider batch by its metadata instead of sending the lines twice', async () => {
    const sim = await startSim({ name: 'sim-adopt' });
    const dir = tempDir();
    const cfg = {
      providers: [{ name: 'sim', type: 'sim', base_url: sim.url, batch: 'provider' }],
      models: MODELS, batches: { poll_ms: 50, poll_max_ms: 200 },
    };
    let fr = await gateway(cfg, { cwd: dir });
    let c = openai(fr);
    const lines = [0, 1, 2].map((i) => oaLine(`a${i}`, 'gpt-4o-mini', `x ${i} #sim:batch_delay_ms=2000`));
    const f = await upload(c, lines);
    const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(() => execFileSync('sqlite3', [fr.db, "SELECT COUNT(*) FROM batch_jobs WHERE state='submitted'"])
      .toString().trim() === '1', { what: 'the provider job' });
    await fr.stop({ signal: 'SIGKILL', expectCode: null }).catch(() => {});
    // as if the process died before it could record the provider's answer
    execFileSync('sqlite3', [join(dir, 'frugal.db'), "UPDATE batch_jobs SET state='creating', remote_id=NULL"]);
    fr = await gateway(cfg, { cwd: dir });
    c = openai(fr);
    const b = await untilFinal(c, b0.id, 20000);
    assert.equal(b.status, 'completed');
    assert.deepEqual((await fileLines(c, b.output_file_id)).map((l) => l.custom_id).sort(), ['a0', 'a1', 'a2']);
    const remote = await (await fetch(`${sim.url}/v1/batches`)).json();
    assert.equal(remote.data.length, 1, 'the lines were not sent to the provider twice');
    assert.match(fr.err, /adopted/);
    assert.equal(ledger(fr.db, b.id).length, 3);
    await fr.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('limits of the creating key', () => {
  test("planning lines does not spend the key's RPM; provider lines are not held to it", async () => {
    const fr = await gateway({ ...config('provider'), server: { master_key: 'fk-e2e-master-rpm' } });
    const k = (await call(fr, '/frugal/keys', { body: { name: 'slow-key', rpm: 1 } })).json;
    const c = openai(fr, { apiKey: k.key });
    const f = await upload(c, [0, 1, 2, 3].map((i) => oaLine(`r${i}`, 'gpt-4o-mini', `q ${i}`)));
    const b = await untilFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id, 10000);
    assert.deepEqual(b.request_counts, { total: 4, completed: 4, failed: 0 });
    // the key's one request a minute is still there for a real-time call
    const r = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(r.choices[0].message.content);
    await fr.stop();
  });
});

describe('shutdown', () => {
  test('SIGTERM does not wait for a provider that never answers a batch upload', async () => {
    const { startRecorder } = await import('./lib/recorder.mjs');
    const rec = await startRecorder();
    rec.behave = () => ({ hang: true });
    const fr = await gateway({
      providers: [{ name: 'slow', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec', batch: 'provider' }],
      models: [{ name: 'gpt-4o-mini', provider: 'slow' }],
      batches: { poll_ms: 50 },
    });
    const c = openai(fr);
    const f = await upload(c, [oaLine('h', 'gpt-4o-mini', 'x')]);
    await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(() => rec.requests.some((r) => r.path.endsWith('/files')), { what: 'the upload to the provider' });
    const t0 = Date.now();
    await fr.stop();
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
    await rec.stop();
  });
});

describe('isolation', () => {
  test('files and batches are visible only to the key that created them (master sees all)', async () => {
    const fr = await gateway({ ...config('provider'), server: { master_key: 'fk-e2e-master-batch' } });
    const mk = async (name) => {
      const r = await call(fr, '/frugal/keys', { body: { name } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const ka = await mk('team-a');
    const kb = await mk('team-b');
    const a = openai(fr, { apiKey: ka.key });
    const b = openai(fr, { apiKey: kb.key });
    const m = openai(fr);
    const f = await upload(a, [oaLine('i1', 'gpt-4o-mini', 'mine')]);
    const bat = await a.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // key B sees nothing of A's
    await rejectsWith(b.files.retrieve(f.id), OpenAI.NotFoundError);
    await rejectsWith(b.files.content(f.id), OpenAI.NotFoundError);
    await rejectsWith(b.files.delete(f.id), OpenAI.NotFoundError);
    await rejectsWith(b.batches.retrieve(bat.id), OpenAI.NotFoundError);
    await rejectsWith(b.batches.cancel(bat.id), OpenAI.NotFoundError);
    await rejectsWith(b.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      OpenAI.NotFoundError);
    assert.equal((await b.batches.list()).data.length, 0);
    assert.equal((await b.files.list()).data.length, 0);
    // A and the master see it
    const done = await untilFinal(a, bat.id);
    assert.equal(done.status, 'completed');
    assert.ok((await m.batches.list()).data.some((x) => x.id === bat.id));
    assert.equal((await m.files.retrieve(f.id)).id, f.id);
    await rejectsWith(b.files.content(done.output_file_id), OpenAI.NotFoundError);
    const out = await fileLines(a, done.output_file_id);
    assert.equal(out[0].custom_id, 'i1');
    // the cost is A's, in the ledger and in A's spend map, not in B's
    const rows = ledger(fr.db, bat.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].key_id, ka.id);
    const sa = await call(fr, '/frugal/spend', { method: 'GET', key: ka.key });
    const sb = await call(fr, '/frugal/spend', { method: 'GET', key: kb.key });
    assert.equal(sa.json.requests, 1);
    assert.equal(sb.json.requests, 0);
    // Anthropic batches too
    const an = anthropic(fr, { apiKey: ka.key });
    const anb = anthropic(fr, { apiKey: kb.key });
    const mb = await an.messages.batches.create({ requests: [{ custom_id: 'z',
      params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'q' }] } }] });
    await rejectsWith(anb.messages.batches.retrieve(mb.id), Anthropic.NotFoundError);
    assert.equal((await anb.messages.batches.list()).data.length, 0);
    await fr.stop();
  });
});

describe('frugal batch (CLI)', () => {
  test('submit --wait, status, results -o; --model; errors name the line', async () => {
    const { runFrugal } = await import('./lib/frugal.mjs');
    const { writeFileSync, readFileSync } = await import('node:fs');
    const fr = await gateway(config('provider'));
    const dir = tempDir();
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, jsonl([oaLine('c1', 'placeholder', 'one'), oaLine('c2', 'placeholder', 'two')]));
    const sub = await runFrugal(['batch', 'submit', file, '--model', 'gpt-4o-mini', '--wait', '--url', fr.url]);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.split('\n')[0].trim();
    assert.match(id, /^batch_/);
    assert.match(sub.stdout, /completed\s+2\/2 done/);
    const st = await runFrugal(['batch', 'status', id, '--url', fr.url]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`${id}\\s+completed`));
    const out = join(dir, 'out.jsonl');
    const res = await runFrugal(['batch', 'results', id, '-o', out, '--url', fr.url]);
    assert.equal(res.code, 0, res.stderr);
    const lines = parseJsonl(readFileSync(out, 'utf8'));
    assert.deepEqual(lines.map((l) => l.custom_id).sort(), ['c1', 'c2']);
    for (const l of lines) assert.equal(l.response.body.model, 'gpt-4o-mini');
    // Anthropic-format lines make a Message Batch
    const anFile = join(dir, 'an.jsonl');
    writeFileSync(anFile, jsonl([{ custom_id: 'm1', params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } }]));
    const anSub = await runFrugal(['batch', 'submit', anFile, '--wait', '--url', fr.url]);
    assert.equal(anSub.code, 0, anSub.stderr);
    const anId = anSub.stdout.split('\n')[0].trim();
    assert.match(anId, /^msgbatch_/);
    const anRes = await runFrugal(['batch', 'results', anId, '--url', fr.url]);
    assert.equal(parseJsonl(anRes.stdout)[0].result.type, 'succeeded');
    // the gateway's refusal is printed, exit 1
    writeFileSync(file, jsonl([oaLine('d', 'gpt-4o-mini', 'x'), oaLine('d', 'gpt-4o-mini', 'dup')]));
    const bad = await runFrugal(['batch', 'submit', file, '--url', fr.url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /line 2: duplicate custom_id/);
    const missing = await runFrugal(['batch', 'status', 'batch_nope', '--url', fr.url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404/);
    assert.equal((await runFrugal(['batch', 'frobnicate'])).code, 2);
    await fr.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});

// Provider-mode lines are reserved against the creating key's budgets (and
// the tag budgets its lines carry) as they are submitted, at the batch price,
// and settled as results arrive: a batch stops at the budget, and the lines
// that cannot get a reservation end as budget_exceeded with a ledger row each.
describe('budgets of the creating key', () => {
  const PICO = 1_000_000_000_000;
  const usdPico = (s) => Math.round(Number(s) * PICO);

  function ledgerSum(db, where) {
    const out = execFileSync('sqlite3', [db, `SELECT COALESCE(SUM(cost_pico), 0) FROM calls WHERE ${where}`]).toString();
    return Number(out.trim());
  }

  for (const mode of ['provider', 'local']) {
    test(`OpenAI batch of 300 lines on a $0.001/day key (${mode} mode) spends at most the budget`, async () => {
      const LIMIT = 0.001 * PICO;
      const fr = await gateway({ ...config(mode), server: { master_key: 'fk-e2e-master-budget' } });
      const k = (await call(fr, '/frugal/keys', { body: { name: 'tiny', budget: '0.001/day' } })).json;
      const c = openai(fr, { apiKey: k.key });
      const N = 300;
      const lines = Array.from({ length: N }, (_, i) => oaLine(`b${i}`, 'gpt-4o-mini', `item ${i} #sim:tokens=40`));
      const f = await upload(c, lines);
      const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const b = await untilFinal(c, b0.id, 120000);
      assert.equal(b.status, 'completed');
      const out = await fileLines(c, b.output_file_id);
      const errs = await fileLines(c, b.error_file_id);
      assert.equal(out.length + errs.length, N);
      assert.ok(out.length >= 1, 'some lines fit the budget');
      assert.ok(errs.length >= 1, 'not every line fits $0.001');
      for (const l of out) assert.equal(l.response.body.object, 'chat.completion');
      for (const l of errs) {
        assert.equal(l.response.status_code, 429, JSON.stringify(l));
        assert.equal(l.response.body.error.code, 'budget_exceeded');
        assert.match(l.response.body.error.message, /daily budget of key 'tiny'/);
      }
      const rows = ledger(fr.db, b.id);
      assert.equal(rows.length, N, 'one ledger row per line');
      assert.equal(rows.filter((r) => r.status === 429).length, errs.length);
      assert.equal(rows.filter((r) => r.status === 200).length, out.length);
      const spent = rows.reduce((s, r) => s + r.cost_pico, 0);
      assert.ok(spent <= LIMIT, `spent ${spent} pico > budget ${LIMIT}`);
      assert.ok(spent > LIMIT / 2, `the batch stopped at ${spent} pico, far below the budget`);
      assert.equal(ledgerSum(fr.db, `key_id = '${k.id}'`), spent);
      const view = await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' });
      assert.equal(view.json.usage.budget.reserved_usd, '0.000000', 'nothing left held');
      assert.equal(usdPico(view.json.usage.budget.spent_usd), Math.round(spent / 1e6) * 1e6);
      await fr.stop();
    });
  }

  test('Anthropic message batch of 200 requests against a tag budget the key carries', async () => {
    const LIMIT = 0.002 * PICO;
    const fr = await gateway({
      ...config('provider'),
      server: { master_key: 'fk-e2e-master-tagbudget' },
      tag_budgets: { 'team=tiny': '0.002/day' },
    });
    const k = (await call(fr, '/frugal/keys', { body: { name: 'tagged', tags: 'team=tiny' } })).json;
    const c = anthropic(fr, { apiKey: k.key });
    const N = 200;
    const mb = await c.messages.batches.create({
      requests: Array.from({ length: N }, (_, i) => ({ custom_id: `t${i}`,
        params: { model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: `q ${i} #sim:tokens=20` }] } })),
    });
    const b = await untilEnded(c, mb.id, 120000);
    const results = [];
    for await (const r of await c.messages.batches.results(mb.id)) results.push(r);
    assert.equal(results.length, N);
    const ok = results.filter((r) => r.result.type === 'succeeded');
    const denied = results.filter((r) => r.result.type === 'errored');
    assert.equal(ok.length + denied.length, N, JSON.stringify(b.request_counts));
    assert.ok(ok.length >= 1 && denied.length >= 1, `${ok.length} succeeded, ${denied.length} errored`);
    for (const r of ok) assert.equal(r.result.message.type, 'message');
    for (const r of denied) {
      assert.equal(r.result.error.error.type, 'rate_limit_error', JSON.stringify(r));
      assert.match(r.result.error.error.message, /Budget exceeded: the daily budget of tag 'team=tiny'/);
    }
    const rows = ledger(fr.db, mb.id);
    assert.equal(rows.length, N, 'one ledger row per request');
    assert.equal(rows.filter((r) => r.status === 429).length, denied.length);
    const spent = rows.reduce((s, r) => s + r.cost_pico, 0);
    assert.ok(spent <= LIMIT, `spent ${spent} pico > tag budget ${LIMIT}`);
    assert.ok(spent > LIMIT / 2, `the batch stopped at ${spent} pico, far below the budget`);
    assert.equal(ledgerSum(fr.db, `tags LIKE '%team=tiny%'`), spent);
    await fr.stop();
  });

  test('reservations of submitted lines survive kill -9: the restarted gateway still holds them', async () => {
    const sim = await startSim({ name: 'sim-budget-restart' });
    const dir = tempDir();
    const cfg = {
      providers: [{ name: 'sim', type: 'sim', base_url: sim.url, batch: 'provider' }],
      models: MODELS, batches: { poll_ms: 50, poll_max_ms: 200 },
      server: { master_key: 'fk-e2e-master-budget-restart' },
    };
    let fr = await gateway(cfg, { cwd: dir });
    const k = (await call(fr, '/frugal/keys', { body: { name: 'held', budget: '0.0005/day' } })).json;
    let c = openai(fr, { apiKey: k.key });
    // the provider sits on these for a minute: their reservations stay outstanding
    const lines = Array.from({ length: 100 }, (_, i) => oaLine(`h${i}`, 'gpt-4o-mini', `slow ${i} #sim:batch_delay_ms=60000`));
    const f = await upload(c, lines);
    const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(() => execFileSync('sqlite3', [fr.db, "SELECT COUNT(*) FROM batch_jobs WHERE state='submitted'"])
      .toString().trim() === '1', { timeoutMs: 20000, what: 'the provider job' });
    const before = (await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' })).json.usage.budget;
    assert.ok(usdPico(before.reserved_usd) > 0, JSON.stringify(before));
    // a call that fits the empty budget (~$0.00013 worst case of $0.0005), not the rest of it
    const chat = (cl) => cl.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 200,
      messages: [{ role: 'user', content: 'hi' }] });
    const e1 = await rejectsWith(chat(c), OpenAI.RateLimitError, 'the batch holds the budget');
    assert.equal(e1.code, 'budget_exceeded');

    await fr.stop({ signal: 'SIGKILL', expectCode: null }).catch(() => {});
    fr = await gateway(cfg, { cwd: dir });
    c = openai(fr, { apiKey: k.key });
    // without the batch's reservations this call would fit, and the batch's
    // results would then push the key past its budget
    const e2 = await rejectsWith(chat(c), OpenAI.RateLimitError, 'after restart');
    assert.equal(e2.code, 'budget_exceeded');
    const after = (await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' })).json.usage.budget;
    assert.equal(after.reserved_usd, before.reserved_usd, 'the reservations were re-established');

    // cancelled lines end without cost: their reservations are released
    await c.batches.cancel(b0.id);
    const b = await untilFinal(c, b0.id, 30000);
    assert.equal(b.status, 'cancelled');
    const end = (await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' })).json.usage.budget;
    assert.equal(end.reserved_usd, '0.000000');
    assert.equal(ledgerSum(fr.db, `key_id = '${k.id}' AND batch_id = '${b0.id}'`), 0);
    await fr.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});

// results_url (the only URL frugal hands out) is built from server.public_url
// or is path-relative; never from the request's Host header, which any client
// chooses: a results_url on attacker.example would make the Anthropic SDK of
// whoever reads the batch send its key there.
describe('URLs frugal hands out', () => {
  const EVIL = 'attacker.example:9999';

  /* A request with a Host header of our choosing (fetch sets its own). */
  function raw(fr, method, path, body) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers = { Host: EVIL, 'anthropic-version': '2023-06-01' };
      if (data) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
      const req = http.request({ host: '127.0.0.1', port: fr.port, method, path, headers, setHost: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      });
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  const noEvil = (r, what) => {
    const all = `${JSON.stringify(r.headers)}\n${r.text}`;
    assert.ok(!/attacker/i.test(all), `${what}: the client's Host header came back: ${all.slice(0, 600)}`);
  };

  /* An SDK whose base URL is http://frugal.invalid (mapped to frugal by its
   * fetch), recording every URL it fetches. */
  function aliased(fr) {
    const seen = [];
    const client = anthropic(fr, {
      baseURL: 'http://frugal.invalid',
      fetch: (url, init) => {
        seen.push(String(url));
        return fetch(String(url).replace('http://frugal.invalid', fr.url), init);
      },
    });
    return { client, seen };
  }

  async function anthropicBatchViaEvilHost(fr) {
    const created = await raw(fr, 'POST', '/v1/messages/batches', { requests: [{ custom_id: 'h1',
      params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } }] });
    assert.equal(created.status, 200, created.text);
    noEvil(created, 'create');
    const id = JSON.parse(created.text).id;
    const ended = await waitFor(async () => {
      const r = await raw(fr, 'GET', `/v1/messages/batches/${id}`);
      return JSON.parse(r.text).processing_status === 'ended' ? r : null;
    }, { timeoutMs: 20000, what: 'the batch to end' });
    noEvil(ended, 'retrieve');
    for (const [m, path] of [['GET', '/v1/messages/batches'], ['GET', `/v1/messages/batches/${id}/results`],
      ['GET', '/v1/batches'], ['GET', '/v1/files'], ['GET', '/v1/models'], ['GET', '/healthz'],
      ['GET', '/frugal/spend'], ['GET', '/nowhere'], ['POST', `/v1/messages/batches/${id}/cancel`]]) {
      noEvil(await raw(fr, m, path), `${m} ${path}`);
    }
    return { id, batch: JSON.parse(ended.text) };
  }

  test('a request with Host: attacker.example gets no attacker host back; results_url is path-relative', async () => {
    const fr = await gateway(config('provider'));
    const { id, batch } = await anthropicBatchViaEvilHost(fr);
    assert.equal(batch.results_url, `/v1/messages/batches/${id}/results`);
    // the SDK resolves the relative URL against its own base URL
    const { client, seen } = aliased(fr);
    const results = [];
    for await (const r of await client.messages.batches.results(id)) results.push(r);
    assert.deepEqual(results.map((r) => [r.custom_id, r.result.type]), [['h1', 'succeeded']]);
    assert.ok(seen.includes(`http://frugal.invalid/v1/messages/batches/${id}/results`), seen.join(' '));
    await fr.stop();
  });

  test('server.public_url is the base of results_url, whatever Host the client sent', async () => {
    const port = await freePort();
    const pub = `http://127.0.0.1:${port}`;
    const fr = await gateway({ ...config('provider'), server: { listen: `127.0.0.1:${port}`, public_url: `${pub}/` } });
    const { id, batch } = await anthropicBatchViaEvilHost(fr);
    assert.equal(batch.results_url, `${pub}/v1/messages/batches/${id}/results`);
    // the SDK's base URL is another name for frugal: it fetches the absolute URL given
    const { client, seen } = aliased(fr);
    const listed = await client.messages.batches.list();
    assert.equal(listed.data[0].results_url, batch.results_url);
    const results = [];
    for await (const r of await client.messages.batches.results(id)) results.push(r);
    assert.deepEqual(results.map((r) => r.custom_id), ['h1']);
    assert.ok(seen.includes(batch.results_url), seen.join(' '));
    await fr.stop();
  });
});

/* A request from another loopback address (the test's own traffic), so
 * that every connection from 127.0.0.1 — where a loopback call of the
 * gateway to itself would come from — can be refused. */
function from2(fr, method, path, body) {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: fr.port, path, method, localAddress: '127.0.0.2',
      headers: { 'anthropic-version': '2023-06-01', ...(data ? { 'content-type': 'application/json' } : {}) },
    }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode, text }));
    });
    req.on('error', rej);
    req.end(data);
  });
}

describe('batch lines are calls of the pipeline, not HTTP requests', () => {
  for (const mode of ['provider', 'local']) {
    test(`${mode} mode: lines are planned and run while the gateway refuses every connection from 127.0.0.1`, async () => {
      const fr = await gateway({
        ...config(mode),
        server: { max_connections_per_ip: 1, header_timeout_ms: 60000, header_timeout_busy_ms: 60000 },
      });
      // 127.0.0.1's one place is taken by `hold`: a connection from there is
      // refused (429).  The gateway may accept a probe before `hold` (both
      // connect at once), so each probe is a connection of its own that
      // closes after its answer, and a `hold` that lost the race is made anew.
      let hold = null;
      const probe = () => new Promise((resolve) => {
        const rq = http.get({ host: '127.0.0.1', port: fr.port, path: '/healthz', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        rq.on('error', () => resolve(null));
      });
      await waitFor(async () => {
        if (!hold) {
          hold = net.connect({ host: '127.0.0.1', port: fr.port });
          hold.on('error', () => {});
          await new Promise((r) => hold.once('connect', r));
        }
        if ((await probe()) === 429) return true;
        hold.destroy();
        hold = null;
        return false;
      }, { what: 'connections from 127.0.0.1 to be refused' });
      try {
        const created = await from2(fr, 'POST', '/v1/messages/batches', {
          requests: [
            { custom_id: 'r1', params: { model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] } },
            { custom_id: 'r2', params: { model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'hello' }] } },
          ],
        });
        assert.equal(created.status, 200, created.text);
        const id = JSON.parse(created.text).id;
        const b = await waitFor(async () => {
          const r = JSON.parse((await from2(fr, 'GET', `/v1/messages/batches/${id}`)).text);
          return r.processing_status === 'ended' ? r : null;
        }, { timeoutMs: 20000, stepMs: 100, what: `batch ${id} to end` });
        assert.deepEqual(b.request_counts, { processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 });
        const results = parseJsonl((await from2(fr, 'GET', `/v1/messages/batches/${id}/results`)).text);
        assert.deepEqual(results.map((r) => r.result.type), ['succeeded', 'succeeded']);
      } finally {
        hold?.destroy();
        await fr.stop();
      }
    });
  }

  test('the loopback path is gone: its headers from outside neither plan a call nor act for an owner', async () => {
    const fr = await gateway(config('local'));
    const r = await call(fr, '/v1/chat/completions', {
      headers: {
        'x-frugal-internal': 'guess', 'x-frugal-owner': 'master',
        'x-frugal-batch-line': 'batch_x/0', 'x-frugal-batch-mode': 'plan',
      },
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 },
    });
    // an ordinary answer: not a plan (no "upstream_model"/"body"), not a 401
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'chat.completion');
    assert.equal(r.json.upstream_model, undefined);
    assert.doesNotMatch(r.headers.get('x-frugal-request-id'), /^frb_/); // not a batch line's record id
    await fr.stop();
  });
});
