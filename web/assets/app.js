// The dashboard (doc/dashboard.md). Signs in with an API key, asks GET /v1/whoami for the role,
// then shows usage from the API: an admin or auditor sees everyone's, a user key its own (the API
// scopes it; the page only hides panels the role may not read). Live: a cheap probe every second
// (unaudited: /metrics for admins and auditors, the key's own record count for users) and a full
// refresh when it changes, so a new record shows within 2 s.

import {
  Api, ApiError, browserZone, forgetKey, histogramQuantile, kWindowCounts, metric, storeKey,
  storedKey, windowStarts,
} from './api.js';
import { barLineChart, kPalette, scatterChart } from './charts.js';
import {
  age, fixed, int, localTime, milli, money, ms, num, secondsAsMs, windowLabel,
} from './format.js';

const kProbeMs = 1000;
const kRecentRecords = 50;
const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  who: null,
  zone: browserZone(),
  window: 'hour',
  filters: { model: '', workflow: '', status: '', user: '' },
  rankBy: 'cost',
  probe: null,         // last probe value; a change triggers a refresh
  probed: null,        // the current tick's probe (settled when state.size is known)
  settle: false,       // refresh once more on the next tick (a record may land mid-refresh)
  from: null,          // RFC 3339 start of the shown span
  size: 0,             // log size as last seen (anchor for recent records)
  checkpoint: null,
  refreshing: false,
  dirty: true,
  timer: null,
  marked: new Set(),   // performance marks already set
  refreshes: 0,
  generation: 0,       // bumped by every change of the controls
};

const isReader = () => state.who && (state.who.role === 'admin' || state.who.role === 'auditor');

// ---- DOM helpers (textContent only: names from records are never parsed as markup)

function td(text, cls, title) {
  const c = document.createElement('td');
  c.textContent = text;
  if (cls) c.className = cls;
  if (title) c.title = title;
  return c;
}

function barCell(fraction) {
  const c = document.createElement('td');
  c.className = 'barcell';
  const b = document.createElement('div');
  b.className = 'hbar';
  b.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  c.appendChild(b);
  return c;
}

function fillTable(id, rows, empty = 'nothing in this span') {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length) {
    const tr = document.createElement('tr');
    const c = td(empty, 'empty');
    c.colSpan = $(id).tHead.rows[0].cells.length;
    tr.appendChild(c);
    body.appendChild(tr);
  }
}

function shortUser(u) {
  return u === null || u === undefined ? '(none)' : u;
}

// ---- queries

// Filters as API parameters. `user` only for readers (a user key is pinned by the API anyway).
function filterParams() {
  const p = [];
  for (const k of ['model', 'workflow', 'status']) {
    if (state.filters[k]) p.push([k, state.filters[k]]);
  }
  if (isReader() && state.filters.user) p.push(['user', state.filters.user]);
  return p;
}

function spanParams() {
  return [...filterParams(), ['from', state.from]];
}

function computeSpan() {
  const starts = windowStarts(state.window);
  state.starts = starts;
  state.from = starts[0].toISOString().replace('.000Z', 'Z');
  // For tests and the curious: the span and zone every query of the page uses.
  document.body.dataset.from = state.from;
  document.body.dataset.zone = state.zone;
}

