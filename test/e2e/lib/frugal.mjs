// lib/frugal.mjs — start and stop the real frugal daemon for end-to-end tests.
//
//   const fr = await startFrugal({ config: {...} });   // YAML written for you
//   fr.url            http://127.0.0.1:PORT
//   fr.stderr()       everything frugal logged so far
//   await fr.stop()   SIGTERM, wait, assert exit 0 and no sanitizer report
//
// Every daemon's and command's stderr is also appended to test/e2e/.logs/
// (one file per process), and the keys each test hands frugal (provider
// api_key, master_key, the SDK clients' keys) are listed there too, so the
// last test of the suite (zz_redaction.test.mjs) can check that none of
// them was ever logged.  `make e2e` empties the directory first.
//
// Ports are never fixed: the config says listen 127.0.0.1:0 and the port is
// read from frugal's "frugal listening on http://127.0.0.1:PORT" line.
// The binary comes from $FRUGAL_BIN (the Makefile passes the ASan/UBSan one).

import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicLegacy from 'anthropic-legacy';

const here = dirname(fileURLToPath(import.meta.url));

export const FRUGAL_BIN =
  process.env.FRUGAL_BIN ?? resolve(here, '..', '..', '..', 'build', 'san', 'frugal');

export const LOG_DIR = resolve(here, '..', '.logs');
mkdirSync(LOG_DIR, { recursive: true });
let logSeq = 0;

/* A file in LOG_DIR collecting one process's stderr. */
function logFile(name) {
  const f = join(LOG_DIR, `${process.pid}-${++logSeq}-${name.replace(/[^\w.-]/g, '_')}.log`);
  return (s) => {
    try {
      appendFileSync(f, s);
    } catch {}
  };
}

/* Remember keys frugal was given, for the suite's final grep of the logs
 * (strings under 6 characters and env: references are not keys). */
export function noteSecrets(...keys) {
  const ks = keys.filter((k) => typeof k === 'string' && k.length >= 6 && !k.startsWith('env:'));
  if (ks.length) appendFileSync(join(LOG_DIR, `${process.pid}.secrets`), ks.map((k) => `${k}\n`).join(''));
}

function noteConfigSecrets(config, env) {
  if (config && typeof config === 'object') {
    noteSecrets(config.server?.master_key, ...(config.providers ?? []).map((p) => p.api_key));
  }
  noteSecrets(...Object.entries(env ?? {})
    .filter(([k]) => /KEY|TOKEN|SECRET/i.test(k))
    .map(([, v]) => v));
}

const READY_TIMEOUT_MS = 15000;
const EXIT_TIMEOUT_MS = 20000;

// ASan/UBSan/TSan reports: any of these in stderr fails stop().
export const SANITIZER_RE =
  /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|UndefinedBehavior|Thread)Sanitizer/;

export const SAN_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};

/* Every live child, so a crashed test file does not leave daemons behind and
 * a failing test can show what frugal logged. */
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.proc.kill('SIGKILL');
    } catch {}
  }
});

/* Environment for a child: ours minus anything that would change frugal's
 * built-in defaults or the SDKs' behaviour, plus the sanitizer options. */
export function childEnv(extra = {}) {
  const env = { ...process.env, ...SAN_ENV };
  for (const k of [
    'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL',
    'FRUGAL_MASTER_KEY', 'FRUGAL_LISTEN',
  ])
    delete env[k];
  return { ...env, ...extra };
}

/* A TCP port nobody listens on right now (bind 0, read, close). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function tempDir(prefix = 'frugal-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

// ---------------------------------------------------------------- YAML ----

const yamlScalar = (v) => {
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(String(v)); // a JSON string is a YAML double-quoted scalar
};

/* Block-style YAML for plain objects/arrays/scalars. */
export function toYaml(v, indent = '') {
  if (Array.isArray(v)) {
    if (!v.length) return ' []';
    return v
      .map((item) => {
        if (item && typeof item === 'object' && !Array.isArray(item)) {
          const body = toYaml(item, indent + '  ').replace(/^\n\s*/, '');
          return `\n${indent}- ${body}`;
        }
        return `\n${indent}-${toYaml(item, indent + '  ')}`;
      })
      .join('');
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return ' {}';
    return keys.map((k) => `\n${indent}${k}:${toYaml(v[k], indent + '  ')}`).join('');
  }
  return ' ' + yamlScalar(v);
}

export function writeConfig(config, dir = tempDir()) {
  const file = join(dir, 'frugal.yaml');
  writeFileSync(file, typeof config === 'string' ? config : toYaml(config).replace(/^\n/, '') + '\n');
  return file;
}

