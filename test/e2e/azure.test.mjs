// azure.test.mjs — Azure OpenAI as a provider (issue 23): `type:
// azure_openai` with `api_version` and per-model `deployment` names, frugal
// calling the standalone simulated provider playing Azure (deployments in
// the URL, the `api-key` header and an api-version required on every URL,
// content filtering on #sim:content_filter / #sim:prompt_filter), through
// the OpenAI SDK and the Anthropic SDK (translated), streaming and not,
// embeddings and a batch; and clients using the openai SDK's AzureOpenAI
// client pointed at frugal (Azure-shaped inbound URLs, the api-key header).
// A filtered answer reaches the client as Azure sent it and its ledger
// record says content_filter, never an empty success.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { AzureOpenAI, toFile } from 'openai';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  noteSecrets,
  openai,
  rejectsWith,
  startFrugal,
  startSim,
  tempDir,
  test,
  waitFor,
} from './lib/frugal.mjs';

const MASTER = 'sk-master-azure-e2e';
const AZ_KEY = 'sk-azure-resource-key';
const API_VERSION = '2024-10-21';
noteSecrets(MASTER, AZ_KEY);

describe('Azure OpenAI provider (simulated Azure)', () => {
  let sim, fr, dir;
  before(async () => {
    sim = await startSim({ name: 'sim-azure' });
    dir = tempDir();
    fr = await startFrugal({
      name: 'frugal-azure',
      cwd: dir,
      config: {
        server: { master_key: MASTER },
        storage: `sqlite:${join(dir, 'ledger.db')}`,
        providers: [
          { name: 'az', type: 'azure_openai', base_url: sim.url, api_key: AZ_KEY, api_version: API_VERSION, batch: 'provider' },
        ],
        models: [
          // the deployment is named differently from the model: the URL
          // must carry the deployment, the price comes from the model
          { name: 'gpt-4o-mini', provider: 'az', deployment: 'team-mini' },
          { name: 'text-embedding-3-small', provider: 'az', deployment: 'team-embed' },
        ],
        response_cache: { enabled: false },
        batches: { poll_ms: 50, poll_max_ms: 200 },
      },
    });
    fr.masterKey = MASTER;
  });
  after(async () => {
    await fr?.stop();
    await sim?.stop();
  });

  /* The ledger row of the call whose x-frugal-request-id is id (records
   * are written off the request path: wait for it). */
  async function row(id) {
    assert.ok(id, 'the answer carried x-frugal-request-id');
    return waitFor(() => {
      const out = execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
        `SELECT endpoint, model, upstream_model, provider, stream, status, input_tokens, output_tokens,
                priced, cost_pico, error FROM calls WHERE id = '${id}'`], { encoding: 'utf8' });
      const rows = JSON.parse(out || '[]');
      assert.ok(rows.length <= 1, `one ledger row for ${id}`);
      return rows[0] ?? null;
    }, { timeoutMs: 10000, stepMs: 50, what: `the ledger row of ${id}` });
  }
  const chat = (content, extra = {}) => ({
    model: 'gpt-4o-mini', max_tokens: 40, messages: [{ role: 'user', content }], ...extra,
  });
  const FILTERED = /^content_filter: /;

  test('the sim plays Azure: api-key required (a bearer token is refused), api-version required', async () => {
    const url = `${sim.url}/openai/deployments/team-mini/chat/completions`;
    const body = JSON.stringify(chat('hello'));
    const bearer = await fetch(`${url}?api-version=${API_VERSION}`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${AZ_KEY}` },
    });
    assert.equal(bearer.status, 401);
    assert.equal((await bearer.json()).error.code, '401');
    const noVersion = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'api-key': AZ_KEY } });
    assert.equal(noVersion.status, 404);
    const ok = await fetch(`${url}?api-version=${API_VERSION}`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', 'api-key': AZ_KEY },
    });
    assert.equal(ok.status, 200);
    const j = await ok.json();
    assert.equal(j.model, 'team-mini', 'the deployment in the URL is the model');
    assert.ok(j.prompt_filter_results && j.choices[0].content_filter_results);
  });

  test('OpenAI SDK, not streamed: answered through the deployment URL, usage and price recorded', async () => {
    const { data, response } = await openai(fr).chat.completions.create(chat('Say hello from Azure')).withResponse();
    assert.equal(data.model, 'team-mini', 'the sim saw the deployment name');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.match(data.choices[0].message.content, /Simulated reply/);
    assert.equal(data.prompt_filter_results[0].content_filter_results.violence.filtered, false,
      'Azure\'s annotations reach the client as sent');
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.model, r.upstream_model, r.provider, r.status, r.error],
      ['chat', 'gpt-4o-mini', 'gpt-4o-mini', 'az', 200, null]);
    assert.deepEqual([r.input_tokens, r.output_tokens], [data.usage.prompt_tokens, data.usage.completion_tokens]);
    assert.equal(r.priced, 1, 'priced from the model, not the deployment name');
    assert.ok(BigInt(r.cost_pico) > 0n);
  });

  test('OpenAI SDK, streamed: Azure\'s empty-choices first chunk passes; usage recorded', async () => {
    const { data: stream, response } = await openai(fr).chat.completions.create(chat('Stream from Azure', { stream: true })).withResponse();
    let text = '', finish = null, sawPromptResults = false;
    for await (const ch of stream) {
      if (ch.prompt_filter_results) sawPromptResults = true;
      text += ch.choices[0]?.delta?.content ?? '';
      finish = ch.choices[0]?.finish_reason ?? finish;
      assert.equal(ch.usage ?? null, null, 'the usage chunk frugal asked for is not relayed');
    }
    assert.ok(sawPromptResults, 'the prompt_filter_results chunk reached the client');
    assert.match(text, /Simulated reply/);
    assert.equal(finish, 'stop');
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.stream, r.status, r.error], [1, 200, null]);
    assert.ok(r.input_tokens > 0 && r.output_tokens > 0, 'usage read from the stream');
  });

  test('content filter, not streamed: finish_reason content_filter as Azure sent it; recorded as content_filter', async () => {
    const { data, response } = await openai(fr).chat.completions.create(chat('tell me #sim:content_filter')).withResponse();
    assert.equal(data.choices[0].finish_reason, 'content_filter');
    assert.equal(data.choices[0].content_filter_results.violence.filtered, true);
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.equal(r.status, 200);
    assert.match(r.error ?? '', FILTERED, 'not an empty success');
    assert.ok(r.output_tokens > 0 && BigInt(r.cost_pico) > 0n, 'what Azure generated is still billed');
    const id = response.headers.get('x-frugal-request-id');
    const calls = await call(fr, '/frugal/calls?limit=50', { method: 'GET' });
    const seen = calls.json.data.find((x) => x.id === id);
    assert.ok(seen, 'the call is in /frugal/calls');
    assert.equal(seen.status, 200);
    assert.match(seen.error ?? '', FILTERED, 'the dashboard\'s live view shows it filtered');
  });

  test('content filter, streamed: the filtered finish reaches the client; recorded as content_filter', async () => {
    const { data: stream, response } = await openai(fr).chat.completions.create(
      chat('stream it #sim:content_filter', { stream: true })).withResponse();
    let finish = null, results = null;
    for await (const ch of stream) {
      if (ch.choices[0]?.finish_reason) {
        finish = ch.choices[0].finish_reason;
        results = ch.choices[0].content_filter_results;
      }
    }
    assert.equal(finish, 'content_filter');
    assert.equal(results?.violence?.filtered, true);
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.stream, r.status], [1, 200]);
    assert.match(r.error ?? '', FILTERED);
  });

  test('prompt filtered: Azure\'s 400 content_filter error reaches the client as sent; recorded as content_filter', async () => {
    const err = await rejectsWith(openai(fr).chat.completions.create(chat('bad prompt #sim:prompt_filter')), OpenAI.BadRequestError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'content_filter');
    assert.equal(err.param, 'prompt');
    assert.equal(err.error.innererror.code, 'ResponsibleAIPolicyViolation');
    let r = await row(err.headers.get('x-frugal-request-id'));
    assert.equal(r.status, 400);
    assert.match(r.error ?? '', FILTERED);
    // asked to stream: Azure still refuses with the JSON error
    const serr = await rejectsWith(openai(fr).chat.completions.create(chat('bad #sim:prompt_filter', { stream: true })),
      OpenAI.BadRequestError);
    assert.equal(serr.code, 'content_filter');
    r = await row(serr.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.stream, r.status], [1, 400]);
    assert.match(r.error ?? '', FILTERED);
  });

  test('Anthropic SDK, translated to the Azure deployment: answer, stream, and a filtered answer as a refusal', async () => {
    const an = anthropic(fr);
    const { data: msg, response } = await an.messages.create({
      model: 'gpt-4o-mini', max_tokens: 40, messages: [{ role: 'user', content: 'hello via anthropic' }],
    }).withResponse();
    assert.equal(msg.stop_reason, 'end_turn');
    assert.match(msg.content[0].text, /Simulated reply from team-mini/);
    let r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.status, r.error], ['messages', 200, null]);
    assert.equal(msg.usage.output_tokens, r.output_tokens);

    const stream = an.messages.stream({
      model: 'gpt-4o-mini', max_tokens: 40, messages: [{ role: 'user', content: 'stream via anthropic #sim:content_filter' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'refusal', 'content_filter is Anthropic\'s refusal');
    r = await row((await stream.withResponse()).response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.stream, r.status], ['messages', 1, 200]);
    assert.match(r.error ?? '', FILTERED);

    const err = await rejectsWith(an.messages.create({
      model: 'gpt-4o-mini', max_tokens: 40, messages: [{ role: 'user', content: 'bad #sim:prompt_filter' }],
    }), Anthropic.BadRequestError);
    assert.match(err.message, /content management policy/);
    r = await row(err.headers.get('x-frugal-request-id'));
    assert.equal(r.status, 400);
    assert.match(r.error ?? '', FILTERED);
  });

  test('Responses API on the Azure resource: created (body model = the deployment), streamed, retrieved', async () => {
    const oa = openai(fr);
    const { data: resp, response } = await oa.responses.create({ model: 'gpt-4o-mini', input: 'hello responses on azure' }).withResponse();
    assert.equal(resp.status, 'completed');
    assert.match(resp.output_text, /Simulated reply from team-mini/, 'the sim read the deployment from the body');
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.provider, r.status, r.error], ['responses', 'az', 200, null]);
    assert.equal(r.input_tokens, resp.usage.input_tokens);
    const got = await oa.responses.retrieve(resp.id);
    assert.equal(got.output_text, resp.output_text, 'retrieved through /openai/responses/{id}?api-version');
    const stream = await oa.responses.create({ model: 'gpt-4o-mini', input: 'stream responses on azure', stream: true });
    let done = null;
    for await (const ev of stream) if (ev.type === 'response.completed') done = ev.response;
    assert.match(done?.output_text ?? done?.output?.[0]?.content?.[0]?.text ?? '', /Simulated reply from team-mini/);
  });

  test('embeddings through the embedding deployment', async () => {
    const { data, response } = await openai(fr).embeddings.create({ model: 'text-embedding-3-small', input: 'azure vectors' }).withResponse();
    assert.equal(data.data.length, 1);
    assert.ok(data.data[0].embedding.length > 0);
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.provider, r.status, r.error], ['embeddings', 'az', 200, null]);
    assert.ok(r.input_tokens > 0);
  });

  test('a client using AzureOpenAI pointed at frugal: deployment URL names the model, api-key carries the key', async () => {
    const az = new AzureOpenAI({
      endpoint: fr.url, apiKey: MASTER, apiVersion: API_VERSION, deployment: 'gpt-4o-mini', maxRetries: 0, timeout: 30000,
    });
    const { data, response } = await az.chat.completions.create(chat('hello from an Azure client')).withResponse();
    assert.match(data.choices[0].message.content, /Simulated reply from team-mini/);
    let r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.endpoint, r.model, r.status], ['chat', 'gpt-4o-mini', 200]);

    const s = await az.chat.completions.create(chat('azure client stream #sim:content_filter', { stream: true }));
    let finish = null;
    for await (const ch of s) finish = ch.choices[0]?.finish_reason ?? finish;
    assert.equal(finish, 'content_filter');

    const emb = new AzureOpenAI({ endpoint: fr.url, apiKey: MASTER, apiVersion: API_VERSION, maxRetries: 0 });
    const e = await emb.embeddings.create({ model: 'text-embedding-3-small', input: 'from an azure client' });
    assert.ok(e.data[0].embedding.length > 0);

    const wrong = new AzureOpenAI({ endpoint: fr.url, apiKey: 'sk-not-the-key', apiVersion: API_VERSION, maxRetries: 0 });
    await rejectsWith(wrong.chat.completions.create(chat('no')), OpenAI.AuthenticationError);
  });

  test('AzureOpenAI client with a large body (judged before it is read): known path, key in api-key', async () => {
    const az = new AzureOpenAI({ endpoint: fr.url, apiKey: MASTER, apiVersion: API_VERSION, maxRetries: 0, timeout: 30000 });
    const big = 'lorem ipsum '.repeat(12000); // ~144 KB: over the gate's small-body size
    const data = await az.chat.completions.create(chat(`${big} and a question`));
    assert.match(data.choices[0].message.content, /Simulated reply from team-mini/);
    const wrong = new AzureOpenAI({ endpoint: fr.url, apiKey: 'sk-not-the-key', apiVersion: API_VERSION, maxRetries: 0 });
    await rejectsWith(wrong.chat.completions.create(chat(big)), OpenAI.AuthenticationError);
  });

  test('Azure-shaped inbound: a body without a model takes the URL\'s; unknown paths are a clear 404', async () => {
    const h = { 'api-key': MASTER };
    const ok = await call(fr, `/openai/deployments/gpt-4o-mini/chat/completions?api-version=${API_VERSION}`, {
      headers: h, body: { messages: [{ role: 'user', content: 'no model in the body' }] }, key: null,
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.model, 'team-mini');
    const files = await call(fr, `/openai/files?api-version=${API_VERSION}`, { method: 'GET', headers: h, key: null });
    assert.equal(files.status, 404);
    assert.match(files.json.error.message, /Azure-shaped paths/);
    const bad = await call(fr, '/openai/deployments/a%2Fb/chat/completions', { headers: h, body: chat('x'), key: null });
    assert.equal(bad.status, 404);
  });

  test('a batch through the Azure resource\'s files and batches API, at the batch price', async () => {
    const c = openai(fr);
    const lines = ['one', 'two'].map((q) => JSON.stringify({
      custom_id: q, method: 'POST', url: '/v1/chat/completions', body: chat(`batch ${q}`),
    })).join('\n') + '\n';
    const f = await c.files.create({ file: await toFile(Buffer.from(lines), 'in.jsonl'), purpose: 'batch' });
    const b = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitFor(async () => {
      const x = await c.batches.retrieve(b.id);
      return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
    }, { timeoutMs: 20000, stepMs: 50, what: 'the batch to finish' });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.request_counts, { total: 2, completed: 2, failed: 0 });
    const out = (await (await c.files.content(done.output_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(out.length, 2);
    for (const l of out) {
      assert.equal(l.response.status_code, 200);
      assert.match(l.response.body.choices[0].message.content, /Simulated reply from team-mini/);
    }
    // the lines' records are committed with the batch's results
    const rows = await waitFor(() => {
      const got = JSON.parse(execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
        `SELECT provider, status, saved_batch_pico FROM calls WHERE batch_id = '${b.id}'`], { encoding: 'utf8' }) || '[]');
      return got.length === 2 ? got : null;
    }, { timeoutMs: 10000, what: 'the batch lines\' ledger records' });
    for (const r of rows) {
      assert.deepEqual([r.provider, r.status], ['az', 200]);
      assert.ok(BigInt(r.saved_batch_pico) > 0n, 'ran on the provider\'s batch API at its discount');
    }
  });
});
