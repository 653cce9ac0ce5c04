// raw.mjs — raw HTTP/1.1 over node:net for the edge's attack tests
// (edge.test.mjs, wire.test.mjs): a client that records what the server sends
// and when it closes, a body pusher that stops at the first answer, and the
// daemon's own memory from /proc.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

import { waitFor } from './frugal.mjs';

export const MB = 1 << 20;

/* A raw client: c.data collects what the server sends, c.closedAt when it
 * closed (c.closed resolves then). */
export function rawClient(port, localAddress) {
  return new Promise((res, rej) => {
    const c = { data: '', closedAt: null };
    c.sock = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => res(c));
    c.sock.setEncoding('latin1');
    c.sock.on('data', (d) => (c.data += d));
    c.sock.on('error', () => {});
    c.sock.on('close', () => (c.closedAt = Date.now()));
    c.closed = new Promise((r) => c.sock.on('close', r));
    c.sock.once('error', rej);
  });
}

/* The status of the first response in s (0: none). */
export const statusOf = (s) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(s)?.[1] ?? 0);
/* The JSON body after the first head in s, or undefined. */
export const bodyOf = (s) => {
  const i = s.indexOf('\r\n\r\n');
  try {
    return JSON.parse(s.slice(i + 4));
  } catch {
    return undefined;
  }
};

/* The daemon's memory (bytes): peak and current resident set. */
export function mem(fr) {
  const s = readFileSync(`/proc/${fr.proc.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)[1]) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/* Sends `head` then up to `total` body bytes, as fast as the server takes
 * them, stopping when it answers or closes.  Resolves with the client once
 * it has an answer or is closed; c.sent is how much went out by then. */
export async function push(port, head, total, timeoutMs = 120000) {
  const c = await rawClient(port);
  c.sock.write(head);
  const chunk = Buffer.alloc(MB, 0x61);
  let sent = 0;
  while (sent < total && c.closedAt === null && !c.sock.destroyed && !c.data) {
    const n = Math.min(MB, total - sent);
    const ok = c.sock.write(n === MB ? chunk : chunk.subarray(0, n));
    sent += n;
    if (!ok) await Promise.race([new Promise((r) => c.sock.once('drain', r)), c.closed]);
  }
  await waitFor(() => c.closedAt !== null || /\r\n\r\n/.test(c.data), {
    timeoutMs, what: 'an answer or a close',
  });
  c.sent = sent;
  return c;
}
