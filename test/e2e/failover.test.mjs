// Provider failures before anything reaches the client: frugal retries with
// backoff (honouring retry-after), then moves to the model's fallbacks, and
// every attempt is in the ledger.
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFrugal, openai, call, test, freePort } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

describe('retries and fallbacks', () => {
  let fr, rec, deadPort;
  before(async () => {
    rec = await startRecorder();
    deadPort = await freePort();   // nothing listens there
    fr = await startFrugal({
      name: 'frugal-failover',
      config: {
        providers: [
          { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: 'sk-dead' },
          { name: 'sim', type: 'sim' },
        ],
        models: [
          { name: 'rec-gpt', provider: 'rec', model: 'gpt-4o-mini' },
          { name: 'gone-gpt', provider: 'dead', model: 'gpt-4o-mini' },
          { name: 'backup', provider: 'sim', model: 'gpt-4o' },
        ],
        fallbacks: { 'gone-gpt': ['backup'] },
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  const ask = (model) => openai(fr).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();

  test('a 503 is retried and the retry answers', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 503, body: { error: { message: 'busy', type: 'server_error', param: null, code: null } } });
    const { data, response } = await ask('rec-gpt');
    assert.ok(data.choices[0].message.content);
    assert.equal(rec.requests.length - n0, 2, 'one failed call, one retry');
    assert.equal(response.headers.get('x-frugal-route'), 'fixed');
  });

  test('retry-after is honoured', async () => {
    rec.queue({ status: 429, headers: { 'retry-after': '1' },
      body: { error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    const t0 = Date.now();
    await ask('rec-gpt');
    assert.ok(Date.now() - t0 >= 950, `answered after ${Date.now() - t0} ms, before retry-after`);
  });

  test('a 400 is the request\'s fault: not retried', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } } });
    await assert.rejects(ask('rec-gpt'), (e) => e.status === 400);
    assert.equal(rec.requests.length - n0, 1);
  });

  test('an unreachable provider falls back to the configured model', async () => {
    const { data, response } = await ask('gone-gpt');
    assert.match(data.choices[0].message.content, /gpt-4o/);
    assert.equal(response.headers.get('x-frugal-route'), 'fallback');
    assert.equal(response.headers.get('x-frugal-model'), 'backup');
    await new Promise((r) => setTimeout(r, 200));
    const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.ok(spend.errors >= 3, `failed attempts recorded: ${spend.errors}`);   // the first call + 2 retries
  });
});