async function refresh() {
  const api = state.api;
  // What this refresh shows: controls changed while it runs are shown by the next one.
  const generation = state.generation;
  const view = { window: state.window, starts: state.starts };
  const reader = isReader();
  const span = spanParams();
  const agg = [...span, ['tz', state.zone]];
  // Two stages: the core panels' queries first, the slower ones (a scan of every record for
  // anomalies and duplicates, the scatter's two, recent records) only once those are answered,
  // so they do not compete for the server's cores while the first view is drawn.
  const core = {
    kpi: () => api.usage([...agg, ['measures', 'count,tokens,cost,distinct_users,duration_p50,duration_p95']]),
    trend: () => api.usage([...agg, ['window', state.window], ['measures', 'count,tokens,cost']]),
    model: () => api.usage([...agg, ['group_by', 'model'], ['order_by', 'tokens'], ['limit', '15'],
                            ['measures', 'count,tokens,cost,duration_p50,duration_p95']]),
    workflow: () => api.usage([...agg, ['group_by', 'workflow'], ['order_by', 'tokens'], ['limit', '15'],
                               ['measures', 'count,tokens,cost,duration_p50,duration_p95']]),
  };
  if (reader) {
    core.ranking = () => api.top([...agg, ['by', 'user'], ['measure', state.rankBy], ['k', '10'],
                                  ['measures', 'count,tokens,cost']]);
  }
  const rest = {
    events: async () => {
      await state.probed;  // the log size to start from
      return api.recentEvents(span, kRecentRecords, state.size);
    },
    buckets: () => api.usage([...agg, ['group_by', 'resolution,model'], ['resolution_step', '0.5'],
                              ['measures', 'count,duration_avg,megapixels_avg']]),
    fit: () => api.usage([...agg, ['group_by', 'model'],
                          ['measures', 'count,ms_per_megapixel,ms_at_zero_megapixels,fit_r2']]),
    duplicates: () => api.duplicates([...span, ['limit', '20']]),
  };
  if (reader) rest.anomalies = () => api.anomalies([...span, ['limit', '20']]);
  const renderers = {
    kpi: renderKpis,
    trend: (a) => renderTrend(a, view),
    model: (a) => renderBreakdown('by-model', a, 'model'),
    workflow: (a) => renderBreakdown('by-workflow', a, 'workflow'),
    ranking: renderRanking,
    events: renderEvents,
    duplicates: renderDuplicates,
    anomalies: renderAnomalies,
  };
  let firstError = null;
  const r = {};
  // Sends a stage's queries at once and draws each panel as soon as its own answer is in.
  const stage = (queries) => Promise.all(Object.entries(queries).map(async ([name, query]) => {
    try {
      r[name] = await query();
    } catch (e) {
      firstError ||= e;
      return;
    }
    if (renderers[name]) renderers[name](r[name]);
  }));
  await stage(core);
  markView('tokenaudit-first-view');
  await stage(rest);
  if (r.buckets && r.fit) renderScatter(r.buckets, r.fit);
  if (firstError instanceof ApiError && firstError.status === 401) {
    return signOut('the key is no longer accepted');
  }
  $('error').textContent = firstError ? `Some panels could not load: ${firstError.message}` : '';
  renderAlerts();
  markView('tokenaudit-all-panels');
  state.refreshes += 1;
  document.body.dataset.refreshes = String(state.refreshes);
  document.body.dataset.shown = String(generation);  // the controls' state now on screen
}

// ---- panels

function renderKpis(answer) {
  const g = answer.groups[0] || { count: 0, tokens: '0.000', cost_micros: 0, distinct_users: 0,
                                  duration_p50: null, duration_p95: null };
  const set = (id, text, raw) => {
    const v = $(id).querySelector('.value');
    v.textContent = text;
    v.dataset.raw = String(raw);
  };
  set('kpi-count', int(g.count), g.count);
  set('kpi-tokens', fixed(g.tokens), g.tokens);
  set('kpi-cost', money(g.cost_micros), g.cost_micros);
  set('kpi-users', int(g.distinct_users), g.distinct_users);
  set('kpi-p50', ms(g.duration_p50), g.duration_p50);
  set('kpi-p95', ms(g.duration_p95), g.duration_p95);
}

function renderTrend(answer, { window, starts }) {
  $('trend-window').textContent = window;
  const byStart = new Map(answer.groups.map((g) => [Date.parse(g.time), g]));
  const slots = starts.map((s) => {
    const g = byStart.get(s.getTime());
    byStart.delete(s.getTime());
    return { start: s, g };
  });
  // Windows past the last expected one (records stamped in the future) still show.
  for (const [t, g] of byStart) {
    if (t > starts[starts.length - 1].getTime()) slots.push({ start: new Date(t), g });
  }
  barLineChart($('trend-chart'), {
    barName: 'tokens',
    lineName: 'cost',
    slots: slots.map(({ start, g }) => ({
      label: windowLabel(start, window).replace('week of ', ''),
      bar: g ? num(g.tokens) : 0,
      line: g ? g.cost_micros / 1e6 : 0,
      title: `${windowLabel(start, window)}: ${g ? fixed(g.tokens) : '0.000'} tokens, ` +
             `cost ${g ? money(g.cost_micros) : '0.000000'}, ${g ? g.count : 0} records`,
    })),
  });
  const rows = answer.groups.map((g) => {
    const tr = document.createElement('tr');
    tr.dataset.key = g.time;
    tr.append(td(windowLabel(g.time, window), 'c-window', g.time), td(int(g.count), 'c-count num'),
              td(fixed(g.tokens), 'c-tokens num'), td(money(g.cost_micros), 'c-cost num'));
    return tr;
  });
  fillTable('trend', rows.reverse());
}

