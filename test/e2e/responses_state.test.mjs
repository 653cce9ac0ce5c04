// responses_state.test.mjs — the conversation state frugal owns for the
// Responses API (issue 18), with the official `openai` SDK: every response
// gets frugal's own id (never the provider's), previous_response_id is
// passed to the provider account that holds the previous response (its own
// id, spliced in) or, when the turn goes to another account, replaced by the
// stored history; another key can neither read nor continue a response;
// responses.store: false refuses a turn that needs the history; responses
// expire after responses.retention and are pruned from the store; GET and
// input_items answer from frugal's copy; a second replica on the same store
// continues a conversation.  Upstreams are two recording providers (each an
// OpenAI account that answers Responses) and the simulated provider.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';

import {
  OpenAI,
  call,
  ledgerFlushed,
  openai,
  rejectsWith,
  sleep,
  startFrugal,
  tempDir,
  test as libTest,
  waitFor,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const test = (name, fn) => libTest(name, { timeout: 30000 }, fn);
const MASTER = 'sk-master-rstate-e2e';
const FRUGAL_ID = /^resp_[0-9a-f]{32}$/;

/* A recorder that answers POST /v1/responses like an OpenAI account: ids
 * of its own (prefix), the output of `out(request)` (default: one message
 * echoing the last user text), the request's previous_response_id echoed. */
function answering(rec, prefix, out) {
  let n = 0;
  rec.behave = (e) => {
    if (e.method !== 'POST') return { status: 404, body: { error: { message: 'not here', type: 'invalid_request_error' } } };
    const b = e.json ?? {};
    n += 1;
    const last = Array.isArray(b.input) ? JSON.stringify(b.input.at(-1)) : String(b.input);
    const output = out ? out(b, n) : [{ type: 'message', id: `msg_${prefix}_${n}`, role: 'assistant', status: 'completed',
      content: [{ type: 'output_text', text: `${prefix} answer ${n} to ${last}`, annotations: [] }] }];
    return {
      body: {
        id: `resp_${prefix}_${n}`, object: 'response', created_at: 1, status: 'completed', model: b.model,
        error: null, incomplete_details: null, instructions: b.instructions ?? null, metadata: {},
        parallel_tool_calls: true, temperature: 1, top_p: 1, tool_choice: 'auto', tools: [], access_programs: null,
        previous_response_id: b.previous_response_id ?? null, output,
        usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
          output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 },
      },
    };
  };
}

const lastPost = (rec) => rec.requests.filter((r) => r.method === 'POST').at(-1);

