// bench/routing_lib.mjs — helpers shared by bench/routing*.mjs: the data
// files, the frugal binary, seeded draws, temporary files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const BIN = process.env.FRUGAL_BIN ?? join(root, 'build', 'frugal');
export const DATA = process.env.FRUGAL_ROUTING_DATA ?? resolve(root, '..', '..', 'shared', 'data', 'routing');
export const WEIGHTS = join(root, 'data', 'router-weights.frw');

const load = (f) => readFileSync(join(DATA, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
export const train = load('routing_train.jsonl');
export const held = load('routing_heldout.jsonl');
export const tmp = mkdtempSync(join(tmpdir(), 'frugal-bench-routing-'));
let seq = 0;
export const tmpPath = (name) => join(tmp, `${seq++}-${name}`);
export const write = (rows) => {
  const f = join(tmp, `${seq++}.jsonl`);
  writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
};
export const frugal = (args) =>
  execFileSync(BIN, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
export const evalJson = (w, rows) => JSON.parse(frugal(['route', 'eval', '--weights', w, '--data', write(rows), '--json']));
export const group = (ev, name) => ev.groups.find((g) => g.group === name || g.group === `${name} *`);
// APGR of weights w on rows (all counted as one group)
export const apgr = (w, rows) => group(evalJson(w, rows.map((r) => ({ ...r, source: 'g' }))), 'g').router.apgr;
export const f3 = (v) => (v == null || Number.isNaN(v) ? 'n/a' : v.toFixed(3));
export const pct = (v) => (v == null ? 'n/a' : `${Math.round(v * 100)}%`);
export const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
export const sd = (v) => {
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, v.length - 1));
};

export function rng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export function sample(rows, k, seed) {
  const r = rng(seed), a = rows.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}

// The generic prior as the shipped weights were fitted (data/router-weights.frw's
// metadata: --exclude-nc, gain target, lambda 3e-4, balance 0.5) on the train
// rows for which keep(row) holds: a prior that has not seen a validation fold.
export function genericPrior(keep, name) {
  const out = tmpPath(`${name}.frw`);
  frugal(['route', 'train', '--data', write(train.filter(keep)), '--out', out, '--exclude-nc',
    '--lambda', '0.0003', '--balance', '0.5', '--target', 'gain']);
  return out;
}
// A route's own rows fitted as a correction of the prior with strength lambda
// (what the daemon's retraining does, learn_train.h).
export function fitOnPrior(rows, prior, lambda) {
  const out = tmpPath('fit.frw');
  frugal(['route', 'train', '--data', write(rows), '--prior', prior, '--lambda', String(lambda), '--out', out]);
  return out;
}
