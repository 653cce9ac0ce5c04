// embeddings.test.mjs — POST /v1/embeddings through the real daemon with the
// openai SDK: forwarded to a recording upstream, cached per input (a request
// repeating three of its five inputs sends only the other two upstream and
// pays only for them), both encodings reassembled in index order, priced
// with the providers' arithmetic, budgets applied, wrong models refused;
// and the built-in simulated provider's embeddings.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { toFile } from 'openai';

import { OpenAI, call, ledgerFlushed, openai, rejectsWith, runFrugal, startFrugal, tempDir, test, waitFor } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const MASTER = 'fg-embed-master-5d1c';
const PRICE = 2.0; // USD per 1M input tokens of the recorded model: cents, not dust
const tokensOf = (s) => Math.ceil(Buffer.byteLength(s) / 4);
const micro = (usd) => BigInt(Math.round(usd * 1e6));
const usdOf = (tokens, price) => Number((BigInt(tokens) * micro(price))) / 1e12; // exact pico → USD

// A provider's vector: exactly representable float32 numbers from the text.
function vectorOf(text, dims) {
  const v = [];
  for (let i = 0; i < dims; i++) v.push(((text.charCodeAt(i % text.length) + i * 7) % 256) / 8 - 16);
  return v;
}
const b64 = (v) => Buffer.from(new Float32Array(v).buffer).toString('base64');
const fromB64 = (s) => Array.from(new Float32Array(new Uint8Array(Buffer.from(s, 'base64')).buffer));

let rec;
let fr;
const dir = tempDir('frugal-embed-');

function upstreamEmbeddings(entry) {
  const j = entry.json;
  const one = typeof j.input === 'string' || typeof j.input[0] === 'number';
  // token-id arrays count one token per id and are seeded by their ids
  const inputs = (one ? [j.input] : j.input).map((x) => (typeof x === 'string' ? x : x.join(' ')));
  const dims = j.dimensions ?? 6;
  const tokens = (one ? [j.input] : j.input).reduce((n, x) => n + (typeof x === 'string' ? tokensOf(x) : x.length), 0);
  return {
    body: {
      object: 'list',
      data: inputs.map((s, index) => {
        const v = vectorOf(s, dims);
        return { object: 'embedding', index, embedding: j.encoding_format === 'base64' ? b64(v) : v };
      }),
      model: j.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-embed',
    cwd: dir,
    config: {
      server: { master_key: MASTER, upstream_retries: 0 },
      storage: `sqlite:${join(dir, 'frugal.db')}`,
      providers: [
        { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-embed-provider-key' },
        { name: 'sim', type: 'sim' },
      ],
      models: [
        { name: 'emb', provider: 'rec', model: 'text-embedding-3-small', price: { input: PRICE, output: 0 } },
        { name: 'text-embedding-3-small', provider: 'sim' },
        { name: 'gpt-4o-mini', provider: 'rec' },
        { name: 'claude-haiku-4-5', provider: 'sim' },
        { name: 'emb-a', provider: 'rec', model: 'embed-a', price: { input: PRICE, output: 0 } },
        { name: 'emb-b', provider: 'rec', model: 'embed-b', price: { input: PRICE, output: 0 } },
      ],
      fallbacks: { 'emb-a': ['emb-b'] },
      routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o-mini' }],
      response_cache: { enabled: true },
    },
  });
});

after(async () => {
  await fr?.stop();
  await rec?.stop();
});

beforeEach(() => {
  rec.reset();
  rec.behave = (e) => (e.path === '/v1/embeddings' ? upstreamEmbeddings(e) : {});
});

const client = (o = {}) => openai(fr, o);

/* The raw response too (headers), through the SDK. */
async function embed(params, opts) {
  const { data, response } = await client().embeddings.create(params, opts).withResponse();
  return { r: data, h: response.headers };
}