let rec1;
let rec2;
let fr;
let dir;
let cfgMain;
before(async () => {
  rec1 = await startRecorder();
  rec2 = await startRecorder();
  dir = tempDir();
  cfgMain = {
      storage: `sqlite:${join(dir, 'frugal.db')}`,
      server: { master_key: MASTER },
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'acct-1', type: 'openai', base_url: `${rec1.url}/v1`, api_key: 'sk-rstate-acct-one' },
        { name: 'acct-2', type: 'openai', base_url: `${rec2.url}/v1`, api_key: 'sk-rstate-acct-two' },
      ],
      models: [
        { name: 'one', provider: 'acct-1', model: 'gpt-4o-mini' },
        { name: 'two', provider: 'acct-2', model: 'gpt-4o-mini' },
        { name: 'both', provider: 'acct-1', model: 'gpt-4o-mini', deployments: [{ provider: 'acct-2' }] },
        { name: 'gpt-4o-mini', provider: 'sim' },
        { name: 'one-fb', provider: 'acct-1', model: 'gpt-4o-mini' },
      ],
      fallbacks: { 'one-fb': ['two'] },
  };
  fr = await startFrugal({ name: 'frugal-rstate', cwd: dir, config: cfgMain });
});
after(async () => {
  await fr?.stop();
  await rec1?.stop();
  await rec2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const client = (o = {}) => openai(fr, o);
async function createKey(name) {
  const r = await call(fr, '/frugal/keys', { body: { name } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

describe('frugal-owned response ids', () => {
  test('multi-turn on the same account: the client sees frugal ids, the provider gets its own', async () => {
    answering(rec1, 'a1');
    const c = client();
    const t1 = await c.responses.create({ model: 'one', input: 'first turn' });
    assert.match(t1.id, FRUGAL_ID);
    assert.ok(!JSON.stringify(t1).includes('resp_a1_'), JSON.stringify(t1));
    const t2 = await c.responses.create({ model: 'one', input: 'second turn', previous_response_id: t1.id });
    assert.match(t2.id, FRUGAL_ID);
    assert.notEqual(t2.id, t1.id);
    assert.equal(t2.previous_response_id, t1.id, 'the echo is the id the client sent');
    const up = lastPost(rec1);
    assert.equal(up.json.previous_response_id, 'resp_a1_1', "the provider gets its own id");
    assert.equal(up.json.input, 'second turn', 'nothing expanded on the account that holds it');
  });

  test('a streamed multi-turn conversation through the simulated provider', async () => {
    const c = client();
    const s = c.responses.stream({ model: 'gpt-4o-mini', input: 'Remember the word heron.' });
    const ids = new Set();
    for await (const ev of s) if (ev.response) ids.add(ev.response.id);
    const first = await s.finalResponse();
    assert.match(first.id, FRUGAL_ID);
    assert.deepEqual([...ids], [first.id], 'every lifecycle event carries the same frugal id');
    const next = await c.responses.create({ model: 'gpt-4o-mini', input: 'Which word?', previous_response_id: first.id });
    assert.equal(next.previous_response_id, first.id);
    assert.equal(next.status, 'completed');
  });

  test('a model with deployments on two accounts: the next turn is pinned to the one holding it', async () => {
    answering(rec1, 'p1');
    answering(rec2, 'p2');
    const c = client();
    let prev = null;
    for (let i = 0; i < 4; i++) {
      const n1 = rec1.requests.length;
      const n2 = rec2.requests.length;
      const r = await c.responses.create({ model: 'both', input: `turn ${i}`, ...(prev ? { previous_response_id: prev.id } : {}) });
      const on1 = rec1.requests.length > n1;
      const up = on1 ? lastPost(rec1) : lastPost(rec2);
      assert.ok(on1 !== rec2.requests.length > n2, 'exactly one account answered');
      if (prev) {
        assert.equal(on1, prev.on1, `turn ${i} went to the account holding turn ${i - 1}`);
        assert.match(up.json.previous_response_id, on1 ? /^resp_p1_/ : /^resp_p2_/);
      }
      prev = { id: r.id, on1 };
    }
  });
});

describe('previous_response_id across accounts', () => {
  test('the next turn on another account gets the stored history instead (reasoning items dropped)', async () => {
    answering(rec1, 'x1', (b, n) => [
      { type: 'reasoning', id: `rs_x1_${n}`, summary: [], encrypted_content: 'gAAAA-secret-of-acct-1' },
      { type: 'function_call', id: `fc_x1_${n}`, call_id: 'call_1', name: 'lookup', arguments: '{"q":"oslo"}', status: 'completed' },
    ]);
    answering(rec2, 'x2');
    const c = client();
    const t1 = await c.responses.create({ model: 'one', instructions: 'Be brief.', input: [{ role: 'user', content: 'Weather in Oslo?' }] });
    const t2 = await c.responses.create({
      model: 'two', previous_response_id: t1.id,
      input: [{ type: 'function_call_output', call_id: 'call_1', output: '{"temp":4}' }],
    });
    const up = lastPost(rec2).json;
    assert.ok(!('previous_response_id' in up), JSON.stringify(up));
    assert.deepEqual(up.input, [
      { role: 'user', content: 'Weather in Oslo?' },
      { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{"q":"oslo"}', status: 'completed' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"temp":4}' },
    ]);
    assert.ok(!JSON.stringify(up).includes('gAAAA'), 'encrypted reasoning stays on its account');
    assert.equal(t2.previous_response_id, t1.id);

    // back to account 1: it holds turn 1 but not turn 2, so the whole history goes
    answering(rec1, 'x3');
    await c.responses.create({ model: 'one', input: 'thanks', previous_response_id: t2.id });
    const back = lastPost(rec1).json;
    assert.ok(!('previous_response_id' in back));
    assert.equal(back.input.length, 5, JSON.stringify(back.input));
    assert.deepEqual(back.input[3], { type: 'message', role: 'assistant',
      content: [{ type: 'output_text', text: `x2 answer 1 to ${JSON.stringify({ type: 'function_call_output', call_id: 'call_1', output: '{"temp":4}' })}`, annotations: [] }] });
    assert.deepEqual(back.input[4], { role: 'user', content: 'thanks' });
  });

  test('a streamed turn is stored from its response.completed and replayed on another account', async () => {
    const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
    const base = { id: 'resp_s1_1', object: 'response', created_at: 1, model: 'gpt-4o-mini', error: null, incomplete_details: null,
      instructions: null, metadata: {}, parallel_tool_calls: true, temperature: 1, top_p: 1, tool_choice: 'auto', tools: [],
      access_programs: null, previous_response_id: null };
    const item = { type: 'message', id: 'msg_s1', role: 'assistant', status: 'completed',
      content: [{ type: 'output_text', text: 'Streamed answer.', annotations: [] }] };
    const usage = { input_tokens: 5, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 8 };
    rec1.behave = null;
    rec1.queue({ sse: ev('response.created', { sequence_number: 0, response: { ...base, status: 'in_progress', output: [], usage: null } }) +
      ev('response.output_item.added', { sequence_number: 1, output_index: 0, item: { ...item, status: 'in_progress', content: [] } }) +
      ev('response.content_part.added', { sequence_number: 2, item_id: 'msg_s1', output_index: 0, content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] } }) +
      ev('response.output_text.delta', { sequence_number: 3, item_id: 'msg_s1', output_index: 0, content_index: 0, delta: 'Streamed answer.' }) +
      ev('response.output_item.done', { sequence_number: 4, output_index: 0, item }) +
      ev('response.completed', { sequence_number: 5, response: { ...base, status: 'completed', output: [item], usage } }) });
    const c = client();
    const s = c.responses.stream({ model: 'one', input: 'stream me' });
    const seen = [];
    for await (const e of s) if (e.response) seen.push(e.response.id);
    const t1 = await s.finalResponse();
    assert.match(t1.id, FRUGAL_ID);
    assert.deepEqual(seen, [t1.id, t1.id]);
    answering(rec2, 's2');
    await c.responses.create({ model: 'two', input: 'next', previous_response_id: t1.id });
    assert.deepEqual(lastPost(rec2).json.input, [
      { role: 'user', content: 'stream me' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Streamed answer.', annotations: [] }] },
      { role: 'user', content: 'next' },
    ]);
    const got = await c.responses.retrieve(t1.id);
    assert.equal(got.output_text, 'Streamed answer.');
  });

  test('a fallback to another account during the turn replays the history for that attempt', async () => {
    answering(rec1, 'f1');
    answering(rec2, 'f2');
    const c = client();
    const t1 = await c.responses.create({ model: 'one-fb', input: 'before the outage' });
    rec1.behave = () => ({ status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } });
    const n1 = rec1.requests.length;
    const t2 = await c.responses.create({ model: 'one-fb', input: 'during it', previous_response_id: t1.id });
    assert.ok(rec1.requests.length > n1, 'the holder was tried first');
    assert.equal(rec1.requests.at(-1).json.previous_response_id, 'resp_f1_1', 'with its own id');
    const up = lastPost(rec2).json;
    assert.ok(!('previous_response_id' in up), JSON.stringify(up));
    assert.deepEqual(up.input.map((i) => i.role), ['user', 'assistant', 'user']);
    assert.equal(up.input[0].content, 'before the outage');
    assert.equal(t2.previous_response_id, t1.id);
    assert.match(t2.id, FRUGAL_ID);
  });

  test('unknown, malformed or another key\'s previous_response_id: 400 naming the param', async () => {
    const a = await createKey('rstate-owner');
    const b = await createKey('rstate-other');
    answering(rec1, 'k1');
    const mine = await client({ apiKey: a.key }).responses.create({ model: 'one', input: 'mine' });
    const n = rec1.requests.length;
    for (const [key, id] of [[b.key, mine.id], [a.key, 'resp_0123456789abcdef0123456789abcdef'], [a.key, 'resp_rec_unknown']]) {
      const e = await rejectsWith(client({ apiKey: key }).responses.create({ model: 'one', input: 'x', previous_response_id: id }),
        OpenAI.BadRequestError);
      assert.equal(e.param, 'previous_response_id');
      assert.equal(e.code, 'previous_response_not_found');
      assert.equal(e.error.message, `Previous response with id '${id}' not found.`);
    }
    const bad = await rejectsWith(client({ apiKey: a.key }).responses.create({ model: 'one', input: 'x', previous_response_id: 'bad id!' }),
      OpenAI.BadRequestError);
    assert.equal(bad.param, 'previous_response_id');
    assert.equal(rec1.requests.length, n, 'nothing reached the provider');
    await rejectsWith(client({ apiKey: b.key }).responses.retrieve(mine.id), OpenAI.NotFoundError);
    await rejectsWith(client({ apiKey: b.key }).responses.inputItems.list(mine.id), OpenAI.NotFoundError);
    const ok = await client({ apiKey: a.key }).responses.create({ model: 'one', input: 'again', previous_response_id: mine.id });
    assert.equal(ok.previous_response_id, mine.id);
  });
});

describe('stored responses: GET, input_items, DELETE', () => {
  test('GET and input_items answer from frugal\'s copy, paged as OpenAI pages them', async () => {
    answering(rec1, 'g1');
    const c = client();
    const input = ['a', 'b', 'c', 'd', 'e'].map((t) => ({ role: 'user', content: t }));
    const r = await c.responses.create({ model: 'one', input });
    const n = rec1.requests.length;
    const got = await c.responses.retrieve(r.id);
    assert.equal(got.id, r.id);
    assert.deepEqual(got.output, r.output);
    const all = await c.responses.inputItems.list(r.id, { order: 'asc' });
    assert.deepEqual(all.data.map((i) => i.content[0].text), ['a', 'b', 'c', 'd', 'e']);
    assert.ok(all.data.every((i) => i.type === 'message' && i.id && i.content[0].type === 'input_text'));
    const p1 = await c.responses.inputItems.list(r.id, { limit: 2 });
    assert.deepEqual(p1.data.map((i) => i.content[0].text), ['e', 'd'], 'newest first by default');
    assert.equal(p1.has_more, true);
    const p2 = await c.responses.inputItems.list(r.id, { limit: 2, after: p1.data.at(-1).id });
    assert.deepEqual(p2.data.map((i) => i.content[0].text), ['c', 'b']);
    const seen = [];
    for await (const it of c.responses.inputItems.list(r.id, { limit: 2, order: 'asc' })) seen.push(it.content[0].text);
    assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e'], 'the SDK pages through with after');
    assert.equal(rec1.requests.length, n, 'the provider was not asked');
    const e = await rejectsWith(c.responses.inputItems.list(r.id, { limit: 500 }), OpenAI.BadRequestError);
    assert.equal(e.param, 'limit');
  });

  test('DELETE removes frugal\'s copy and the provider\'s; the id is gone for GET and for continuing', async () => {
    answering(rec1, 'd1');
    const c = client();
    const r = await c.responses.create({ model: 'one', input: 'delete me' });
    const del = await c.responses.delete(r.id).asResponse();
    assert.equal(del.status, 200);
    const d = lastReq(rec1);
    assert.equal(d.method, 'DELETE');
    assert.equal(d.path, '/v1/responses/resp_d1_1');
    await rejectsWith(c.responses.retrieve(r.id), OpenAI.NotFoundError);
    await rejectsWith(c.responses.create({ model: 'two', input: 'x', previous_response_id: r.id }), OpenAI.BadRequestError);
    await ledgerFlushed(fr, 1);
    await waitFor(() => sql(`SELECT COUNT(*) AS n FROM responses WHERE id = '${r.id}'`)[0].n === 0,
      { what: 'the store row deleted' });
  });
});

describe('upgrades', () => {
  test('a response id stored before frugal minted ids still reaches the provider that holds it', async () => {
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', join(dir, 'frugal.db'),
      "INSERT INTO responses (id, key_id, provider, ts_ms) VALUES ('resp_legacy_1', 'master', 'acct-1', 1)"]);
    rec1.queue({ body: { id: 'resp_legacy_1', object: 'response', created_at: 1, status: 'completed', model: 'gpt-4o-mini',
      output: [], error: null, incomplete_details: null, instructions: null, metadata: {}, parallel_tool_calls: true,
      temperature: 1, top_p: 1, tool_choice: 'auto', tools: [], access_programs: null } });
    const got = await client().responses.retrieve('resp_legacy_1');
    assert.equal(got.id, 'resp_legacy_1');
    assert.equal(lastReq(rec1).path, '/v1/responses/resp_legacy_1');
    answering(rec1, 'l1');
    const next = await client().responses.create({ model: 'one', input: 'go on', previous_response_id: 'resp_legacy_1' });
    assert.equal(lastPost(rec1).json.previous_response_id, 'resp_legacy_1', 'passed on as it is');
    assert.equal(next.previous_response_id, 'resp_legacy_1');
  });
});

const lastReq = (rec) => rec.requests.at(-1);
function sql(q, db = join(dir, 'frugal.db')) {
  return JSON.parse(execFileSync('sqlite3', ['-json', db, q]).toString() || '[]');
}

describe('responses config', () => {
  test('responses.store: false: a turn on another account is a clear 400; the same account still continues', async () => {
    const d = tempDir();
    const g = await startFrugal({
      name: 'frugal-rstate-nostore', cwd: d,
      config: {
        storage: `sqlite:${join(d, 'frugal.db')}`,
        server: { master_key: MASTER },
        providers: [
          { name: 'acct-1', type: 'openai', base_url: `${rec1.url}/v1`, api_key: 'sk-rstate-acct-one' },
          { name: 'acct-2', type: 'openai', base_url: `${rec2.url}/v1`, api_key: 'sk-rstate-acct-two' },
        ],
        models: [{ name: 'one', provider: 'acct-1', model: 'gpt-4o-mini' }, { name: 'two', provider: 'acct-2', model: 'gpt-4o-mini' }],
        responses: { store: false },
      },
    });
    try {
      answering(rec1, 'n1');
      const c = openai(g);
      const t1 = await c.responses.create({ model: 'one', input: 'hello' });
      const e = await rejectsWith(c.responses.create({ model: 'two', input: 'x', previous_response_id: t1.id }), OpenAI.BadRequestError);
      assert.equal(e.param, 'previous_response_id');
      assert.equal(e.code, 'previous_response_not_replayable');
      assert.match(e.message, /responses\.store is false/);
      assert.match(e.message, /'acct-2'/);
      const t2 = await c.responses.create({ model: 'one', input: 'again', previous_response_id: t1.id });
      assert.equal(t2.previous_response_id, t1.id);
      assert.equal(lastPost(rec1).json.previous_response_id, 'resp_n1_1');
      await ledgerFlushed(g, 2);
      const rows = sql('SELECT data FROM responses', join(d, 'frugal.db'));
      assert.equal(rows.length, 2);
      assert.ok(rows.every((r) => r.data === null), 'no conversation text is stored');
    } finally {
      await g.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('responses.retention: an expired response is gone, and pruned from the store', async () => {
    const d = tempDir();
    const g = await startFrugal({
      name: 'frugal-rstate-retention', cwd: d,
      env: { FRUGAL_RESPONSES_PRUNE_MS: '100' },
      config: {
        storage: `sqlite:${join(d, 'frugal.db')}`,
        server: { master_key: MASTER },
        providers: [{ name: 'acct-1', type: 'openai', base_url: `${rec1.url}/v1`, api_key: 'sk-rstate-acct-one' }],
        models: [{ name: 'one', provider: 'acct-1', model: 'gpt-4o-mini' }],
        responses: { retention: '1s' },
      },
    });
    try {
      answering(rec1, 'r1');
      const c = openai(g);
      const t1 = await c.responses.create({ model: 'one', input: 'short-lived' });
      assert.equal((await c.responses.retrieve(t1.id)).id, t1.id);
      await ledgerFlushed(g, 1);
      assert.equal(sql(`SELECT COUNT(*) AS n FROM responses WHERE id = '${t1.id}'`, join(d, 'frugal.db'))[0].n, 1);
      await sleep(1100); // past its expiry: a lower bound, load only makes it later
      await rejectsWith(c.responses.retrieve(t1.id), OpenAI.NotFoundError);
      const e = await rejectsWith(c.responses.create({ model: 'one', input: 'x', previous_response_id: t1.id }), OpenAI.BadRequestError);
      assert.equal(e.code, 'previous_response_not_found');
      await waitFor(() => sql('SELECT COUNT(*) AS n FROM responses', join(d, 'frugal.db'))[0].n === 0,
        { timeoutMs: 10000, what: 'the expired row pruned' });
    } finally {
      await g.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('a second replica on the same store continues a conversation the first one started', async () => {
    answering(rec1, 'm1');
    const t1 = await client().responses.create({ model: 'one', input: 'replica one' });
    await ledgerFlushed(fr, 1);
    await waitFor(() => sql(`SELECT COUNT(*) AS n FROM responses WHERE id = '${t1.id}'`)[0].n === 1, { what: 'the row written' });
    const g = await startFrugal({ name: 'frugal-rstate-replica', config: cfgMain });
    try {
      const c = openai(g, { apiKey: MASTER });
      const got = await c.responses.retrieve(t1.id);
      assert.equal(got.id, t1.id);
      answering(rec2, 'm2');
      await c.responses.create({ model: 'two', input: 'replica two', previous_response_id: t1.id });
      assert.deepEqual(lastPost(rec2).json.input.at(0), { role: 'user', content: 'replica one' });
    } finally {
      await g.stop();
    }
  });
});
