// zz_redaction.test.mjs — runs last (files run in name order).  No key ever
// reaches a log line or an error message.
//
// First a scenario of its own that gives frugal every chance to leak:
// recognisable provider keys (key-shaped and not), a master key, wrong and
// right client keys, keys in model names, query strings, a provider base_url
// with a key parameter (logged at startup), and a provider whose error
// bodies echo the provider key back.  The recorder must have received the
// provider keys (so the checks below are not vacuous), and the errors the
// clients got must show [REDACTED] where the keys were.
//
// Then the suite-wide check: every daemon and command of the whole e2e run
// wrote its stderr to test/e2e/.logs/ and every key the tests handed frugal
// is listed there (lib/frugal.mjs); none of those keys may appear in any of
// those logs, nor in this scenario's ledger database.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  LOG_DIR,
  OpenAI,
  anthropic,
  call,
  noteSecrets,
  openai,
  rejectsWith,
  startFrugal,
  tempDir,
  test,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const PROVIDER_OA = 'sk-test-PROVIDERSECRET-oa-3f9d1c7b20e4';
const PROVIDER_AN = 'sk-ant-test-PROVIDERSECRET-an-91aa0c6e';
const PROVIDER_PLAIN = 'plainPROVIDERSECRETnotkeyshaped4417'; // caught only as a registered key
const URL_KEY = 'URLSECRET-in-base-url-55c2e1';
const MASTER = 'fk-test-MASTERSECRET-0b7e2d9c41';
const CLIENT_WRONG = 'sk-test-CLIENTSECRET-wrong-6d0e';
const CLIENT_IN_MODEL = 'sk-test-CLIENTSECRET-model-a11f';
const CLIENT_IN_QUERY = 'CLIENTSECRET-query-77e0b';
const user = (text) => [{ role: 'user', content: text }];

let rec;
let fr;
let stopped;
const dir = tempDir('frugal-redaction-');

before(async () => {
  rec = await startRecorder();
  noteSecrets(PROVIDER_OA, PROVIDER_AN, PROVIDER_PLAIN, URL_KEY, MASTER, CLIENT_WRONG,
    CLIENT_IN_MODEL, CLIENT_IN_QUERY);
  fr = await startFrugal({
    name: 'frugal-redaction',
    cwd: dir,
    config: {
      server: { master_key: MASTER, log_level: 'debug', upstream_retries: 1 },
      storage: 'sqlite:ledger.db',
      providers: [
        { name: 'oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: PROVIDER_OA },
        { name: 'an', type: 'anthropic', base_url: rec.url, api_key: PROVIDER_AN },
        { name: 'plain', type: 'openai', base_url: `${rec.url}/v1`, api_key: PROVIDER_PLAIN },
        // never called; logged at startup with its URL
        { name: 'keyed-url', type: 'openai', base_url: `${rec.url}/v1?api_key=${URL_KEY}` },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'oa' },
        { name: 'claude-haiku-4-5', provider: 'an' },
        { name: 'plain-gpt', provider: 'plain' },
      ],
    },
  });
});