function renderBreakdown(id, answer, dim) {
  const max = Math.max(0, ...answer.groups.map((g) => num(g.tokens)));
  const rows = answer.groups.map((g) => {
    const tr = document.createElement('tr');
    tr.dataset.key = g[dim] ?? '';
    tr.append(td(g[dim] ?? '(none)', 'c-key'), td(int(g.count), 'c-count num'),
              td(fixed(g.tokens), 'c-tokens num'), td(money(g.cost_micros), 'c-cost num'),
              td(int(g.duration_p50), 'c-p50 num'), td(int(g.duration_p95), 'c-p95 num'),
              barCell(max > 0 ? num(g.tokens) / max : 0));
    if (g[dim] !== null) {
      tr.addEventListener('click', () => setFilter(dim, g[dim]));
      tr.title = `show only ${dim} ${g[dim]}`;
    }
    return tr;
  });
  fillTable(id, rows);
  // Offer the values seen (unfiltered by this dimension) as suggestions.
  if (!state.filters[dim]) {
    const list = $(dim === 'model' ? 'models' : 'workflows');
    list.replaceChildren(...answer.groups.filter((g) => g[dim] !== null).map((g) => {
      const o = document.createElement('option');
      o.value = g[dim];
      return o;
    }));
  }
}

function renderRanking(answer) {
  const measure = state.rankBy;
  const value = (g) => (measure === 'cost' ? g.cost_micros : measure === 'count' ? g.count : num(g.tokens));
  const max = Math.max(0, ...answer.groups.map(value));
  const rows = answer.groups.map((g, i) => {
    const tr = document.createElement('tr');
    tr.dataset.key = g.user ?? '';
    tr.append(td(String(i + 1), 'c-rank num'), td(shortUser(g.user), 'c-key mono'),
              td(int(g.count), 'c-count num'), td(fixed(g.tokens), 'c-tokens num'),
              td(money(g.cost_micros), 'c-cost num'), barCell(max > 0 ? value(g) / max : 0));
    if (g.user) {
      tr.addEventListener('click', () => setFilter('user', g.user));
      tr.title = `show only ${g.user}`;
    }
    return tr;
  });
  fillTable('ranking', rows);
  if (!state.filters.user) {
    $('users').replaceChildren(...answer.groups.filter((g) => g.user).map((g) => {
      const o = document.createElement('option');
      o.value = g.user;
      return o;
    }));
  }
}

function renderScatter(buckets, fit) {
  const models = fit.groups.map((g) => g.model ?? '(none)');
  const maxCount = Math.max(1, ...buckets.groups.map((g) => g.count));
  const points = buckets.groups
      .filter((g) => g.resolution_mp !== null && g.duration_avg !== null)
      .map((g) => {
        const x = g.megapixels_avg !== null ? num(g.megapixels_avg) : num(g.resolution_mp) + 0.25;
        return {
          x, y: num(g.duration_avg), r: 3 + 9 * Math.sqrt(g.count / maxCount),
          series: g.model ?? '(none)',
          title: `${g.model ?? '(none)'}, ${fixed(g.resolution_mp)}–${(num(g.resolution_mp) + 0.5).toFixed(3)} MP: ` +
                 `${g.count} records, mean ${fixed(g.duration_avg)} ms at ${fixed(g.megapixels_avg, 6)} MP`,
        };
      });
  const lines = fit.groups
      .filter((g) => g.ms_per_megapixel !== null)
      .map((g) => ({ series: g.model ?? '(none)', slope: num(g.ms_per_megapixel),
                     intercept: num(g.ms_at_zero_megapixels) }));
  scatterChart($('scatter-chart'), { points, lines, series: models, xName: 'megapixels',
                                      yName: 'duration (ms)' });
  const rows = fit.groups.map((g, i) => {
    const tr = document.createElement('tr');
    tr.dataset.key = g.model ?? '';
    const name = td(g.model ?? '(none)', 'c-key');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = kPalette[i % kPalette.length];
    name.prepend(swatch);
    tr.append(name, td(int(g.count), 'c-count num'), td(fixed(g.ms_per_megapixel), 'c-slope num'),
              td(fixed(g.ms_at_zero_megapixels), 'c-intercept num'), td(fixed(g.fit_r2, 6), 'c-r2 num'));
    return tr;
  });
  fillTable('fit', rows);
}

