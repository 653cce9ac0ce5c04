// openai_paths.test.mjs — every other OpenAI path under /v1/ (moderations,
// audio, images, ...) passed through to the provider of the named model and
// metered: a ledger row with the path, status, sizes and usage; priced where
// the price table knows the model; a budgeted key refused an unpriced path
// unless created with allow_unpriced; only plain paths to the configured
// provider base; no client credentials or hop-by-hop headers forwarded.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';

import { OpenAI, call, ledgerFlushed, openai, rejectsWith, runFrugal, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const MASTER = 'fg-paths-master-77ad';
const PROVIDER_KEY = 'sk-paths-provider-SECRET-91';
const dir = tempDir('frugal-paths-');
const db = join(dir, 'frugal.db');
let rec, fr;
let nrec = 0; // ledger records expected so far

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-paths',
    cwd: dir,
    config: {
      server: { master_key: MASTER, max_body_bytes: 262144 },
      storage: `sqlite:${db}`,
      providers: [
        { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: PROVIDER_KEY },
        { name: 'rec2', type: 'openai', base_url: `${rec.url}/two/v1`, api_key: PROVIDER_KEY },
        { name: 'sim', type: 'sim' },
      ],
      models: [
        { name: 'omni-moderation-latest', provider: 'sim' },
        { name: 'whisper-1', provider: 'rec2' },
        { name: 'gpt-4o-mini', provider: 'rec' },
        { name: 'claude-haiku-4-5', provider: 'sim' },
      ],
    },
  });
});

after(async () => {
  await fr?.stop();
  await rec?.stop();
});

beforeEach(() => rec.reset());

/* Ledger rows, newest first (the sqlite3 CLI, as batch.test.mjs does). */
function rows(where = '1=1') {
  const out = execFileSync('sqlite3', ['-json', db,
    `SELECT endpoint, status, model, provider, priced, cost_pico, input_tokens, output_tokens, ` +
    `request_bytes, response_bytes, key_id, error FROM calls WHERE ${where} ORDER BY ts_ms DESC, rowid DESC`]).toString();
  return out.trim() ? JSON.parse(out) : [];
}

async function createKey(opts) {
  const r = await call(fr, '/frugal/keys', { body: opts });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/* A raw HTTP request: the path exactly as given, any headers. */
function raw(method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: fr.port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(text); } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    r.on('error', reject);
    if (body) r.write(body);
    r.end();
  });
}

