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
import { toFile } from 'openai';

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

  test('batch lines too: a member named twice is refused at upload and at batch creation', async () => {
    const body = '{"model":"gpt-4o-mini","max_tokens":5,"n":1,"n":128,"messages":[{"role":"user","content":"hi"}]}';
    const line = `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":${body}}\n`;
    const e = await rejectsWith(openai(fr, { maxRetries: 0 }).files.create({
      file: await toFile(Buffer.from(line), 'in.jsonl'), purpose: 'batch',
    }), OpenAI.BadRequestError, 'a duplicate in a batch line');
    assert.match(e.message, /line 1: not valid JSON \(duplicate object key/);
    const r = await raw(undefined, '/v1/messages/batches',
      `{"requests":[{"custom_id":"a","params":{"model":"claude-haiku-4-5","max_tokens":5,"max_tokens":64000,` +
      '"messages":[{"role":"user","content":"hi"}]}}]}', AN);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
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

describe('expiry at the epoch', () => {
  const chat = (key) => openai(fr, { apiKey: key, maxRetries: 0 }).chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi'),
  });

  test('admin API: expires "0" / 1970-01-01 is expired, not "never" (401 key_expired)', async () => {
    for (const expires of ['0', '1970-01-01', '1970-01-01T00:00:00Z']) {
      const k = await createKey({ name: `epoch-${expires}`, expires });
      assert.equal(k.status, 'expired', `${expires}: ${JSON.stringify(k)}`);
      assert.equal(k.expires_at, '1970-01-01T00:00:00Z');
      const e = await rejectsWith(chat(k.key), OpenAI.AuthenticationError, `expires ${expires}`);
      assert.equal(e.code, 'key_expired');
      assert.match(e.message, /expired at 1970-01-01T00:00:00Z/);
    }
    // a key without expires still never expires
    const k = await createKey({ name: 'no-expiry' });
    assert.equal(k.expires_at, null);
    assert.equal(k.status, 'active');
    await chat(k.key);
  });

  test('CLI: --expires 1970-01-01 makes an expired key; the daemon refuses it, also after a restart', async () => {
    const made = await runFrugal(['keys', 'create', '--name', 'cli-epoch', '--expires', '1970-01-01', '--json',
      '-c', fr.configFile], { cwd: dir });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /expires in the past/);
    const k = JSON.parse(made.stdout);
    assert.equal(k.status, 'expired');
    const list = JSON.parse((await runFrugal(['keys', 'list', '--json', '-c', fr.configFile], { cwd: dir })).stdout);
    assert.equal(list.find((x) => x.id === k.id).status, 'expired');
    const expired = async () => {
      const e = await chat(k.key).then(() => 'accepted', (err) => err);
      assert.notEqual(e, 'accepted', 'an epoch-expired key was accepted');
      return e.code === 'key_expired' ? e : null;   // unknown until the daemon reloads
    };
    const e = await waitFor(expired, { timeoutMs: 5000, what: '401 key_expired' });
    assert.ok(e instanceof OpenAI.AuthenticationError);
    await fr.stop();
    fr = await startFrugal({ name: 'frugal-admit', config, cwd: dir });
    const again = await rejectsWith(chat(k.key), OpenAI.AuthenticationError, 'after restart');
    assert.equal(again.code, 'key_expired');
  });
});

