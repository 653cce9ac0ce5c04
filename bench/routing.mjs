// bench/routing.mjs — `make bench-routing`: routing quality on
// ../shared/data/routing (or $FRUGAL_ROUTING_DATA), fitting on the TRAIN
// file only and scoring on the held-out fold.
//   1. per source and per model pair: `frugal route eval` of the shipped
//      weights on the held-out file, with a chat aggregate row;
//   2. learning curves: weights fitted on k of a domain's own TRAIN labels
//      (k = 50, 100, 200, 500, 1000; DRAWS seeded draws each), APGR on that
//      domain's held-out rows, against the bars of issue #22: (a) on own
//      labels alone (`frugal route train`, its own cross-validated grid),
//      (b) as the daemon retrains: a correction of the shipped weights with
//      the prior strength FG_ROUTE_TOOL_PRIOR_LAMBDA (`route train --prior`);
//   3. calibration: per domain, weights fitted on train folds 1-2, the
//      threshold picked for a quality target on folds 3-4
//      (`route eval --labels --quality-target`, one-sided 90% Wilson), the
//      quality kept measured on the held-out rows at that threshold;
//   4. the end-to-end shadow simulation through the real daemon
//      (routing_shadow.mjs), clean and with 20% label noise;
//   5. with --tune only: the prior strength chosen by cross-validation
//      within the train folds (routing_tune.mjs, ~5 min more).
// Prints markdown tables.  Deterministic apart from the simulation's
// sampling (seeded draws; the trainer is deterministic).
// Usage: node bench/routing.mjs [--draws N] [--only 1,2,3,4,5] [--tune]
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DATA, WEIGHTS, root, evalJson, f3, fitOnPrior, frugal, group, held, mean, pct, sample, sd, tmp, train, write,
} from './routing_lib.mjs';
import { shadowSim } from './routing_shadow.mjs';
import { tunePrior } from './routing_tune.mjs';