describe('passed through and metered', () => {
  test('a moderation call: the SDK gets the provider answer; one ledger row with path, status, sizes; priced at $0', async () => {
    const { data, response } = await openai(fr).moderations
      .create({ model: 'omni-moderation-latest', input: ['fine text', 'bad text #sim:flag'] })
      .withResponse();
    assert.equal(data.results.length, 2);
    assert.equal(data.results[0].flagged, false);
    assert.equal(data.results[1].flagged, true);
    assert.equal(response.headers.get('x-frugal-model'), 'omni-moderation-latest');
    assert.equal(response.headers.get('x-frugal-cost-usd'), '0.000000');
    await ledgerFlushed(fr, ++nrec);
    const [r] = rows("endpoint = '/v1/moderations'");
    assert.equal(r.status, 200);
    assert.equal(r.model, 'omni-moderation-latest');
    assert.equal(r.provider, 'sim');
    assert.equal(r.priced, 1);
    assert.equal(r.cost_pico, 0);
    assert.ok(r.request_bytes > 20 && r.response_bytes > 100, JSON.stringify(r));
    assert.equal(rec.requests.length, 0, 'the sim served it, not the default provider');
  });

  test('multipart upload: routed by the form field model; provider key swapped in; usage recorded', async () => {
    rec.behave = () => ({ body: { text: 'hello there', usage: { type: 'tokens', input_tokens: 42, output_tokens: 7 } } });
    const file = new File([Buffer.alloc(200000, 7)], 'a.wav', { type: 'audio/wav' });
    const t = await openai(fr).audio.transcriptions.create({ model: 'whisper-1', file });
    assert.equal(t.text, 'hello there');
    const got = rec.last();
    assert.equal(got.path, '/two/v1/audio/transcriptions', 'the provider of whisper-1');
    assert.match(got.headers['content-type'], /^multipart\/form-data; boundary=/);
    assert.equal(got.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.ok(got.raw.includes('name="model"') && got.raw.length > 200000, 'a body over the 64 KiB the edge judges at the head');
    await ledgerFlushed(fr, ++nrec);
    const [r] = rows("endpoint = '/v1/audio/transcriptions'");
    assert.equal(r.model, 'whisper-1');
    assert.equal(r.provider, 'rec2');
    assert.equal(r.input_tokens, 42);
    assert.equal(r.output_tokens, 7);
    assert.equal(r.priced, 0, 'whisper-1 has no token price: unpriced, never $0');
  });

  test('a model on an Anthropic-dialect provider or a route: 400; a provider error passes through with its status', async () => {
    const a = await call(fr, '/v1/images/generations', { body: { model: 'claude-haiku-4-5', prompt: 'x' } });
    assert.equal(a.status, 400);
    assert.match(a.json.error.message, /claude-haiku-4-5/);
    rec.behave = () => ({ status: 404, body: { error: { message: 'Invalid URL (POST /v1/nope)', type: 'invalid_request_error' } } });
    const n = await call(fr, '/v1/nope', { body: { model: 'gpt-4o-mini' } });
    assert.equal(n.status, 404);
    assert.match(n.json.error.message, /Invalid URL/);
    assert.equal(rec.last().path, '/v1/nope');
    nrec += 2;
  });
});

describe('budgets and unpriced paths', () => {
  test('a budgeted key: an unpriced path is refused with a 403 that says why; with allow_unpriced it works', async () => {
    const body = { model: 'dall-e-3', prompt: 'a cat', n: 1 };
    const tight = await createKey({ name: 'paths-budget', budget: '5/day' });
    const no = await call(fr, '/v1/images/generations', { key: tight.key, body });
    assert.equal(no.status, 403, no.text);
    assert.equal(no.json.error.code, 'model_unpriced');
    assert.match(no.json.error.message, /'dall-e-3' has no known price.*budget of key 'paths-budget'.*--allow-unpriced/);
    assert.equal(rec.requests.length, 0, 'nothing reached the provider');
    // modelless paths are unpriced too: no budget leaks through them
    const modelless = await call(fr, '/v1/vector_stores', { key: tight.key, method: 'GET' });
    assert.equal(modelless.status, 403, modelless.text);
    assert.equal(rec.requests.length, 0);

    const open = await createKey({ name: 'paths-open', budget: '5/day', allow_unpriced: true });
    assert.equal(open.allow_unpriced, true);
    rec.behave = () => ({ body: { created: 1, data: [{ url: 'https://example.invalid/cat.png' }] } });
    const yes = await call(fr, '/v1/images/generations', { key: open.key, body });
    assert.equal(yes.status, 200, yes.text);
    assert.equal(yes.json.data[0].url, 'https://example.invalid/cat.png');
    assert.equal(yes.headers.get('x-frugal-cost-usd'), 'unpriced');
    assert.equal(rec.last().path, '/v1/images/generations', 'an unlisted model: the first openai provider');
    assert.equal(rec.last().headers.authorization, `Bearer ${PROVIDER_KEY}`);
    nrec += 3;
    await ledgerFlushed(fr, nrec);
    const r = rows(`endpoint = '/v1/images/generations' AND key_id = '${open.id}'`);
    assert.equal(r.length, 1);
    assert.equal(r[0].priced, 0);
    assert.equal(r[0].status, 200);
  });

  test('the CLI: frugal keys create --allow-unpriced stores the option', async () => {
    const made = await runFrugal(['keys', 'create', '--name', 'cli-unpriced', '--budget', '1/day',
      '--allow-unpriced', '--json', '-c', fr.configFile], { cwd: dir });
    assert.equal(made.code, 0, made.stderr);
    const k = JSON.parse(made.stdout);
    assert.equal(k.allow_unpriced, true);
    const list = JSON.parse((await runFrugal(['keys', 'list', '--json', '-c', fr.configFile], { cwd: dir })).stdout);
    assert.equal(list.find((x) => x.id === k.id).allow_unpriced, true);
    assert.equal(list.find((x) => x.name === 'paths-budget').allow_unpriced, false);
  });
});

describe('an attacker at the edge', () => {
  test('traversal, encoded slashes and odd paths are refused before anything is sent', async () => {
    for (const path of ['/v1/../frugal/keys', '/v1/%2e%2e/frugal/keys', '/v1/a%2fb', '/v1/a/..', '/v1/./x',
      '/v1//x', '/v1/a\\b', '/v1/x/', '/v1/a%00b']) {
      const r = await raw('POST', path, { headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini"}' });
      assert.equal(r.status, 400, `${path}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, 'invalid_path', `${path}: ${r.text}`);
    }
    assert.equal(rec.requests.length, 0, 'nothing reached a provider');
  });

  test('hop-by-hop and credential headers are not forwarded; the client key never reaches the provider', async () => {
    const r = await raw('POST', '/v1/moderations?x=1', {
      headers: {
        authorization: `Bearer ${MASTER}`, 'content-type': 'application/json', te: 'trailers',
        'proxy-authorization': 'Basic c2VjcmV0', upgrade: 'h2c', cookie: 'session=1', 'x-api-key': 'nope',
        'openai-organization': 'org-client', 'openai-beta': 'assistants=v2', 'x-forwarded-for': '10.0.0.1',
      },
      body: JSON.stringify({ model: 'text-moderation-latest', input: 'x' }),
    });
    assert.equal(r.status, 200, r.text);
    const got = rec.last();
    assert.equal(got.url, '/v1/moderations?x=1');
    for (const h of ['te', 'proxy-authorization', 'upgrade', 'cookie', 'x-api-key', 'openai-organization', 'x-forwarded-for'])
      assert.equal(got.headers[h], undefined, `${h} was forwarded`);
    assert.equal(got.headers['openai-beta'], 'assistants=v2');
    assert.equal(got.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.ok(!rec.everything().includes(MASTER), 'the client key reached the provider');
    nrec += 1;
  });

  test('body over server.max_body_bytes: 413, nothing sent', async () => {
    const r = await call(fr, '/v1/moderations', { body: { model: 'text-moderation-latest', input: 'x'.repeat(270000) } });
    assert.equal(r.status, 413, r.text);
    assert.equal(rec.requests.length, 0);
  });

  test('an Anthropic client\'s unknown path is a 404 in its dialect, not sent to an OpenAI provider', async () => {
    const r = await call(fr, '/v1/complete', { body: { model: 'claude-haiku-4-5', prompt: 'x' }, headers: { 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.type, 'error');
    assert.equal(rec.requests.length, 0);
  });

  test('methods other than GET, POST, DELETE: 405', async () => {
    const r = await raw('PUT', '/v1/moderations', { headers: { authorization: `Bearer ${MASTER}` } });
    assert.equal(r.status, 405);
    assert.equal(rec.requests.length, 0);
  });
});
