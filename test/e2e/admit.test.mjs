// admit.test.mjs — budgets that cannot be talked past: what a request
// says is read the way the provider will read it (duplicate member names
// refused, escaped names decoded, no control characters in the model),
// images and PDFs reserved at what the provider may bill for them, tag
// budgets charged only for tags the key itself carries, and expiry at the
// epoch meaning expired.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  runFrugal,
  startFrugal,
  tempDir,
  test,
  waitFor,
} from './lib/frugal.mjs';

const MASTER = 'fg-admit-master-5b1d';
const AN = { 'anthropic-version': '2023-06-01' };
const user = (text) => [{ role: 'user', content: text }];

const dir = tempDir('frugal-admit-');
const config = {
  server: { workers: 2, master_key: MASTER },
  storage: `sqlite:${join(dir, 'frugal.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
  ],
  tag_budgets: { 'team=search': '0.000001/day' },
};

let fr;

before(async () => {
  fr = await startFrugal({ name: 'frugal-admit', config, cwd: dir });
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function createKey(opts) {
  const r = await call(fr, '/frugal/keys', { body: opts });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/* A raw JSON body, exactly as written (the SDKs cannot send these). */
const raw = (key, path, text, headers = {}) => call(fr, path, { body: text, key, headers });

describe('field spelling', () => {
  test('a member name sent twice, anywhere, is a 400 naming its path, in both dialects', async () => {
    const k = await createKey({ name: 'dup', budget: '0.0003/day' });
    const msgs = '"messages":[{"role":"user","content":"hi"}]';
    // the budget bypass: n=1 reserved, n=128 billed by a last-key provider
    let r = await raw(k.key, '/v1/chat/completions',
      `{"model":"gpt-4o-mini","max_tokens":100,"n":1,"n":128,${msgs}}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(r.json.error.code, 'duplicate_key');
    assert.equal(r.json.error.param, 'n');
    assert.match(r.json.error.message, /'n' appears more than once/);
    // the second spelling decodes to the same name
    r = await raw(k.key, '/v1/chat/completions',
      `{"model":"gpt-4o-mini","max_tokens":100,"n":1,"\\u006e":128,${msgs}}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, 'n');
    // nested: a content part with two texts
    r = await raw(k.key, '/v1/chat/completions',
      '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":' +
      '[{"type":"text","text":"a"},{"type":"text","text":"b","te\\u0078t":"c"}]}]}');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, 'messages[0].content[1].text');
    // Anthropic: messages and count_tokens, in Anthropic's error shape
    for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
      r = await raw(k.key, path,
        `{"model":"claude-haiku-4-5","max_tokens":1,"max_tokens":64000,${msgs}}`, AN);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.json.type, 'error');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.match(r.json.error.message, /'max_tokens' appears more than once/);
    }
  });

  test('an escaped member name is read decoded: "\\u006e":128 is reserved as 128 choices', async () => {
    const k = await createKey({ name: 'escaped-n', budget: '0.0003/day' });
    const body = (n) => `{"model":"gpt-4o-mini","max_tokens":100,${n},` +
      '"messages":[{"role":"user","content":"hi"}]}';
    // one choice fits the budget
    let r = await raw(k.key, '/v1/chat/completions', body('"n":1'));
    assert.equal(r.status, 200, r.text);
    // 128 choices of 100 tokens do not, however "n" is spelled
    for (const n of ['"\\u006e":128', '"n":128']) {
      r = await raw(k.key, '/v1/chat/completions', body(n));
      assert.equal(r.status, 429, `${n}: ${r.text}`);
      assert.equal(r.json.error.code, 'budget_exceeded');
    }
    // Anthropic's max_tokens spelled with an escape is read as written too
    r = await raw(k.key, '/v1/messages',
      '{"model":"claude-haiku-4-5","max_tok\\u0065ns":60000,"messages":[{"role":"user","content":"hi"}]}', AN);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.type, 'rate_limit_error');
  });

  test('a control character in the model is a 400, not a priced prefix', async () => {
    const k = await createKey({ name: 'nul-model', budget: '1/day' });
    for (const m of ['gpt-4o-mini\\u0000evil', 'gpt-4o-mini\\nx', 'gpt-4o-mini\\u007f']) {
      const r = await raw(k.key, '/v1/chat/completions',
        `{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`);
      assert.equal(r.status, 400, `${m}: ${r.text}`);
      assert.equal(r.json.error.param, 'model');
      assert.match(r.json.error.message, /control character/);
    }
    const r = await raw(k.key, '/v1/messages',
      '{"model":"claude-haiku-4-5\\u0000x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}', AN);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
  });
});