describe('embeddings: cached per input', () => {
  test('3 of 5 inputs repeated: upstream sees 2, both encodings, usage and cost as the provider would say', async () => {
    const [A, B, C, D, E] = ['alpha one', 'bravo two two', 'charlie three 3', 'delta 4', 'echo five five five'];
    const spend0 = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.equal(typeof spend0.cost_usd, 'number', JSON.stringify(spend0));

    // warm the cache with A, B, C (float)
    const first = await embed({ model: 'emb', input: [A, B, C], encoding_format: 'float' });
    assert.equal(rec.requests.length, 1);
    assert.deepEqual(rec.last().json.input, [A, B, C]);
    assert.equal(first.h.get('x-frugal-cache'), 'miss');
    assert.deepEqual(first.r.data.map((d) => d.embedding), [A, B, C].map((s) => vectorOf(s, 6)));

    // five inputs, three of them repeated, asked in base64 this time
    const five = [A, D, B, E, C];
    const { r, h } = await embed({ model: 'emb', input: five, encoding_format: 'base64' });
    assert.equal(rec.requests.length, 2, 'one more upstream call');
    assert.deepEqual(rec.last().json.input, [D, E], 'only the misses went upstream, in order');
    assert.equal(rec.last().json.encoding_format, 'base64');
    assert.equal(rec.last().json.model, 'text-embedding-3-small');
    assert.equal(h.get('x-frugal-cache'), 'miss');
    assert.equal(h.get('x-frugal-cache-hits'), '3/5');
    assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2, 3, 4]);
    for (let i = 0; i < 5; i++) {
      assert.equal(typeof r.data[i].embedding, 'string', `item ${i} is base64`);
      assert.deepEqual(fromB64(r.data[i].embedding), vectorOf(five[i], 6), `item ${i}: ${five[i]}`);
    }
    const all = five.reduce((n, s) => n + tokensOf(s), 0);
    assert.equal(r.usage.prompt_tokens, all, 'usage: what the provider would report for all five');
    assert.equal(r.usage.total_tokens, all);
    const paid = tokensOf(D) + tokensOf(E), cached = tokensOf(A) + tokensOf(B) + tokensOf(C);
    assert.equal(h.get('x-frugal-cost-usd'), usdOf(paid, PRICE).toFixed(6));
    assert.equal(h.get('x-frugal-saved-usd'), usdOf(cached, PRICE).toFixed(6));

    // all five again, float, through the SDK's default path: no upstream call at all
    const again = await embed({ model: 'emb', input: five });
    assert.equal(rec.requests.length, 2, 'a full hit never reaches the provider');
    assert.equal(again.h.get('x-frugal-cache'), 'hit');
    assert.equal(again.h.get('x-frugal-cost-usd'), '0.000000');
    assert.deepEqual(again.r.data.map((d) => d.embedding), five.map((s) => vectorOf(s, 6)));
    assert.equal(again.r.usage.prompt_tokens, all);

    // the spend map: paid for D and E once, A, B, C once; the rest saved by the cache
    await ledgerFlushed(fr, 3);
    const s = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    const firstCost = usdOf(tokensOf(A) + tokensOf(B) + tokensOf(C), PRICE);
    const cost = firstCost + usdOf(paid, PRICE);
    assert.equal((s.cost_usd - spend0.cost_usd).toFixed(6), cost.toFixed(6));
    const savedRc = (s.saved_by.response_cache ?? 0) - (spend0.saved_by?.response_cache ?? 0);
    assert.equal(savedRc.toFixed(6), (usdOf(cached, PRICE) + usdOf(all, PRICE)).toFixed(6));
    assert.equal(s.requests - spend0.requests, 3);
  });

  test('dimensions are part of the key; the encoding is not; bypass skips the cache', async () => {
    const text = 'dimensions matter here';
    await embed({ model: 'emb', input: text, dimensions: 3, encoding_format: 'float' });
    await embed({ model: 'emb', input: text, dimensions: 4, encoding_format: 'float' });
    assert.equal(rec.requests.length, 2, 'another size is another vector');
    const b = await embed({ model: 'emb', input: text, dimensions: 4, encoding_format: 'base64' });
    assert.equal(rec.requests.length, 2, 'the same vector in another encoding is a hit');
    assert.equal(b.h.get('x-frugal-cache'), 'hit');
    assert.deepEqual(fromB64(b.r.data[0].embedding), vectorOf(text, 4));
    const by = await embed({ model: 'emb', input: text, dimensions: 4 }, { headers: { 'x-frugal-cache': 'bypass' } });
    assert.equal(rec.requests.length, 3);
    assert.equal(by.h.get('x-frugal-cache'), 'bypass');
    // token-array inputs are keyed by their ids
    const ids = await embed({ model: 'emb', input: [[1, 2, 3], [4, 5]], encoding_format: 'float' });
    assert.equal(ids.r.usage.prompt_tokens, 5);
    const idsAgain = await embed({ model: 'emb', input: [[4, 5], [1, 2, 3], [6]], encoding_format: 'float' });
    assert.equal(rec.requests.length, 5);
    assert.deepEqual(rec.last().json.input, [[6]]);
    assert.equal(idsAgain.h.get('x-frugal-cache-hits'), '2/3');
    assert.equal(idsAgain.r.usage.prompt_tokens, 6, 'token-array counts are exact');
    assert.deepEqual(idsAgain.r.data[0].embedding, vectorOf('4 5', 6));
  });
});