function renderDuplicates(answer) {
  const rows = answer.clusters.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.key = `${c.user}/${c.input_hash_prefix}`;
    tr.append(td(shortUser(c.user), 'c-user mono'), td(c.model ?? '(none)', 'c-model'),
              td(c.input_hash_prefix, 'c-input mono'), td(int(c.runs), 'c-runs num'),
              td(localTime(c.first_time), 'c-first', c.first_time),
              td(localTime(c.last_time), 'c-last', c.last_time),
              td(fixed(c.repeat_tokens), 'c-tokens num'),
              td(money(c.repeat_cost_micros), 'c-cost num', `seqs ${c.seqs.join(', ')}`));
    return tr;
  });
  state.duplicateClusters = answer.clusters.length;
  fillTable('duplicates', rows, 'no repeated submissions in this span');
}

function renderAnomalies(answer) {
  const rows = answer.users.map((u) => {
    const m = u.most_extreme || {};
    const tr = document.createElement('tr');
    tr.dataset.key = u.user;
    tr.append(td(shortUser(u.user), 'c-user mono'), td(int(u.records), 'c-records num'),
              td(int(u.extreme), 'c-extreme num'), td(int(m.seq), 'c-seq num'),
              td(m.model ?? '(none)', 'c-model'), td(m.feature ?? '', 'c-feature'),
              td(fixed(m.value), 'c-value num'), td(fixed(m.z_user), 'c-zuser num'),
              td(fixed(m.z_all), 'c-zall num'));
    return tr;
  });
  state.anomalyUsers = answer.users.length;
  fillTable('anomalies', rows, 'no extreme records in this span');
}

function renderEvents(events) {
  const rows = events.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.seq = String(e.seq);
    tr.dataset.user = e.user ?? '';
    const w = e['input.width'];
    const h = e['input.height'];
    const cells = [td(String(e.seq), 'c-seq num'), td(localTime(e.time), 'c-time', e.time)];
    if (isReader()) cells.push(td(shortUser(e.user), 'c-user mono'));
    cells.push(td(e['gen_ai.request.model'] ?? '', 'c-model'), td(e.workflow ?? '', 'c-workflow'),
               td(e.status ?? '', `c-status status-${e.status}`), td(int(e.duration_ms), 'c-ms num'),
               td(w && h ? `${w}×${h}` : '', 'c-input num'),
               td(milli(e['usage.estimated_tokens_milli'] ?? 0), 'c-tokens num'),
               td(e.cost_micros === undefined ? '—' : money(e.cost_micros), 'c-cost num'));
    tr.append(...cells);
    return tr;
  });
  fillTable('events', rows, 'no records match');
}