// ------------------------------------------------------------ processes ----

/* Run the binary to completion (check, failing serve, ...).  Resolves
 * {code, signal, stdout, stderr}. */
export function runFrugal(args, { env = {}, cwd, timeoutMs = 20000 } = {}) {
  return new Promise((res, rej) => {
    const proc = spawn(FRUGAL_BIN, args, { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const log = logFile(`run-${args[0] ?? 'frugal'}`);
    noteConfigSecrets(null, env);
    proc.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      log(d);
    });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`frugal ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

/* Spawn a long-running frugal (serve or sim) and wait for its ready line. */
export function spawnDaemon(args, { env = {}, cwd, ready, name = 'frugal' } = {}) {
  const proc = spawn(FRUGAL_BIN, args, { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const d = {
    name,
    proc,
    out: '',
    err: '',
    exited: null, // {code, signal} once gone
    stdout: () => d.out,
    stderr: () => d.err,
  };
  live.add(d);
  const log = logFile(name);
  noteConfigSecrets(null, env);
  d.exit = new Promise((res) => {
    proc.on('close', (code, signal) => {
      d.exited = { code, signal };
      live.delete(d);
      res(d.exited);
    });
  });
  proc.stderr.setEncoding('utf8').on('data', (s) => {
    d.err += s;
    log(s);
    if (process.env.FRUGAL_E2E_VERBOSE) process.stderr.write(`[${name}] ${s}`);
  });
  d.ready = new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`${name} did not print its listening line within ${READY_TIMEOUT_MS} ms\n` +
        `stdout:\n${d.out}\nstderr:\n${d.err}`));
    }, READY_TIMEOUT_MS);
    proc.stdout.setEncoding('utf8').on('data', (s) => {
      d.out += s;
      const m = d.out.match(ready);
      if (m) {
        clearTimeout(timer);
        res(m);
      }
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    d.exit.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready\n` +
        `stdout:\n${d.out}\nstderr:\n${d.err}`));
    });
  });
  d.ready.catch(() => {});

  /* SIGTERM (unless send: false), wait, assert a clean exit.  Returns
   * {code, signal, stderr}. */
  d.stop = async ({ expectCode = 0, signal = 'SIGTERM', send = true } = {}) => {
    if (!d.exited && send) proc.kill(signal);
    let timer;
    const timeout = new Promise((_, rej) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL');
        rej(new Error(`${name} did not exit within ${EXIT_TIMEOUT_MS} ms of ${signal}\n${tail(d.err)}`));
      }, EXIT_TIMEOUT_MS);
    });
    const st = await Promise.race([d.exit, timeout]).finally(() => clearTimeout(timer));
    assertNoSanitizerReport(d.err, name);
    assert.equal(st.signal, null, `${name} was killed by ${st.signal}\n${tail(d.err)}`);
    assert.equal(st.code, expectCode, `${name} exit status\n${tail(d.err)}`);
    return { ...st, stderr: d.err };
  };
  return d;
}

export function assertNoSanitizerReport(stderr, name = 'frugal') {
  const m = stderr.match(SANITIZER_RE);
  if (m) {
    const at = stderr.lastIndexOf('\n', m.index);
    assert.fail(`${name} stderr has a sanitizer report:\n${stderr.slice(Math.max(0, at), at + 8000)}`);
  }
}

export function tail(s, lines = 60) {
  const l = s.split('\n');
  return l.slice(-lines).join('\n');
}

/* Start `frugal serve -c FILE`.  `config` is an object (turned into YAML)
 * or YAML text; `server.listen` defaults to 127.0.0.1:0. */
export async function startFrugal({ config, env = {}, cwd, name = 'frugal', args } = {}) {
  const dir = cwd ?? tempDir();
  let file = null;
  if (config !== undefined) {
    if (typeof config === 'object') {
      config = { ...config, server: { listen: '127.0.0.1:0', workers: 2, ...(config.server ?? {}) } };
    }
    file = writeConfig(config, dir);
  }
  noteConfigSecrets(config, env);
  const d = spawnDaemon(args ?? ['serve', ...(file ? ['-c', file] : [])], {
    env,
    cwd: dir,
    name,
    ready: /frugal listening on http:\/\/([^\s:]+|\[[^\]]+\]):(\d+) \((\d+) workers?\)/,
  });
  let m;
  try {
    m = await d.ready;
  } catch (e) {
    if (!cwd) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  d.host = m[1];
  d.port = Number(m[2]);
  d.workers = Number(m[3]);
  d.url = `http://127.0.0.1:${d.port}`;
  d.configFile = file;
  d.dir = dir;
  d.masterKey = typeof config === 'object' ? config.server?.master_key : undefined;
  const stop = d.stop;
  d.stop = async (opts) => {
    try {
      return await stop(opts);
    } finally {
      if (!cwd) rmSync(dir, { recursive: true, force: true });
    }
  };
  return d;
}

