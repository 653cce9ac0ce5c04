// app.js — frugal's spend dashboard.  Reads only frugal's own API with the
// key the user typed (kept in sessionStorage, sent only in an Authorization
// header, never in a URL).  Every value from the API is put on the page as
// text (textContent): model names, tags, key names and cache-buster samples
// are client-supplied bytes.  Charts: uPlot (embedded by make).
'use strict';

const KEY_SLOT = 'frugal.key';
const VIEWS = ['overview', 'breakdowns', 'caching', 'routing', 'keys', 'batches', 'live'];
const TECH = ['prompt_cache', 'response_cache', 'routing', 'batch'];
const BUCKETS = ['repeated_context', 'frontier_overuse', 'bloated_output'];
const COLORS = ['#1f6feb', '#d97706', '#137333', '#b42318', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f'];

const $ = (id) => document.getElementById(id);
const state = { key: null, admin: false, self: null, timer: null, charts: [], gen: 0 };

// ---------------------------------------------------------------- DOM ----

/* el('td', {class: 'num'}, 'text', child…): text children become text nodes. */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

const usd = (v) => (v === null || v === undefined ? '—' : `$${Number(v).toFixed(v !== 0 && Math.abs(v) < 0.01 ? 6 : 2)}`);
const pct = (v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)}%`);
const int = (v) => (v === null || v === undefined ? '—' : Number(v).toLocaleString('en-US'));
const ms = (v) => (v === null || v === undefined ? '—' : `≤ ${v} ms`);

/* raw: the number as the API gave it (data-value), for people who copy it and for tests */
function card(label, value, testid, raw) {
  return el('div', { class: 'card' }, el('div', { class: 'label' }, label),
    el('div', { class: 'value', 'data-testid': testid, 'data-value': raw }, value));
}

/* A table: cols [{key, label, fmt, num}], rows objects; sortable when sort is given. */
function table(cols, rows, { sort, onSort, testid } = {}) {
  const head = el('tr', {}, cols.map((c) => {
    const th = el('th', { class: `${c.num ? 'num' : ''} ${onSort ? 'sortable' : ''}`, 'data-col': c.key },
      c.label, sort && sort === c.key ? ' ▾' : '');
    if (onSort) th.addEventListener('click', () => onSort(c.key));
    return th;
  }));
  const body = rows.map((r) => el('tr', {}, cols.map((c) => {
    const v = c.get ? c.get(r) : r[c.key];
    return el('td', { class: `${c.num ? 'num' : ''} ${c.cls || ''}`, 'data-col': c.key, 'data-value': typeof v === 'number' ? v : undefined },
      c.fmt ? c.fmt(v, r) : v ?? '—');
  })));
  if (!rows.length) body.push(el('tr', {}, el('td', { colspan: cols.length, class: 'note' }, 'Nothing in this window.')));
  return el('table', { 'data-testid': testid }, el('thead', {}, head), el('tbody', {}, body));
}

function chart(target, title, xs, series, { stacked = false, fmt = usd } = {}) {
  const box = el('div', { class: 'panel' }, el('h2', {}, title));
  target.append(box);
  if (typeof uPlot !== 'function') {
    box.append(el('p', { class: 'error' }, 'The chart library did not load.'));
    return;
  }
  const width = Math.max(320, box.clientWidth - 24);
  const opts = {
    width, height: 220,
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
      fill: stacked ? `${COLORS[i % COLORS.length]}33` : undefined, value: (u, v) => (v === null ? '—' : fmt(v)) }))],
    axes: [{}, { values: (u, vals) => vals.map((v) => fmt(v)), size: 70 }],
    scales: { x: { time: true } },
  };
  const u = new uPlot(opts, [xs, ...series.map((s) => s.data)], box);
  state.charts.push(u);
}

// ---------------------------------------------------------------- API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${state.key}` }, cache: 'no-store' });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  if (!r.ok) {
    const msg = json?.error?.message || `HTTP ${r.status}`;
    throw new ApiError(r.status, msg);
  }
  return json;
}

