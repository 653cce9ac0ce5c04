// bench/routing.mjs — `make bench-routing`: routing quality on
// ../shared/data/routing (or $FRUGAL_ROUTING_DATA), fitting on the TRAIN
// file only and scoring on the held-out fold.
//   1. per source and per model pair: `frugal route eval` of the shipped
//      weights on the held-out file, with a chat aggregate row;
//   2. learning curves: weights fitted on k of a domain's own TRAIN labels
//      (k = 50, 100, 200, 500, 1000; DRAWS seeded draws each) with
//      `frugal route train`, APGR on that domain's held-out rows, against
//      the bars of issue #22;
//   3. calibration: per domain, weights fitted on train folds 1-2, the
//      threshold picked for a quality target on folds 3-4
//      (`route eval --labels --quality-target`, one-sided 90% Wilson), the
//      quality kept measured on the held-out rows at that threshold.
// Prints markdown tables.  Deterministic (seeded draws; the trainer is
// deterministic).  Usage: node bench/routing.mjs [--draws N] [--quick]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = process.env.FRUGAL_BIN ?? join(root, 'build', 'frugal');
const DATA = process.env.FRUGAL_ROUTING_DATA ?? resolve(root, '..', '..', 'shared', 'data', 'routing');
const WEIGHTS = join(root, 'data', 'router-weights.frw');
const argv = process.argv.slice(2);
const DRAWS = Number(argv[argv.indexOf('--draws') + 1]) > 0 ? Number(argv[argv.indexOf('--draws') + 1]) : 5;
const KS = [50, 100, 200, 500, 1000];
const BARS = { math: { 200: 0.60, 500: 0.68 }, code: { 200: 0.60 }, chat: { 500: 0.53 } };