function renderHealth(checkpoint, metrics) {
  const items = [];
  const add = (id, label, value, title) => items.push([id, label, value, title]);
  if (checkpoint) {
    const t = checkpoint.time_unix_micros / 1000;
    add('h-cp-size', 'last checkpoint', `${checkpoint.tree_size} records`, checkpoint.root);
    add('h-cp-time', 'checkpoint time', localTime(new Date(t)));
    add('h-cp-age', 'checkpoint age', age((Date.now() - t) / 1000));
  } else {
    add('h-cp-size', 'last checkpoint', 'none yet');
  }
  if (metrics) {
    const failed = metric(metrics, 'tokenaudit_ledger_failed') === 1;
    add('h-state', 'ledger', failed ? 'FAILED (read-only)' : 'ok');
    add('h-size', 'log size', String(metric(metrics, 'tokenaudit_ledger_size')));
    add('h-queue', 'queue depth', String(metric(metrics, 'tokenaudit_ledger_queue_depth')));
    const n = metric(metrics, 'tokenaudit_fsync_seconds_count');
    const sum = metric(metrics, 'tokenaudit_fsync_seconds_sum');
    add('h-fsync-mean', 'fsync mean', n > 0 ? secondsAsMs(sum / n) : '—', `${n} fsyncs`);
    const p99 = histogramQuantile(metrics, 'tokenaudit_fsync_seconds', 0.99);
    add('h-fsync-p99', 'fsync p99', Number.isFinite(p99) ? `≤ ${secondsAsMs(p99)}` : (n > 0 ? '> 250 ms' : '—'));
    add('h-ingested', 'records ingested (since start)',
        String(metric(metrics, 'tokenaudit_ingested_records_total')));
  }
  const dl = $('health');
  dl.replaceChildren(...items.flatMap(([id, label, value, title]) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.id = id;
    dd.textContent = value;
    if (title) dd.title = title;
    return [dt, dd];
  }));
  state.health = { checkpoint, failed: metrics && metric(metrics, 'tokenaudit_ledger_failed') === 1 };
}

function renderAlerts() {
  const alerts = [];
  const h = state.health || {};
  if (h.failed) alerts.push(['bad', 'The ledger is FAILED: new records are refused until a restart.']);
  if (h.checkpoint) {
    const a = (Date.now() - h.checkpoint.time_unix_micros / 1000) / 1000;
    if (a > 120 && state.size > h.checkpoint.tree_size) {
      alerts.push(['warn', `No checkpoint for ${age(a)} although records arrived.`]);
    }
  }
  if (isReader() && state.anomalyUsers) {
    alerts.push(['warn', `${state.anomalyUsers} user(s) with extreme records (see Anomalies).`]);
  }
  if (state.duplicateClusters) {
    alerts.push(['info', `${state.duplicateClusters} repeated submission cluster(s) (see Duplicate submissions).`]);
  }
  $('alerts').replaceChildren(...alerts.map(([level, text]) => {
    const d = document.createElement('div');
    d.className = `alert ${level}`;
    d.textContent = text;
    return d;
  }));
}

// ---- live

// Runs one refresh unless one is running (then the next tick does). Clears `dirty`.
async function refreshNow() {
  if (state.refreshing) {
    state.dirty = true;
    return;
  }
  state.dirty = false;
  state.refreshing = true;
  try {
    await refresh();
  } finally {
    state.refreshing = false;
  }
}

