// lib/recorder.mjs — a recording upstream for end-to-end tests.
//
// A plain node http server standing in for a provider.  Every request is
// recorded (method, path, headers, raw body, when its connection closed) and
// answered like the provider would:
//   POST /v1/chat/completions   an OpenAI chat.completion (or SSE stream)
//   POST /v1/messages           an Anthropic message (or SSE stream)
// Point an `openai` provider at  base_url: http://127.0.0.1:PORT/v1
// and an `anthropic` provider at base_url: http://127.0.0.1:PORT.
//
// Behaviour is programmable per request: rec.behave = (entry) => behaviour,
// or rec.queue(behaviour, ...) for the next requests in order.  A behaviour:
//   { status, body, headers }    reply with that status/body (object → JSON)
//   { delayMs }                  wait before the response headers
//   { hang: true }               never answer
//   { destroy: true }            destroy the socket without any response
//   { events, eventDelayMs }     stream: number of content events, pause between
//   { cutAfter: N }              stream: destroy the socket after N events
//   { text }                     answer text (default "Recorded reply.")
//   { sse }                      stream exactly this text/event-stream body

import { createServer } from 'node:http';

export const DEFAULT_TEXT = 'Recorded reply.';

export class Recorder {
  constructor() {
    this.requests = [];
    this.behave = null;
    this._queue = [];
    this._sockets = new Set();
    this.server = createServer((req, res) => this._handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s) => {
      this._sockets.add(s);
      s.on('close', () => this._sockets.delete(s));
    });
  }

  async start() {
    await new Promise((res) => this.server.listen(0, '127.0.0.1', res));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async stop() {
    for (const s of this._sockets) s.destroy();
    await new Promise((res) => this.server.close(res));
  }

  /* Behaviours for the next requests, in order (then back to behave/default). */
  queue(...b) {
    this._queue.push(...b);
  }

  reset() {
    this.requests = [];
    this._queue = [];
    this.behave = null;
  }

  last() {
    return this.requests[this.requests.length - 1];
  }

  /* Every header value and body the upstream ever received, as one string
   * (for "this secret never reached the provider" checks). */
  everything() {
    return this.requests
      .map((r) => `${r.method} ${r.url}\n${r.rawHeaders.join('\n')}\n\n${r.raw}`)
      .join('\n----\n');
  }

  _handle(req, res) {
    const chunks = [];
    const entry = {
      method: req.method,
      url: req.url,
      path: req.url.split('?')[0],
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      raw: '',
      json: undefined,
      receivedAt: Date.now(),
      closedAt: null, // connection gone before the response finished
      finishedAt: null, // response fully written
      eventsSent: 0,
    };
    this.requests.push(entry);
    res.on('close', () => {
      if (!res.writableFinished && entry.closedAt === null) entry.closedAt = Date.now();
    });
    res.on('finish', () => (entry.finishedAt = Date.now()));
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      entry.raw = Buffer.concat(chunks).toString('utf8');
      try {
        entry.json = JSON.parse(entry.raw);
      } catch {}
      const b = this._queue.length ? this._queue.shift() : (this.behave?.(entry) ?? {});
      this._respond(entry, req, res, b ?? {}).catch(() => {});
    });
  }

  async _respond(entry, req, res, b) {
    if (b.delayMs) await sleep(b.delayMs);
    if (b.hang) return; // never answer; the socket stays open until the client goes
    if (b.destroy) {
      req.socket.destroy();
      return;
    }
    const headers = { 'x-request-id': `rec_${this.requests.length}`, ...(b.headers ?? {}) };
    if (b.status && b.status !== 200) {
      const body = typeof b.body === 'string' ? b.body : JSON.stringify(b.body ?? {});
      res.writeHead(b.status, { 'content-type': 'application/json', ...headers });
      res.end(body);
      return;
    }
    if (b.sse !== undefined) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
      res.end(b.sse);
      return;
    }
    if (b.body !== undefined) {
      const body = typeof b.body === 'string' ? b.body : JSON.stringify(b.body);
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(body);
      return;
    }
    const anthropic = entry.path.endsWith('/messages');
    const model = entry.json?.model ?? 'unknown';
    const text = b.text ?? DEFAULT_TEXT;
    if (!entry.json?.stream) {
      const body = anthropic ? anthropicMessage(model, text) : openaiCompletion(model, text);
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
      return;
    }
    const events = anthropic
      ? anthropicEvents(model, text, b.events)
      : openaiEvents(model, text, b.events);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    res.flushHeaders();
    for (let i = 0; i < events.length; i++) {
      if (b.cutAfter !== undefined && i >= b.cutAfter) {
        req.socket.destroy();
        return;
      }
      if (res.destroyed || entry.closedAt !== null) return;
      res.write(events[i]);
      entry.eventsSent++;
      if (b.eventDelayMs && i < events.length - 1) await sleep(b.eventDelayMs);
    }
    res.end();
  }
}

export async function startRecorder() {
  return new Recorder().start();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Split text into `n` pieces (n >= 1), or word pieces by default. */
function pieces(text, n) {
  if (!n) return text.match(/\S+\s*/g) ?? [text];
  const out = [];
  const words = text.match(/\S+\s*/g) ?? [text];
  for (let i = 0; i < n; i++) out.push(words[i % words.length]);
  return out;
}

export function openaiCompletion(model, text) {
  return {
    id: 'chatcmpl-recorded',
    object: 'chat.completion',
    created: 1764000000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
  };
}

export function anthropicMessage(model, text) {
  return {
    id: 'msg_recorded',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 11, output_tokens: 3 },
  };
}

function openaiEvents(model, text, n) {
  const base = { id: 'chatcmpl-recorded', object: 'chat.completion.chunk', created: 1764000000, model };
  const ev = (o) => `data: ${JSON.stringify({ ...base, ...o })}\n\n`;
  const out = [ev({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })];
  for (const p of pieces(text, n))
    out.push(ev({ choices: [{ index: 0, delta: { content: p }, finish_reason: null }] }));
  out.push(ev({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  out.push('data: [DONE]\n\n');
  return out;
}

function anthropicEvents(model, text, n) {
  const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  const out = [
    ev('message_start', {
      message: { id: 'msg_recorded', type: 'message', role: 'assistant', model, content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 11, output_tokens: 1 } },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  ];
  for (const p of pieces(text, n))
    out.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }));
  out.push(ev('content_block_stop', { index: 0 }));
  out.push(ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } }));
  out.push(ev('message_stop', {}));
  return out;
}

/* Provider-shaped error bodies. */
export function openaiError(message, type = 'invalid_request_error', param = null, code = null) {
  return { error: { message, type, param, code } };
}

export function anthropicError(message, type = 'invalid_request_error') {
  return { type: 'error', error: { type, message }, request_id: 'req_recorded' };
}