// --------------------------------------------------------------- route ----

/* #view?range=24h&key=ID&dim=model&sort=cost_usd */
function route() {
  const [view, q] = location.hash.replace(/^#/, '').split('?');
  const p = new URLSearchParams(q || '');
  return { view: VIEWS.includes(view) ? view : 'overview', p };
}

function go(view, changes = {}) {
  const { p } = route();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === '' || v === undefined) p.delete(k);
    else p.set(k, v);
  }
  const q = p.toString();
  location.hash = `${view}${q ? `?${q}` : ''}`;
}

function filters(p) {
  const range = ['1h', '24h', '7d', '30d'].includes(p.get('range')) ? p.get('range') : '24h';
  const key = state.admin ? p.get('key') || '' : '';
  // a key tag (k=v): the calls of the keys carrying it, from the rollups at any range
  const tag = p.get('tag') || '';
  return { range, key, tag };
}

function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  return p.toString();
}

// --------------------------------------------------------------- views ----

/* The time series and the spend map over the same minute-aligned window. */
async function both(f, extra = {}) {
  const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, key: f.key, tag: f.tag, ...extra })}`);
  const sp = await api(`/frugal/spend?${qs({ since: ts.since, until: ts.until, key: f.key, top: 10 })}`);
  return { ts, sp };
}

const xsOf = (ts) => ts.points.map((p) => p.t_ms / 1000);

/* Raw-row reads (the spend map's prefixes, busters, tags) cost a scan of the
 * window's calls: they are capped at 24 hours, whatever the range. */
const RAW_MAX = '24h';
const rawRange = (f) => (f.range === '1h' ? '1h' : RAW_MAX);

async function viewOverview(main, f) {
  // every number here comes from the rollups; /frugal/spend over the same
  // window (ts.since … ts.until) gives the same totals
  const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, key: f.key, tag: f.tag })}`);
  const t = ts.totals;
  const savedPct = t.baseline_usd ? Math.round((1000 * t.saved_usd) / t.baseline_usd) / 10 : 0;
  main.append(el('h2', {}, `${ts.since} → ${ts.until}`),
    el('div', { class: 'cards' },
      card('Spend', usd(t.cost_usd), 'cost_usd', t.cost_usd),
      card('Without frugal', usd(t.baseline_usd), 'baseline_usd', t.baseline_usd),
      card('Saved', `${usd(t.saved_usd)} (${savedPct}%)`, 'saved_usd', t.saved_usd),
      card('Requests', int(t.requests), 'requests', t.requests),
      card('Errors', int(t.errors), 'errors', t.errors)));
  const xs = xsOf(ts);
  chart(main, 'Spend and baseline', xs, [
    { label: 'spend', data: ts.points.map((p) => p.cost_usd) },
    { label: 'without frugal', data: ts.points.map((p) => p.baseline_usd) },
  ]);
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Saved by technique'),
    table([{ key: 'name', label: 'Technique' }, { key: 'usd', label: 'Saved', num: true, fmt: usd }],
      TECH.map((k) => ({ name: k.replace('_', ' '), usd: t.saved_by[k] })), { testid: 'saved-by' })));
  chart(main, 'Saved by technique over time', xs, TECH.map((k) => ({ label: k, data: ts.points.map((p) => p.saved_by[k]) })));
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Waste buckets'),
    table([{ key: 'name', label: 'Bucket' }, { key: 'usd', label: 'Cost', num: true, fmt: usd },
      { key: 'share', label: 'Share of spend', num: true, fmt: pct }],
    BUCKETS.map((b) => ({ name: b.replace('_', ' '), usd: t.buckets[b], share: t.cost_usd ? t.buckets[b] / t.cost_usd : 0 })),
    { testid: 'buckets' })));
  chart(main, 'Waste buckets over time', xs, BUCKETS.map((b) => ({ label: b, data: ts.points.map((p) => p.buckets[b]) })));
}