/* Start the standalone simulated provider: `frugal sim --listen ADDR`. */
export async function startSim({ name = 'sim', args = [] } = {}) {
  const port = await freePort();
  const d = spawnDaemon(['sim', '--listen', `127.0.0.1:${port}`, ...args], {
    name,
    ready: /frugal sim listening on (http:\/\/\S+)/,
  });
  const m = await d.ready;
  d.url = m[1].replace(/\/$/, '');
  d.port = port;
  return d;
}

// -------------------------------------------------------------- clients ----

export function openai(fr, opts = {}) {
  noteSecrets(opts.apiKey ?? fr.masterKey ?? 'sk-e2e-client-key');
  return new OpenAI({
    apiKey: fr.masterKey ?? 'sk-e2e-client-key',
    baseURL: `${fr.url}/v1`,
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: 30000,
    ...opts,
  });
}

export function anthropic(fr, opts = {}) {
  noteSecrets(opts.apiKey ?? fr.masterKey ?? 'sk-ant-e2e-client-key');
  return new Anthropic({
    apiKey: fr.masterKey ?? 'sk-ant-e2e-client-key',
    authToken: null,
    baseURL: fr.url,
    maxRetries: 0,
    timeout: 30000,
    ...opts,
  });
}

/* The 0.x SDK: sends x-api-key and anthropic-version: 2023-06-01. */
export function anthropicLegacy(fr, opts = {}) {
  noteSecrets(opts.apiKey ?? fr.masterKey ?? 'sk-ant-e2e-client-key');
  return new AnthropicLegacy({
    apiKey: fr.masterKey ?? 'sk-ant-e2e-client-key',
    authToken: null,
    baseURL: fr.url,
    maxRetries: 0,
    timeout: 30000,
    ...opts,
  });
}

export { OpenAI, Anthropic, AnthropicLegacy };

// ---------------------------------------------------------------- misc ----

/* fetch + JSON body, returning {status, headers, text, json}. */
export async function call(fr, path, { method = 'POST', body, headers = {}, key } = {}) {
  const h = { ...headers };
  const k = key === undefined ? fr.masterKey : key;
  noteSecrets(k);
  if (k && !Object.keys(h).some((n) => /^(authorization|x-api-key)$/i.test(n)))
    h.authorization = `Bearer ${k}`;
  if (body !== undefined && !Object.keys(h).some((n) => /^content-type$/i.test(n)))
    h['content-type'] = 'application/json';
  const r = await fetch(`${fr.url}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Wait until pred() is truthy (polling), or throw after timeoutMs. */
export async function waitFor(pred, { timeoutMs = 5000, stepMs = 20, what = 'condition' } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/* Assert that promise p rejects with an instance of cls, returning the
 * error for further checks. */
export async function rejectsWith(p, cls, msg) {
  let err;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${msg ?? 'call'}: expected a ${cls.name}, but it succeeded`);
  assert.ok(err instanceof cls,
    `${msg ?? 'call'}: expected a ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  return err;
}

/* node:test's test(), with the tail of every live daemon's stderr appended
 * to the message of a failure, so a red test says what frugal logged. */
export function test(name, opts, fn) {
  if (typeof opts === 'function') [fn, opts] = [opts, {}];
  return nodeTest(name, opts, async (t) => {
    try {
      return await fn(t);
    } catch (e) {
      const logs = [...live].map((d) => `--- ${d.name} stderr (tail) ---\n${tail(d.err, 30)}`).join('\n');
      if (logs && e && typeof e === 'object') {
        try {
          e.message = `${e.message}\n${logs}`;
        } catch {}
      }
      throw e;
    }
  });
}

/* GET /metrics as a Map from "name{labels}" to its number. */
export async function metrics(fr) {
  const r = await call(fr, '/metrics', { method: 'GET' });
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.text}`);
  const m = new Map();
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/* Wait until the ledger writer committed `n` records and nothing is queued. */
export async function ledgerFlushed(fr, n, timeoutMs = 10000) {
  await waitFor(
    async () => {
      const m = await metrics(fr);
      return m.get('frugal_ledger_written_total') >= n && m.get('frugal_ledger_queue_depth') === 0;
    },
    { timeoutMs, what: `${n} ledger records written` },
  );
}