after(async () => {
  if (!stopped) await fr?.stop();
  await rec?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const echoKey = (key) => ({
  status: 401,
  body: { error: { message: `Incorrect API key provided: ${key}. Also tried Bearer ${key}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
});

describe('secrets stay out of logs and error messages', () => {
  test('a scenario built to leak: errors show [REDACTED], the provider got its keys', async () => {
    // a wrong client key, in both headers
    let r = await call(fr, '/v1/chat/completions', { key: CLIENT_WRONG, body: { model: 'gpt-4o-mini', messages: user('hi') } });
    assert.equal(r.status, 401);
    r = await call(fr, '/v1/messages', {
      key: null,
      headers: { 'x-api-key': CLIENT_WRONG, 'anthropic-version': '2023-06-01' },
      body: { model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') },
    });
    assert.equal(r.status, 401);
    assert.ok(!r.text.includes(CLIENT_WRONG));

    // a key as the model name, echoed by the 404
    const nf = await rejectsWith(
      openai(fr).chat.completions.create({ model: CLIENT_IN_MODEL, messages: user('hi') }),
      OpenAI.NotFoundError,
    );
    assert.ok(!nf.message.includes(CLIENT_IN_MODEL), nf.message);
    assert.match(nf.message, /\[REDACTED\]/);

    // a key parameter inside a value spend echoes in its error
    r = await call(fr, `/frugal/spend?since=api_key=${CLIENT_IN_QUERY}&key=${CLIENT_IN_QUERY}`, { method: 'GET' });
    assert.equal(r.status, 400);
    assert.ok(!r.text.includes(CLIENT_IN_QUERY), r.text);
    assert.match(r.json.error.message, /'api_key=\[REDACTED\]'/);

    // real calls: the provider receives its key
    await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') });
    await anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: user('hi') });
    await openai(fr).chat.completions.create({ model: 'plain-gpt', messages: user('hi') });
    const seen = rec.everything();
    for (const k of [PROVIDER_OA, PROVIDER_AN, PROVIDER_PLAIN]) assert.ok(seen.includes(k), `upstream never got ${k}`);
    assert.ok(!seen.includes(MASTER), 'the master key went upstream');

    // providers that echo their key in an error body: relayed redacted
    for (const [model, key] of [['gpt-4o-mini', PROVIDER_OA], ['plain-gpt', PROVIDER_PLAIN]]) {
      rec.queue(echoKey(key));
      const e = await rejectsWith(openai(fr).chat.completions.create({ model, messages: user('hi') }), OpenAI.AuthenticationError);
      assert.ok(!e.message.includes(key), e.message);
      assert.match(e.message, /Incorrect API key provided: \[REDACTED\]\. Also tried Bearer \[REDACTED\]\./);
    }
    // translated (OpenAI client, Anthropic provider) and non-JSON 5xx bodies too
    rec.queue({ status: 401, body: { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key: ${PROVIDER_AN}` } } });
    const t = await rejectsWith(
      openai(fr).chat.completions.create({ model: 'claude-haiku-4-5', messages: user('hi') }),
      OpenAI.AuthenticationError,
    );
    assert.ok(!t.message.includes(PROVIDER_AN), t.message);
    rec.queue({ status: 500, body: `upstream auth failed for ${PROVIDER_OA}` }, { status: 500, body: `still ${PROVIDER_OA}` });
    const five = await rejectsWith(
      openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') }),
      OpenAI.InternalServerError,
    );
    assert.ok(!five.message.includes(PROVIDER_OA), five.message);

    // the startup line names the keyed URL, with its key redacted
    assert.match(fr.stderr(), /provider keyed-url \(openai\) at http:\/\/127\.0\.0\.1:\d+\/v1\?api_key=\[REDACTED\]/);
    await fr.stop();
    stopped = true;
    // the ledger keeps error messages: redacted as well
    for (const f of ['ledger.db', 'ledger.db-wal']) {
      const p = join(dir, f);
      if (!existsSync(p)) continue;
      const db = readFileSync(p).toString('latin1');
      for (const k of [PROVIDER_OA, PROVIDER_AN, PROVIDER_PLAIN, MASTER, CLIENT_IN_MODEL])
        assert.ok(!db.includes(k), `${k} stored in ${f}`);
    }
  });

  test('no key any test of the suite used appears in any daemon\'s log', () => {
    const files = readdirSync(LOG_DIR);
    const secrets = new Set();
    for (const f of files.filter((x) => x.endsWith('.secrets')))
      for (const line of readFileSync(join(LOG_DIR, f), 'utf8').split('\n')) if (line) secrets.add(line);
    const logs = files.filter((x) => x.endsWith('.log'));
    assert.ok(secrets.size >= 8, `only ${secrets.size} keys listed`);
    assert.ok(logs.length >= 1, 'no logs collected');
    const own = logs.filter((x) => x.startsWith(`${process.pid}-`) && x.includes('frugal-redaction'));
    assert.ok(own.length === 1 && readFileSync(join(LOG_DIR, own[0]), 'utf8').includes('[REDACTED]'),
      'this file\'s own daemon log must be collected, with redactions in it');
    const leaks = [];
    let bytes = 0;
    for (const f of logs) {
      const text = readFileSync(join(LOG_DIR, f), 'utf8');
      bytes += text.length;
      for (const k of secrets) {
        const at = text.indexOf(k);
        if (at >= 0) leaks.push(`${f}: ${k}: …${text.slice(Math.max(0, at - 80), at + k.length + 20)}…`);
      }
    }
    assert.deepEqual(leaks, [], `keys found in logs:\n${leaks.join('\n')}`);
    process.stdout.write(`# checked ${secrets.size} keys against ${logs.length} logs (${bytes} bytes)\n`);
  });
});