async function viewBreakdowns(main, f, p) {
  const dim = ['model', 'key', 'route', 'tag'].includes(p.get('dim')) ? p.get('dim') : 'model';
  const sort = p.get('sort') || 'cost_usd';
  const htag = p.get('htag') || '';
  const pick = el('div', { class: 'row' }, 'Break down by',
    ['model', 'key', 'route', 'tag'].map((d) => el('button', {
      type: 'button', 'data-dim': d, class: d === dim ? '' : 'off',
      on: { click: () => go('breakdowns', { dim: d, sort: null }) },
    }, d)));
  main.append(pick);
  let rows;
  let cols;
  if (dim === 'tag') {
    // tags are client-supplied (unbounded): read from raw rows, as the spend map does
    const sp = await api(`/frugal/spend?${qs({ since: rawRange(f), key: f.key, by: 'tag' })}`);
    rows = sp.by.rows.filter((r) => !htag || r.key.includes(htag));
    cols = [{ key: 'key', label: 'tag' }, { key: 'requests', label: 'Requests', num: true, fmt: int },
      { key: 'cost_usd', label: 'Cost', num: true, fmt: usd }, { key: 'baseline_usd', label: 'Without frugal', num: true, fmt: usd },
      { key: 'saved_usd', label: 'Saved', num: true, fmt: usd }];
    const input = el('input', { id: 'tag-filter', placeholder: 'filter tags (k=v)', value: htag });
    input.addEventListener('change', () => go('breakdowns', { htag: input.value }));
    main.append(el('div', { class: 'row' }, input, el('span', { class: 'note' },
      `Every tag of a call (header tags, x-frugal-tags, are client-supplied and unbounded) comes from the raw ledger rows: the last ${rawRange(f)} at most. The tag filter above (key tags) applies to the rollup views at any range.`)));
  } else {
    const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, key: f.key, tag: f.tag, group: dim })}`);
    rows = ts.groups.map((g) => ({ ...g, error_rate: g.requests ? g.errors / g.requests : 0 }));
    cols = [{ key: 'key', label: dim, get: (r) => r.key || '(none)' },
      { key: 'requests', label: 'Requests', num: true, fmt: int },
      { key: 'input', label: 'Input tok', num: true, fmt: int, get: (r) => r.tokens.input },
      { key: 'cache_read', label: 'Cache read tok', num: true, fmt: int, get: (r) => r.tokens.cache_read },
      { key: 'output', label: 'Output tok', num: true, fmt: int, get: (r) => r.tokens.output },
      { key: 'cost_usd', label: 'Cost', num: true, fmt: usd },
      { key: 'saved_usd', label: 'Saved', num: true, fmt: usd },
      { key: 'error_rate', label: 'Errors', num: true, fmt: pct },
      { key: 'p50', label: 'p50', num: true, fmt: ms, get: (r) => r.latency.p50_ms },
      { key: 'p90', label: 'p90', num: true, fmt: ms, get: (r) => r.latency.p90_ms },
      { key: 'p99', label: 'p99', num: true, fmt: ms, get: (r) => r.latency.p99_ms }];
  }
  const col = cols.find((c) => c.key === sort) || cols.find((c) => c.key === 'cost_usd');
  const val = (r) => (col.get ? col.get(r) : r[col.key]);
  rows.sort((a, b) => {
    const x = val(a);
    const y = val(b);
    return typeof x === 'number' && typeof y === 'number' ? y - x : String(x).localeCompare(String(y));
  });
  main.append(el('div', { class: 'panel' }, table(cols, rows, {
    sort: col.key, testid: 'breakdown', onSort: (k) => go('breakdowns', { sort: k }),
  })));
}

async function viewCaching(main, f) {
  const { ts, sp } = await both({ ...f, range: rawRange(f) });
  main.append(el('p', { class: 'note' }, `Prefixes and cache busters come from the raw ledger rows: ${ts.since} → ${ts.until} (${rawRange(f)} at most)${f.tag ? '; the key-tag filter applies to the response-cache hits only' : ''}.`));
  const pc = sp.prompt_cache;
  main.append(el('div', { class: 'cards' },
    card('Prompt cache hit rate', pct(pc.hit_rate), 'hit_rate', pc.hit_rate),
    card('Cacheable calls', int(pc.eligible_calls), 'eligible_calls'),
    card('Cache reads (tokens)', int(pc.read_tokens), 'read_tokens'),
    card('Written, never read', usd(pc.written_never_read_usd), 'written_never_read_usd'),
    card('Response cache hits', int(ts.totals.cache_hits), 'cache_hits', ts.totals.cache_hits)));
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Top repeated prefixes'),
    table([{ key: 'fingerprint', label: 'Prefix' }, { key: 'tokens', label: 'Tokens', num: true, fmt: int },
      { key: 'requests', label: 'Requests', num: true, fmt: int }, { key: 'cache_hit_rate', label: 'Hit rate', num: true, fmt: pct },
      { key: 'cost_usd', label: 'Cost', num: true, fmt: usd }], sp.top_prefixes, { testid: 'prefixes' })));
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Cache busters'),
    el('p', { class: 'note' }, 'Text that changes inside an otherwise stable prefix, so the provider cannot reuse its cache.'),
    table([{ key: 'model', label: 'Model' }, { key: 'where', label: 'Where' }, { key: 'offset', label: 'Offset', num: true },
      { key: 'sample', label: 'Changing bytes', cls: 'sample' }, { key: 'calls', label: 'Calls', num: true, fmt: int },
      { key: 'cost_usd', label: 'Lost', num: true, fmt: usd }, { key: 'cost_usd_per_day', label: 'Per day', num: true, fmt: usd },
      { key: 'advice', label: 'Advice' }], sp.cache_busters, { testid: 'busters' })));
}

async function viewRouting(main, f) {
  const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, key: f.key, tag: f.tag, group: 'route' })}`);
  const tiers = ts.groups.map((g) => g.key || '(none)');
  const xs = xsOf(ts);
  chart(main, 'Share of calls per tier', xs, ts.groups.map((g) => ({
    label: g.key || '(none)',
    data: ts.points.map((p) => (p.requests ? (p.by[g.key]?.requests ?? 0) / p.requests : null)),
  })), { fmt: pct });
  const frontier = ts.totals.cost_usd + ts.totals.saved_by.routing;
  const esc = ts.totals.escalations;
  main.append(el('div', { class: 'cards' },
    card('Escalations', int(esc.count), 'escalations', esc.count),
    card('Saved by routing', usd(ts.totals.saved_by.routing), 'saved_routing', ts.totals.saved_by.routing),
    card('All on the frontier model would cost', usd(frontier), 'frontier_counterfactual')));
  main.append(el('div', { class: 'panel' }, table([{ key: 'key', label: 'Tier', get: (r) => r.key || '(none)' },
    { key: 'requests', label: 'Requests', num: true, fmt: int }, { key: 'share', label: 'Share', num: true, fmt: pct, get: (r) => r.requests / (ts.totals.requests || 1) },
    { key: 'cost_usd', label: 'Cost', num: true, fmt: usd }, { key: 'saved_usd', label: 'Saved', num: true, fmt: usd }], ts.groups, { testid: 'tiers' })));
  // escalations by the reason the router recorded (rollups: exact at any range)
  const reasons = Object.keys(esc.by_reason).filter((r) => esc.by_reason[r] > 0);
  chart(main, 'Escalations by reason', xs, reasons.map((r) => ({
    label: r.replace('_', ' '), data: ts.points.map((p) => p.escalations.by_reason[r]),
  })), { fmt: int });
  main.append(el('div', { class: 'panel' }, table([
    { key: 'reason', label: 'Reason', fmt: (v) => v.replace('_', ' ') },
    { key: 'count', label: 'Escalations', num: true, fmt: int },
    { key: 'share', label: 'Share', num: true, fmt: pct }],
  reasons.map((r) => ({ reason: r, count: esc.by_reason[r], share: esc.by_reason[r] / (esc.count || 1) })),
  { testid: 'escalation-reasons' })));
  if (!esc.count) main.append(el('p', { class: 'note' }, 'No escalations in this window.'));
  if (!tiers.length) main.append(el('p', { class: 'note' }, 'No routed calls in this window.'));
}