const load = (f) => readFileSync(join(DATA, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const train = load('routing_train.jsonl');
const held = load('routing_heldout.jsonl');
const tmp = mkdtempSync(join(tmpdir(), 'frugal-bench-routing-'));
let seq = 0;
const write = (rows) => {
  const f = join(tmp, `${seq++}.jsonl`);
  writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
};
const frugal = (args) => execFileSync(BIN, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
const evalJson = (w, rows) => JSON.parse(frugal(['route', 'eval', '--weights', w, '--data', write(rows), '--json']));
const group = (ev, name) => ev.groups.find((g) => g.group === name || g.group === `${name} *`);
const f3 = (v) => (v == null || Number.isNaN(v) ? 'n/a' : v.toFixed(3));
const pct = (v) => (v == null ? 'n/a' : `${Math.round(v * 100)}%`);

function rng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function sample(rows, k, seed) {
  const r = rng(seed), a = rows.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}
const t0 = Date.now();

// ---- 1. per source, per model pair, chat aggregate ----------------------------
console.log('## Shipped weights on the held-out file, per source and per model pair\n');
console.log('| group | n | APGR [95% CI] | AUC | CPT(50%) | quality kept at the op. point (share) |');
console.log('|---|---:|---|---:|---:|---|');
const row = (name, g) => {
  const op = g.operating_points.at(-1);
  console.log(`| ${name} | ${g.n} | ${f3(g.router.apgr)} [${f3(g.router.apgr_ci95?.[0])}, ${f3(g.router.apgr_ci95?.[1])}] | ` +
    `${f3(g.router.auc)} | ${pct(g.router.cpt50)} | ${f3(op.retained)} (${pct(op.share)}) |`);
};
const bySource = evalJson(WEIGHTS, held);
for (const src of [...new Set(held.map((r) => r.source))]) row(src, group(bySource, src));
const pairs = evalJson(WEIGHTS, held.map((r) => ({ ...r, source: `${r.source} / ${r.weak_model.split('/').pop()}` })));
for (const p of [...new Set(held.map((r) => `${r.source} / ${r.weak_model.split('/').pop()}`))]) row(p, group(pairs, p));
const chat = evalJson(WEIGHTS, held.filter((r) => r.domain === 'chat').map((r) => ({ ...r, source: 'chat (aggregate)' })));
row('**chat (aggregate)**', group(chat, 'chat (aggregate)'));

// ---- 2. learning curves -----------------------------------------------------------
console.log(`\n## Learning curves: fitted on k of the domain's own TRAIN labels, APGR on its held-out rows (${DRAWS} draws)\n`);
console.log('| domain | train rows | held-out rows | ' + KS.map((k) => `k=${k}`).join(' | ') + ' | bars |');
console.log('|---|---:|---:|' + KS.map(() => '---').join('|') + '|---|');
const curves = {};
for (const dom of ['math', 'code', 'chat', 'knowledge']) {
  const tr = train.filter((r) => r.domain === dom);
  const ho = held.filter((r) => r.domain === dom).map((r) => ({ ...r, source: dom }));
  const hoFile = write(ho);
  curves[dom] = {};
  const cells = [];
  for (const k of KS) {
    if (k > tr.length) {
      cells.push('n/a');
      continue;
    }
    const v = [];
    for (let d = 0; d < DRAWS; d++) {
      const w = join(tmp, `w-${dom}-${k}-${d}.frw`);
      frugal(['route', 'train', '--data', write(sample(tr, k, 1000 * k + d + 1)), '--out', w]);
      const ev = JSON.parse(frugal(['route', 'eval', '--weights', w, '--data', hoFile, '--json']));
      v.push(group(ev, dom).router.apgr);
    }
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
    curves[dom][k] = mean;
    cells.push(`${f3(mean)} ± ${f3(sd)}`);
  }
  const bars = Object.entries(BARS[dom] ?? {}).map(([k, b]) =>
    `${f3(curves[dom][k])} ${curves[dom][k] >= b ? '>=' : '<'} ${b} @${k}: ${curves[dom][k] >= b ? 'met' : 'NOT met'}`);
  console.log(`| ${dom} | ${tr.length} | ${ho.length} | ${cells.join(' | ')} | ${bars.join('; ') || '-'} |`);
}

// ---- 3. calibration ------------------------------------------------------------------
console.log('\n## Calibration: threshold picked for a quality target on train folds 3-4 (weights fitted on folds 1-2), measured on held-out rows\n');
console.log('| domain | target | picked: verdict, frontier share, quality (90% Wilson lower bound) | beats a coin | held-out: quality kept, frontier share |');
console.log('|---|---:|---|---|---|');
const label = (r) => ({ prompt: r.prompt, cheap_ok: r.weak_suffices });
for (const dom of ['math', 'knowledge', 'chat', 'code']) {
  const tr = train.filter((r) => r.domain === dom);
  const w = join(tmp, `w-cal-${dom}.frw`);
  frugal(['route', 'train', '--data', write(tr.filter((r) => r.fold <= 2)), '--out', w]);
  const pick = write(tr.filter((r) => r.fold >= 3).map(label));
  const ho = write(held.filter((r) => r.domain === dom).map(label));
  for (const q of [0.8, 0.85, 0.9, 0.95]) {
    const p = JSON.parse(frugal(['route', 'eval', '--weights', w, '--labels', pick, '--quality-target', String(q), '--json']));
    const thr = p.threshold ?? (p.verdict === 'all_cheap' ? 1e9 : -1e9);
    const m = JSON.parse(frugal(['route', 'eval', '--weights', w, '--labels', ho, '--quality-target', String(q),
      '--threshold', String(thr), '--json'])).at_threshold;
    console.log(`| ${dom} | ${q} | ${p.verdict}, ${pct(p.frontier_share)}, ${f3(p.quality)} (${f3(p.quality_lower)}) | ` +
      `${p.beats_coin ? 'yes' : 'no'} (AUC ${f3(p.auc)}) | ${f3(m.quality)} ${m.quality >= q ? '>=' : '<'} ${q}, ${pct(m.frontier_share)} |`);
  }
}
rmSync(tmp, { recursive: true, force: true });
console.log(`\n(bench-routing: ${((Date.now() - t0) / 1000).toFixed(0)} s; data ${DATA})`);