describe('tag budgets', () => {
  const body = { model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') };

  test('a header tag is recorded but never charged: another team cannot spend team=search', async () => {
    const other = await createKey({ name: 'other-team' });
    // the drain: any key naming the tag in x-frugal-tags used to spend its budget
    for (let i = 0; i < 3; i++) {
      const r = await call(fr, '/v1/chat/completions', {
        body, key: other.key, headers: { 'x-frugal-tags': 'team=search' },
      });
      assert.equal(r.status, 200, r.text);
    }
    // the tag's budget is untouched: its own key's first call still gets the
    // budget's own refusal (the budget is $0.000001, less than any call)
    const own = await createKey({ name: 'search-team', tags: 'team=search' });
    const e = await rejectsWith(openai(fr, { apiKey: own.key, maxRetries: 0 }).chat.completions.create(body),
      OpenAI.RateLimitError, 'the tag\'s own key');
    assert.equal(e.code, 'budget_exceeded');
    assert.match(e.message, /daily budget of tag 'team=search' is \$0\.000001; \$0\.000000 is spent/);
    // the master key labelling a call with the tag is charged
    const m = await call(fr, '/v1/chat/completions', { body, headers: { 'x-frugal-tags': 'team=search' } });
    assert.equal(m.status, 429, m.text);
    assert.match(m.json.error.message, /tag 'team=search'/);
    // the header tag is still in the other key's ledger rows, for reports
    const byTag = await waitFor(async () => {
      const s = await call(fr, '/frugal/spend?since=1h&by=tag', { method: 'GET', key: other.key });
      return s.json?.requests === 3 ? s.json : null;
    }, { what: 'three ledger rows for the other key' });
    assert.ok(byTag.by.rows.some((r) => r.key === 'team=search'), JSON.stringify(byTag.by));
  });

  test('without a master key (no virtual keys) header tags are the only tags, and count', async () => {
    const d2 = tempDir('frugal-admit-open-');
    const open = await startFrugal({
      name: 'frugal-admit-open',
      config: { ...config, server: { workers: 1 }, storage: `sqlite:${join(d2, 'frugal.db')}` },
      cwd: d2,
    });
    try {
      const ok = await call(open, '/v1/chat/completions', { body, key: null });
      assert.equal(ok.status, 200, ok.text);
      const r = await call(open, '/v1/chat/completions', {
        body, key: null, headers: { 'x-frugal-tags': 'team=search' },
      });
      assert.equal(r.status, 429, r.text);
      assert.match(r.json.error.message, /tag 'team=search'/);
    } finally {
      await open.stop();
      rmSync(d2, { recursive: true, force: true });
    }
  });
});

describe('images and documents', () => {
  const PNG_64x48 = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAAElFTkSuQmCC';
  const oaImages = (urls, text = 'Describe these.') => [{
    role: 'user',
    content: [{ type: 'text', text }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))],
  }];
  const urls4 = [1, 2, 3, 4].map((i) => `https://img.example/${i}.png`);

  test('concurrent calls with 4 image URLs are admitted only up to the budget', async () => {
    const k = await createKey({ name: 'images-tight', budget: '0.05/day' });
    const client = openai(fr, { apiKey: k.key, maxRetries: 0 });
    // gpt-4o-mini bills up to 48,169 tokens an image: 4 URLs reserve its
    // whole 128k context, $0.0192; two such calls fit $0.05, not 200
    const req = () => client.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 20, messages: oaImages(urls4, 'Describe. #sim:delay_ms=1500'),
    });
    const results = await Promise.allSettled(Array.from({ length: 40 }, req));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    assert.ok(ok.length >= 1 && ok.length <= 2, `${ok.length} admitted`);
    for (const e of denied) {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
      assert.equal(e.code, 'budget_exceeded');
    }
    const m = denied.map((e) => e.message).find((s) => /may cost up to/.test(s));
    assert.ok(m, 'a refusal names the reservation');
    assert.match(m, /may cost up to \$0\.019\d+ \(its 4 image\(s\)\/document\(s\) at up to 12\d{4} input tokens\)/);
  });

  test('an image URL reserves the model\'s maximum; a data: URL its measured size', async () => {
    const k = await createKey({ name: 'images-measured', budget: '0.01/day' });
    const create = (urls) => openai(fr, { apiKey: k.key, maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o', max_tokens: 20, messages: oaImages(urls),
    });
    // 4 × 1,445 tokens at $2.50/M = $0.0145 > $0.01
    const e = await rejectsWith(create(urls4), OpenAI.RateLimitError, '4 image URLs on gpt-4o');
    assert.equal(e.code, 'budget_exceeded');
    assert.match(e.message, /its 4 image\(s\)\/document\(s\) at up to 5780 input tokens\)/);
    // the same four as 64×48 PNGs: one 512-px tile each, 4 × 255 tokens
    const r = await create([PNG_64x48, PNG_64x48, PNG_64x48, PNG_64x48]);
    assert.ok(r.choices[0].message.content);
    // low detail: the base only
    const low = await openai(fr, { apiKey: k.key, maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o', max_tokens: 20,
      messages: [{ role: 'user', content: urls4.map((url) => ({ type: 'image_url', image_url: { url, detail: 'low' } })) }],
    });
    assert.ok(low.choices[0].message.content);
  });

  test('Anthropic image and document blocks, and OpenAI file parts, are reserved at the maximum', async () => {
    const k = await createKey({ name: 'images-anthropic', budget: '0.005/day' });
    const an = anthropic(fr, { apiKey: k.key, maxRetries: 0 });
    const img = (url) => ({ type: 'image', source: { type: 'url', url } });
    // claude-haiku-4-5: 1,600 tokens an image at $1/M; 4 = $0.0064 > $0.005
    const e = await rejectsWith(an.messages.create({
      model: 'claude-haiku-4-5', max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe.' }, ...urls4.map(img)] }],
    }), Anthropic.RateLimitError, '4 image blocks');
    assert.match(e.message, /its 4 image\(s\)\/document\(s\) at up to 6400 input tokens\)/);
    const one = await an.messages.create({
      model: 'claude-haiku-4-5', max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe.' }, img(urls4[0])] }],
    });
    assert.equal(one.type, 'message');
    // a PDF by URL: 100 pages × 4,600 tokens, bounded by the 200k context
    const d = await rejectsWith(an.messages.create({
      model: 'claude-haiku-4-5', max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://x.example/a.pdf' } },
        { type: 'text', text: 'Summarise.' }] }],
    }), Anthropic.RateLimitError, 'a PDF document');
    assert.match(d.message, /its 1 image\(s\)\/document\(s\) at up to 19\d{4} input tokens\)/);
    // an OpenAI file part (a PDF) on gpt-4o-mini
    const f = await raw(k.key, '/v1/chat/completions', JSON.stringify({
      model: 'gpt-4o-mini', max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQK', filename: 'a.pdf' } },
        { type: 'text', text: 'Summarise.' }] }],
    }));
    assert.equal(f.status, 429, f.text);
    assert.match(f.json.error.message, /its 1 image\(s\)\/document\(s\)/);
  });
});