/* The current budget period's start (UTC calendar day / ISO week / month) and end. */
function periodBounds(period, now = new Date()) {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  if (period === 'week') d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  if (period === 'month') d.setUTCDate(1);
  const end = new Date(d);
  if (period === 'day') end.setUTCDate(end.getUTCDate() + 1);
  else if (period === 'week') end.setUTCDate(end.getUTCDate() + 7);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  return [d, end];
}

async function viewKeys(main, f) {
  if (!state.admin) {
    const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, tag: f.tag })}`);
    const rf = ts.totals.refusals;
    main.append(el('div', { class: 'cards' }, card('This key spent', usd(ts.totals.cost_usd), 'cost_usd', ts.totals.cost_usd),
      card('Requests', int(ts.totals.requests), 'requests', ts.totals.requests),
      card('Rate-limit refusals', int(rf.rate_limit), 'refused_rate', rf.rate_limit),
      card('Budget refusals', int(rf.budget), 'refused_budget', rf.budget)),
    el('p', { class: 'note' }, 'Budgets and limits of keys are shown to the master key.'));
    return;
  }
  const keys = (await api('/frugal/keys')).data.filter((k) => {
    if (!f.tag) return true;
    const [a, b] = [f.tag.slice(0, f.tag.indexOf('=')), f.tag.slice(f.tag.indexOf('=') + 1)];
    return k.tags && k.tags[a] === b;
  });
  const now = new Date();
  // spend per key since each budget period's start (one query per period kind)
  const spentIn = {};
  for (const period of new Set(keys.filter((k) => k.budget).map((k) => k.budget.period))) {
    const [start] = periodBounds(period, now);
    const ts = await api(`/frugal/spend/timeseries?${qs({ since: start.toISOString().replace(/\.\d+Z$/, 'Z'), group: 'key' })}`);
    spentIn[period] = Object.fromEntries(ts.groups.map((g) => [g.key, g.cost_usd]));
  }
  const ts = await api(`/frugal/spend/timeseries?${qs({ since: f.range, tag: f.tag, group: 'key' })}`);
  const inRange = Object.fromEntries(ts.groups.map((g) => [g.key, g]));
  const rows = [];
  for (const k of keys) {
    const limit = k.budget ? Number(k.budget.usd) : null;
    const period = k.budget ? k.budget.period : null;
    const spent = k.budget ? spentIn[period][k.id] ?? 0 : null;
    let burn = null;
    let exhaust = '—';
    if (limit !== null) {
      const [start, end] = periodBounds(period, now);
      const hours = Math.max((now - start) / 3600000, 1 / 60);
      burn = spent / hours;
      const left = limit - spent;
      if (left <= 0) exhaust = 'exhausted';
      else if (burn > 0) {
        const at = new Date(now.getTime() + (left / burn) * 3600000);
        exhaust = at < end ? at.toISOString().slice(0, 16).replace('T', ' ') : 'not this period';
      } else exhaust = 'not this period';
    }
    rows.push({ id: k.id, name: k.name, status: k.status, spent, limit, period, burn, exhaust,
      range_cost: inRange[k.id]?.cost_usd ?? 0, range_errors: inRange[k.id]?.errors ?? 0,
      refused_rate: inRange[k.id]?.refusals.rate_limit ?? 0, refused_budget: inRange[k.id]?.refusals.budget ?? 0,
      use: limit ? spent / limit : null, tags: Object.entries(k.tags || {}).map(([a, b]) => `${a}=${b}`).join(', ') });
  }
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Keys and budgets'), table([
    { key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'status', label: 'Status' }, { key: 'tags', label: 'Tags' },
    { key: 'range_cost', label: 'Spent in range', num: true, fmt: usd },
    { key: 'range_errors', label: 'Errors in range', num: true, fmt: int },
    { key: 'refused_rate', label: 'Rate-limit refusals', num: true, fmt: int },
    { key: 'refused_budget', label: 'Budget refusals', num: true, fmt: int },
    { key: 'spent', label: 'Spent this period', num: true, fmt: usd },
    { key: 'limit', label: 'Budget', num: true, fmt: (v, r) => (v === null ? 'none' : `${usd(v)}/${r.period}`) },
    { key: 'use', label: 'Used', fmt: (v) => { if (v === null) return '—'; const b = el('div', { class: `bar ${v >= 1 ? 'over' : ''}` }, el('span')); b.firstChild.style.width = `${Math.min(100, 100 * v)}%`; return el('span', {}, b, pct(v)); } },
    { key: 'burn', label: 'Burn / hour', num: true, fmt: (v) => (v === null ? '—' : usd(v)) },
    { key: 'exhaust', label: 'Projected exhaustion' },
  ], rows, { testid: 'keys' })));
}

async function viewBatches(main) {
  const list = (await api('/v1/batches?limit=50')).data || [];
  // what each batch cost: its ledger rows (frugal's own sums, not the provider's bill)
  const spend = {};
  if (list.length) {
    const s = await api(`/frugal/spend/batches?${qs({ ids: list.map((b) => b.id).join(',') })}`);
    for (const b of s.data) spend[b.batch_id] = b;
  }
  const rows = list.map((b) => ({ ...b, ...(spend[b.id] ? {
    cost_usd: spend[b.id].cost_usd, realtime_usd: spend[b.id].realtime_usd, saved_batch_usd: spend[b.id].saved_batch_usd,
    run_mode: spend[b.id].mode,
  } : {}) }));
  const money = (v) => (v === undefined ? '—' : usd(v));
  main.append(el('div', { class: 'panel' }, el('h2', {}, 'Batches'), table([
    { key: 'id', label: 'Id' }, { key: 'status', label: 'Status' }, { key: 'endpoint', label: 'Endpoint' },
    { key: 'progress', label: 'Progress', get: (b) => b.request_counts, fmt: (c) => (c ? `${c.completed + c.failed}/${c.total}${c.failed ? ` (${c.failed} failed)` : ''}` : '—') },
    { key: 'mode', label: 'Mode', get: (b) => b.run_mode ?? b.metadata?.frugal_mode ?? '—' },
    { key: 'cost_usd', label: 'Cost', num: true, fmt: money },
    { key: 'realtime_usd', label: 'At real-time prices', num: true, fmt: money },
    { key: 'saved_batch_usd', label: 'Saved by batching', num: true, fmt: money },
    { key: 'created_at', label: 'Created', fmt: (v) => (v ? new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ') : '—') },
  ], rows, { testid: 'batches' })),
  el('p', { class: 'note' }, 'Cost is what frugal recorded for the batch\'s lines so far; "at real-time prices" is what the same lines would cost sent one by one.'));
}

async function viewLive(main, f, p, current) {
  const box = el('div', { class: 'panel' }, el('h2', {}, 'Latest calls'), el('p', { class: 'note' }, 'Updates every 2 seconds.'));
  main.append(box);
  let tbl = null;
  const draw = async () => {
    const list = await api('/frugal/calls?limit=50');
    const t = table([
      { key: 'ts', label: 'Time', fmt: (v) => v.slice(11, 19) }, { key: 'key_id', label: 'Key' }, { key: 'model', label: 'Model' },
      { key: 'route', label: 'Route' }, { key: 'cache', label: 'Cache' }, { key: 'status', label: 'Status', num: true },
      { key: 'cost_usd', label: 'Cost', num: true, fmt: usd }, { key: 'saved_usd', label: 'Saved', num: true, fmt: usd },
      { key: 'latency_ms', label: 'Latency', num: true, fmt: (v) => `${v} ms` },
    ], list.data, { testid: 'live' });
    t.setAttribute('data-count', String(list.data.length));
    if (tbl) tbl.replaceWith(t);
    else box.append(t);
    tbl = t;
  };
  await draw();
  if (current()) state.timer = setInterval(() => draw().catch(showError), 2000);
}

const RENDER = { overview: viewOverview, breakdowns: viewBreakdowns, caching: viewCaching, routing: viewRouting,
  keys: viewKeys, batches: viewBatches, live: viewLive };

// ---------------------------------------------------------------- main ----

function showError(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut(`Signed out: ${e.message}`);
    return;
  }
  const p = $('error');
  p.textContent = e instanceof Error ? e.message : String(e);
  p.hidden = false;
}

async function render() {
  if (!state.key) return;
  clearInterval(state.timer);
  state.timer = null;
  for (const c of state.charts) c.destroy();
  state.charts = [];
  const gen = ++state.gen; // a newer render makes this one's output go nowhere
  const { view, p } = route();
  const f = filters(p);
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.view === view);
    a.href = `#${a.dataset.view}?${qs({ range: f.range, key: f.key, tag: f.tag })}`;
  }
  $('range').value = f.range;
  $('key-filter').value = f.key;
  $('tag-filter-global').value = f.tag;
  $('error').hidden = true;
  const main = $('main');
  const box = el('div');
  main.replaceChildren(el('h1', { 'data-testid': 'view-title' }, view[0].toUpperCase() + view.slice(1)), box);
  main.dataset.view = view;
  main.dataset.ready = '0';
  try {
    await RENDER[view](box, f, p, () => gen === state.gen);
  } catch (e) {
    if (gen === state.gen) showError(e);
  }
  if (gen === state.gen) main.dataset.ready = '1';
}