describe('embeddings: models, keys and budgets', () => {
  test('a chat model, a route or an Anthropic model asked for embeddings: 400 naming it; an embedding model for chat: 400', async () => {
    for (const model of ['gpt-4o-mini', 'auto', 'claude-haiku-4-5']) {
      const e = await rejectsWith(client().embeddings.create({ model, input: 'x' }), OpenAI.BadRequestError, model);
      assert.equal(e.status, 400);
      assert.equal(e.param, 'model');
      assert.match(e.message, new RegExp(`'${model}'`));
    }
    const e = await rejectsWith(
      client().chat.completions.create({ model: 'emb', messages: [{ role: 'user', content: 'hi' }] }),
      OpenAI.BadRequestError,
    );
    assert.match(e.message, /'emb' is an embedding model.*\/v1\/embeddings/);
    const bad = await call(fr, '/v1/embeddings', { body: { model: 'emb', input: [] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'input');
    assert.equal(rec.requests.length, 0, 'nothing reached the provider');
  });

  test('a budgeted key: embeddings held to the budget (worst case = the input estimate)', async () => {
    const k = await call(fr, '/frugal/keys', { body: { name: 'emb-budget', budget: '0.001/day' } });
    assert.equal(k.status, 201, k.text);
    const kc = openai(fr, { apiKey: k.json.key });
    // small: fits; each call spends real money on the recorded model
    const small = await kc.embeddings.create({ model: 'emb', input: 'a small input', encoding_format: 'float' }, {
      headers: { 'x-frugal-cache': 'bypass' },
    });
    assert.equal(small.data.length, 1);
    // 60 000 bytes ≈ 15 000 tokens × $2/1M = $0.03: far over a $0.001 budget
    const big = 'x'.repeat(60000);
    const e = await rejectsWith(kc.embeddings.create({ model: 'emb', input: big }), OpenAI.RateLimitError);
    assert.equal(e.code, 'budget_exceeded');
    assert.match(e.message, /budget of key 'emb-budget'/);
    assert.equal(rec.requests.length, 1, 'the refused call never reached the provider');
    // the allow-list applies too
    const chatOnly = await call(fr, '/frugal/keys', { body: { name: 'emb-chat-only', models: ['gpt-4o-mini'] } });
    const e403 = await rejectsWith(openai(fr, { apiKey: chatOnly.json.key }).embeddings.create({ model: 'emb', input: 'x' }),
      OpenAI.PermissionDeniedError);
    assert.equal(e403.code, 'model_not_allowed');
    assert.equal(rec.requests.length, 1);
  });
});

describe('embeddings: failures', () => {
  test('a failing provider: the error reaches the client; never another model\'s vectors (no fallback)', async () => {
    rec.behave = (e) => (e.json?.model === 'embed-a'
      ? { status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } }
      : upstreamEmbeddings(e));
    const e = await rejectsWith(client().embeddings.create({ model: 'emb-a', input: 'x', encoding_format: 'float' }),
      OpenAI.InternalServerError);
    assert.equal(e.status, 503);
    assert.deepEqual(rec.requests.map((r) => r.json.model), ['embed-a'], 'emb-b was not asked');
  });

  test('a provider answer with the wrong number of vectors: 502, nothing cached', async () => {
    rec.behave = () => ({ body: { object: 'list', data: [], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } } });
    const e = await rejectsWith(client().embeddings.create({ model: 'emb', input: ['never cached'] }), OpenAI.APIError);
    assert.equal(e.status, 502);
    assert.match(e.message, /malformed embeddings response/);
    rec.behave = (x) => upstreamEmbeddings(x);
    await client().embeddings.create({ model: 'emb', input: ['never cached'] });
    assert.equal(rec.requests.length, 2, 'the bad answer was not cached');
  });
});

describe('embeddings: the built-in simulated provider', () => {
  test('sim: deterministic vectors of the asked size, usage, builtin price of text-embedding-3-small', async () => {
    const input = Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(4000, 'z'));
    const { r, h } = await embed({ model: 'text-embedding-3-small', input, dimensions: 8, encoding_format: 'float' },
      { headers: { 'x-frugal-cache': 'bypass' } });
    assert.equal(r.data.length, 50);
    assert.ok(r.data.every((d, i) => d.index === i && d.embedding.length === 8));
    assert.equal(r.usage.prompt_tokens, 50 * 1000);
    // 50 000 tokens × $0.02 / 1M
    assert.equal(h.get('x-frugal-cost-usd'), '0.001000');
    const norm = Math.hypot(...r.data[0].embedding);
    assert.ok(Math.abs(norm - 1) < 1e-5, `unit vector (${norm})`);
    const again = await embed({ model: 'text-embedding-3-small', input: input[0], dimensions: 8, encoding_format: 'base64' },
      { headers: { 'x-frugal-cache': 'bypass' } });
    assert.deepEqual(fromB64(again.r.data[0].embedding), r.data[0].embedding.map((x) => Math.fround(x)));
    const full = await embed({ model: 'text-embedding-3-small', input: 'default size' });
    assert.equal(full.r.data[0].embedding.length, 1536);
  });
});