const argv = process.argv.slice(2);
const opt = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const DRAWS = Number(opt('--draws')) > 0 ? Number(opt('--draws')) : 5;
const ONLY = opt('--only')?.split(',').map(Number) ?? [1, 2, 3, 4, ...(argv.includes('--tune') ? [5] : [])];
const KS = [50, 100, 200, 500, 1000];
const BARS = { math: { 200: 0.60, 500: 0.68 }, code: { 200: 0.60 }, chat: { 500: 0.53 } };
// the daemon's prior strength, read from src/route/route_tool.h
const PRIOR_LAMBDA = Number(readFileSync(join(root, 'src', 'route', 'route_tool.h'), 'utf8')
  .match(/#define FG_ROUTE_TOOL_PRIOR_LAMBDA ([0-9.e+-]+)/)[1]);
const t0 = Date.now();

// ---- 1. per source, per model pair, chat aggregate ----------------------------
function perSource() {
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
  const pairName = (r) => `${r.source} / ${r.weak_model.split('/').pop()}`;
  const pairs = evalJson(WEIGHTS, held.map((r) => ({ ...r, source: pairName(r) })));
  for (const p of [...new Set(held.map(pairName))]) row(p, group(pairs, p));
  const chat = evalJson(WEIGHTS, held.filter((r) => r.domain === 'chat').map((r) => ({ ...r, source: 'chat (aggregate)' })));
  row('**chat (aggregate)**', group(chat, 'chat (aggregate)'));
}

// ---- 2. learning curves -----------------------------------------------------------
function curves(title, fit) {
  console.log(`\n## Learning curves ${title} (${DRAWS} draws)\n`);
  console.log('| domain | train rows | held-out rows | ' + KS.map((k) => `k=${k}`).join(' | ') + ' | bars |');
  console.log('|---|---:|---:|' + KS.map(() => '---').join('|') + '|---|');
  for (const dom of ['math', 'code', 'chat', 'knowledge']) {
    const tr = train.filter((r) => r.domain === dom);
    const hoFile = write(held.filter((r) => r.domain === dom).map((r) => ({ ...r, source: dom })));
    const at = {}, cells = [];
    for (const k of KS) {
      if (k > tr.length) {
        cells.push('n/a');
        continue;
      }
      const v = [];
      for (let d = 0; d < DRAWS; d++) {
        const w = fit(sample(tr, k, 1000 * k + d + 1));
        v.push(group(JSON.parse(frugal(['route', 'eval', '--weights', w, '--data', hoFile, '--json'])), dom).router.apgr);
      }
      at[k] = mean(v);
      cells.push(`${f3(at[k])} ± ${f3(sd(v))}`);
    }
    const bars = Object.entries(BARS[dom] ?? {}).map(([k, b]) =>
      `${f3(at[k])} ${at[k] >= b ? '>=' : '<'} ${b} @${k}: ${at[k] >= b ? 'met' : 'NOT met'}`);
    console.log(`| ${dom} | ${tr.length} | ${held.filter((r) => r.domain === dom).length} | ${cells.join(' | ')} | ${bars.join('; ') || '-'} |`);
  }
}
let nfit = 0;
const ownOnly = (rows) => {
  const w = join(tmp, `w-own-${nfit++}.frw`);
  frugal(['route', 'train', '--data', write(rows), '--out', w]);
  return w;
};

// ---- 3. calibration ------------------------------------------------------------------
function calibration() {
  console.log('\n## Calibration: threshold picked for a quality target on train folds 3-4 (weights fitted on folds 1-2), measured on held-out rows\n');
  console.log('| domain | target | picked: verdict, frontier share, quality (90% Wilson lower bound) | beats a coin | held-out: quality kept, frontier share |');
  console.log('|---|---:|---|---|---|');
  const label = (r) => ({ prompt: r.prompt, cheap_ok: r.weak_suffices });
  let kept = 0, pairs = 0;
  for (const dom of ['math', 'knowledge', 'chat', 'code']) {
    const tr = train.filter((r) => r.domain === dom);
    const w = ownOnly(tr.filter((r) => r.fold <= 2));
    const pick = write(tr.filter((r) => r.fold >= 3).map(label));
    const ho = write(held.filter((r) => r.domain === dom).map(label));
    for (const q of [0.8, 0.85, 0.9, 0.95]) {
      const p = JSON.parse(frugal(['route', 'eval', '--weights', w, '--labels', pick, '--quality-target', String(q), '--json']));
      const thr = p.threshold ?? (p.verdict === 'all_cheap' ? 1e9 : -1e9);
      const m = JSON.parse(frugal(['route', 'eval', '--weights', w, '--labels', ho, '--quality-target', String(q),
        '--threshold', String(thr), '--json'])).at_threshold;
      kept += m.quality >= q;
      pairs++;
      console.log(`| ${dom} | ${q} | ${p.verdict}, ${pct(p.frontier_share)}, ${f3(p.quality)} (${f3(p.quality_lower)}) | ` +
        `${p.beats_coin ? 'yes' : 'no'} (AUC ${f3(p.auc)}) | ${f3(m.quality)} ${m.quality >= q ? '>=' : '<'} ${q}, ${pct(m.frontier_share)} |`);
    }
  }
  console.log(`\nThe held-out quality kept met the requested target in ${kept} of ${pairs} (domain, target) pairs.`);
}

const lap = (() => {
  let t = Date.now();
  return (what) => {
    const now = Date.now();
    console.log(`\n(${what}: ${((now - t) / 1000).toFixed(0)} s)`);
    t = now;
  };
})();
if (ONLY.includes(1)) {
  perSource();
  lap('section 1');
}
if (ONLY.includes(2)) {
  curves("on the domain's own TRAIN labels alone, APGR on its held-out rows", ownOnly);
  curves(`as the daemon retrains: a correction of the shipped weights, prior strength λ=${PRIOR_LAMBDA}`,
    (rows) => fitOnPrior(rows, WEIGHTS, PRIOR_LAMBDA));
  lap('section 2');
}
if (ONLY.includes(3)) {
  calibration();
  lap('section 3');
}
if (ONLY.includes(4)) {
  console.log('\n## Shadow simulation through the real daemon and the simulated provider\n');
  console.log('Costs are the simulated provider\'s usage at the price table\'s gpt-4o-mini / gpt-4o rates; its answers are short ' +
    '(tens of tokens), so the judge\'s prompt is mostly the question. "labels" are the route\'s labels so far; quality kept counts ' +
    'a frontier answer as 1 and a cheap answer as its CLEAN label.');
  await shadowSim({ noise: 0 });
  await shadowSim({ noise: 0.2 });
  // the same stream with a quality target fed by the route's own labels
  await shadowSim({ noise: 0, qualityTarget: 0.95 });
  lap('section 4');
}
if (ONLY.includes(5)) {
  tunePrior({ draws: 2 });
  tunePrior({ draws: 2, perLabel: true });
  lap('section 5');
}
rmSync(tmp, { recursive: true, force: true });
console.log(`\n(bench-routing: ${((Date.now() - t0) / 1000).toFixed(0)} s; data ${DATA})`);