async function signIn(key) {
  state.key = key;
  // who is this key?  A virtual key's answers name it ("key"); the master's do not
  const ts = await api('/frugal/spend/timeseries?since=1h&step=1h');
  state.admin = !ts.key;
  state.self = ts.key || null;
  sessionStorage.setItem(KEY_SLOT, key);
  $('who').textContent = state.admin ? 'master key: every call' : `key ${state.self}: its own calls`;
  $('key-filter-label').hidden = !state.admin;
  $('signin').hidden = true;
  $('app').hidden = false;
  await render();
}

function signOut(message) {
  clearInterval(state.timer);
  state.key = null;
  sessionStorage.removeItem(KEY_SLOT);
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
}

function init() {
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('key').value.trim();
    $('signin-error').textContent = '';
    try {
      await signIn(key);
      $('key').value = '';
    } catch (e) {
      signOut(e instanceof ApiError && e.status === 401
        ? `This key was not accepted: ${e.message}`
        : `Could not sign in: ${e.message}`);
    }
  });
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('range').addEventListener('change', () => go(route().view, { range: $('range').value }));
  $('key-filter').addEventListener('change', () => go(route().view, { key: $('key-filter').value.trim() }));
  $('tag-filter-global').addEventListener('change', () => go(route().view, { tag: $('tag-filter-global').value.trim() }));
  window.addEventListener('hashchange', () => render());
  const saved = sessionStorage.getItem(KEY_SLOT);
  if (saved) signIn(saved).catch((e) => signOut(`Signed out: ${e.message}`));
}

init();