describe('embeddings in a batch', () => {
  for (const mode of ['provider', 'local']) {
    test(`${mode} mode: lines targeting /v1/embeddings run, answer in order, priced as ${mode === 'provider' ? 'batch' : 'real-time'}`, async () => {
      const bdir = tempDir('frugal-embed-batch-');
      const db = join(bdir, 'frugal.db');
      const bfr = await startFrugal({
        name: `frugal-embed-batch-${mode}`,
        cwd: bdir,
        config: {
          storage: `sqlite:${db}`,
          providers: [{ name: 'sim', type: 'sim', batch: mode }],
          models: [{ name: 'text-embedding-3-small', provider: 'sim' }, { name: 'gpt-4o-mini', provider: 'sim' }],
          batches: { poll_ms: 50, poll_max_ms: 200 },
        },
      });
      try {
        const c = openai(bfr);
        const text = (i) => `${i}`.padEnd(4000, 'q');   // 1000 tokens each
        const lines = [0, 1, 2].map((i) => ({
          custom_id: `e-${i}`, method: 'POST', url: '/v1/embeddings',
          body: { model: 'text-embedding-3-small', input: [text(i), text(i + 10)], dimensions: 4, encoding_format: 'float' },
        }));
        const file = await c.files.create({
          file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'), 'e.jsonl'),
          purpose: 'batch',
        });
        // a chat line in an embeddings batch is refused up front
        const mixed = await c.files.create({
          file: await toFile(Buffer.from(JSON.stringify({ custom_id: 'c-1', method: 'POST', url: '/v1/chat/completions',
            body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } }) + '\n'), 'm.jsonl'),
          purpose: 'batch',
        });
        const bad = await rejectsWith(c.batches.create({ input_file_id: mixed.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
          OpenAI.BadRequestError);
        assert.match(bad.message, /"url" must be the batch's endpoint/);
        const b0 = await c.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
        assert.equal(b0.endpoint, '/v1/embeddings');
        const b = await waitFor(async () => {
          const x = await c.batches.retrieve(b0.id);
          return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
        }, { timeoutMs: 20000, stepMs: 50, what: 'embeddings batch' });
        assert.equal(b.status, 'completed', JSON.stringify(b));
        assert.equal(b.request_counts.completed, 3);
        const out = (await (await c.files.content(b.output_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
        assert.deepEqual(out.map((o) => o.custom_id).sort(), ['e-0', 'e-1', 'e-2']);
        for (const o of out) {
          assert.equal(o.response.status_code, 200);
          const body = o.response.body;
          assert.equal(body.data.length, 2);
          assert.deepEqual(body.data.map((d) => d.index), [0, 1]);
          assert.ok(body.data.every((d) => d.embedding.length === 4));
          assert.equal(body.usage.prompt_tokens, 2000);
        }
        // the CLI submits an embeddings file as an embeddings batch
        const { writeFileSync } = await import('node:fs');
        const cliFile = join(bdir, 'cli.jsonl');
        writeFileSync(cliFile, JSON.stringify(lines[0]) + '\n');
        const sub = await runFrugal(['batch', 'submit', cliFile, '--wait', '--url', bfr.url]);
        assert.equal(sub.code, 0, sub.stderr);
        assert.match(sub.stdout, /completed\s+1\/1 done/);
        // the same vectors as a real-time call
        const rt = await c.embeddings.create({ model: 'text-embedding-3-small', input: text(0), dimensions: 4, encoding_format: 'float' });
        const e0 = out.find((o) => o.custom_id === 'e-0').response.body.data[0].embedding;
        assert.deepEqual(rt.data[0].embedding.map(Math.fround), e0.map(Math.fround));
        // ledger: one row per line, 2000 tokens each; provider batches at half price
        await waitFor(() => {
          const n = execFileSync('sqlite3', [db, `SELECT COUNT(*) FROM calls WHERE batch_id = '${b0.id}'`]).toString();
          return Number(n) === 3;
        }, { timeoutMs: 10000, what: 'batch ledger rows' });
        const rows = JSON.parse(execFileSync('sqlite3', ['-json', db,
          `SELECT cost_pico, baseline_pico, input_tokens, status FROM calls WHERE batch_id = '${b0.id}'`]).toString());
        for (const r of rows) {
          assert.equal(r.status, 200);
          assert.equal(r.input_tokens, 2000);
          // 2000 tokens × $0.02/1M = 40 000 000 pico real-time, half in a provider batch
          assert.equal(r.cost_pico, mode === 'provider' ? 20000000 : 40000000);
          assert.equal(r.baseline_pico, 40000000);
        }
      } finally {
        await bfr.stop();
      }
    });
  }
});