// One tick: health and the change signal (cheap, unaudited), and a full refresh when something
// changed. A change known before the tick (sign-in, a control, the span rolling over) is
// refreshed at once, alongside the probe, so the first view does not wait for it.
async function tick() {
  if (!state.api) return;
  try {
    const reader = isReader();
    const oldFrom = state.from;
    computeSpan();
    if (oldFrom !== state.from) state.dirty = true;
    const probed = Promise.all([
      state.api.checkpoint(),
      reader ? state.api.metrics() : Promise.resolve(null),
      // A user's own records in the shown span: user reads are not audited, and the count moves
      // only with new records that the panels (all limited to the span) would show. Limited to
      // the span so that it reads only the span's chunks, not the whole log, every second.
      reader ? Promise.resolve(null) : state.api.usage([['from', state.from], ['measures', 'count']]),
    ]).then(([checkpoint, metrics, own]) => {
      state.checkpoint = checkpoint;
      state.size = reader ? metric(metrics, 'tokenaudit_ledger_size')
                          : (checkpoint ? checkpoint.tree_size : 0);
      renderHealth(checkpoint, metrics);
      return reader ? metric(metrics, 'tokenaudit_ingested_records_total')
                    : (own.groups.length ? own.groups[0].count : 0);
    });
    // Recent records start from the log size the probe reads.
    state.probed = probed.catch(() => null);
    let early = null;
    if (state.dirty) {
      // Once more on the next tick: a record may land while this refresh runs.
      state.settle = true;
      early = refreshNow();
    }
    const [probe] = await Promise.all([probed, early]);
    if (!state.api) return;
    const moved = probe !== state.probe;
    state.probe = probe;
    setLive(true);
    if (!early && (moved || state.settle)) {
      // A record counted by the probe is already queryable (the ingest path indexes before it
      // counts); refresh once more on the next tick in case another lands mid-refresh.
      state.settle = moved;
      await refreshNow();
    } else {
      renderAlerts();
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signOut('the key is no longer accepted');
    setLive(false, e.message);
  } finally {
    if (state.api) {
      clearTimeout(state.timer);
      state.timer = setTimeout(tick, kProbeMs);
    }
  }
}

// Marks the first time the core panels (`tokenaudit-first-view`: totals, trend, breakdowns,
// ranking) and then every panel (`tokenaudit-all-panels`) are drawn after the page loads.
function markView(name) {
  if (state.marked.has(name)) return;
  state.marked.add(name);
  performance.mark(name);
  if (name === 'tokenaudit-all-panels') document.body.dataset.ready = '1';
}

function setLive(ok, why = '') {
  $('live').classList.toggle('down', !ok);
  $('live-text').textContent = ok ? `live · ${localTime(new Date()).slice(11)}` : `offline: ${why}`;
}

// Applies a filter change now (no wait for the next tick).
function applyNow() {
  state.generation += 1;
  document.body.dataset.wanted = String(state.generation);
  state.dirty = true;
  clearTimeout(state.timer);
  state.timer = setTimeout(tick, 0);
}

function setFilter(dim, value) {
  state.filters[dim] = value;
  $(`f-${dim}`).value = value;
  applyNow();
}

function readControls() {
  state.window = $('window').value;
  for (const k of ['model', 'workflow', 'status', 'user']) state.filters[k] = $(`f-${k}`).value.trim();
  const n = kWindowCounts[state.window];
  $('span').textContent = `last ${n} ${state.window}s, times in ${state.zone}`;
}

// ---- sign-in

async function signIn(key) {
  const api = new Api(key);
  const who = await api.whoami();
  if (who.role === 'ingest') {
    throw new ApiError(403, 'forbidden', 'an ingest key may write records but not read them');
  }
  storeKey(key);
  state.api = api;
  state.who = who;
  state.probe = null;
  document.body.dataset.role = who.role;
  $('who-role').textContent = who.role;
  const parts = [`key ${who.key_id}`];
  if (who.user) parts.push(`user ${who.user}`);
  if (who.name) parts.push(who.name);
  parts.push(who.tenant ? `tenant ${who.tenant}` : 'all tenants');
  $('who-detail').textContent = parts.join(' · ');
  for (const e of document.querySelectorAll('.admin-only')) e.hidden = !isReader();
  $('sign-in').hidden = true;
  $('who').hidden = false;
  $('dashboard').hidden = false;
  readControls();
  state.dirty = true;
  clearTimeout(state.timer);
  await tick();
}

function signOut(why = '') {
  forgetKey();
  clearTimeout(state.timer);
  state.api = null;
  state.who = null;
  state.marked.clear();
  delete document.body.dataset.role;
  delete document.body.dataset.ready;
  $('dashboard').hidden = true;
  $('who').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = why;
  $('key').value = '';
  $('key').focus();
}

function main() {
  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('sign-in-error').textContent = '';
    try {
      await signIn($('key').value.trim());
    } catch (e) {
      forgetKey();
      $('sign-in-error').textContent =
          e instanceof ApiError && e.status === 401 ? 'This key is not accepted.' : e.message;
    }
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('controls').addEventListener('submit', (ev) => {
    ev.preventDefault();
    readControls();
    applyNow();
  });
  for (const id of ['window', 'f-status']) {
    $(id).addEventListener('change', () => {
      readControls();
      applyNow();
    });
  }
  $('clear').addEventListener('click', () => {
    for (const k of ['model', 'workflow', 'status', 'user']) $(`f-${k}`).value = '';
    readControls();
    applyNow();
  });
  $('rank-by').addEventListener('change', () => {
    state.rankBy = $('rank-by').value;
    applyNow();
  });
  const key = storedKey();
  if (key) {
    signIn(key).catch((e) => signOut(e.message));
  } else {
    signOut();
  }
}

main();
