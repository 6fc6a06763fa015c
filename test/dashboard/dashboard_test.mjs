// Browser test of the dashboard: the real `tokenaudit serve`, real keys, records ingested over
// HTTP, and Debian's chromium driven by playwright-core. Run by run.sh (which installs
// playwright-core); usage: node dashboard_test.mjs TOKENAUDIT_BIN ARTIFACT_DIR [CHROMIUM]
//
// Asserts: sign-in as admin and as a user; every number on the page equals the API's answer to
// the same query (same text, not just the same value), also after 140,000 more records; filters change what the page asks and
// shows; a user key sees only its own records and cannot reach another user's; a new record
// shows within 2 s without a reload; the key never appears in a URL. Screenshots and the
// first-view time go to ARTIFACT_DIR.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [bin, artifacts, chromiumPath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node dashboard_test.mjs TOKENAUDIT_BIN ARTIFACT_DIR [CHROMIUM]');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const kPseudonymKey = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const kZone = 'Europe/Berlin';
const t0 = Date.now();
let failures = 0;
const results = [];

function check(cond, what, detail = '') {
  results.push(`${cond ? 'ok  ' : 'FAIL'} ${what}${cond ? '' : `: ${detail}`}`);
  console.log(results[results.length - 1]);
  if (!cond) failures += 1;
}
// JSON with object keys sorted, so equal objects compare equal whatever their key order.
function canonical(v) {
  return JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}
function eq(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  check(a === e, what, `\n  page: ${a}\n  api:  ${e}`);
}

// ---- server

const dir = mkdtempSync(join(tmpdir(), 'ta_dash_'));
const data = join(dir, 'data');
const env = { ...process.env, TOKENAUDIT_PSEUDONYM_KEY: kPseudonymKey };

function createKey(role, name) {
  return execFileSync(bin, ['keys', 'create', '--data-dir', data, '--role', role, '--name', name],
                      { env, cwd: dir }).toString().trim();
}
const keys = {
  admin: createKey('admin', 'ops-admin'),
  alice: createKey('user', 'alice'),
  bob: createKey('user', 'bob'),
  ingest: createKey('ingest', 'comfy-gateway'),
};

const server = spawn(bin, ['serve', '--data-dir', data, '--listen', '127.0.0.1:0'],
                     { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
const base = await new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`serve did not start:\n${serverLog}`)), 30000);
  server.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${serverLog}`)));
});
process.on('exit', () => server.kill('SIGKILL'));

async function api(key, target) {
  const res = await fetch(base + target, { headers: { Authorization: `Bearer ${key}` } });
  return { status: res.status, text: await res.text() };
}
// The API's JSON with every fractional number kept as its text ("938.400"), as the page shows it.
function exact(text) {
  return JSON.parse(text.replace(/([:\[,])(-?\d+\.\d+)(?=[,}\]])/g, '$1"$2"'));
}
async function apiJson(key, target) {
  const r = await api(key, target);
  if (r.status !== 200) throw new Error(`${target}: ${r.status} ${r.text}`);
  return exact(r.text);
}
function money(micros) {
  const s = String(micros).padStart(7, '0');
  return `${s.slice(0, -6)}.${s.slice(-6)}`;
}

for (let i = 0; i < 100; ++i) {
  const r = await fetch(`${base}/readyz`).catch(() => null);
  if (r && r.status === 200) break;
  await new Promise((res) => setTimeout(res, 100));
}

// ---- data: three users, three models, four workflows over the last days, with repeats and one
// extreme input.

const kModels = [['ddcolor_paper_tiny', 'DDColor_Colorize', 'image_colorization'],
                 ['realesrgan_x4plus', 'UpscaleModelLoader', 'video_enhancement'],
                 ['ddcolor_modelscope', 'DDColor_Colorize', 'image_colorization']];
const kWorkflows = ['portrait', 'archive-batch', 'film-restore', 'DDColor人物黑白修复'];
const kStatuses = ['success', 'success', 'success', 'success', 'error', 'cached'];
let nextId = 0;
function iso(ms) {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
function record(user, { minutesAgo, model = 0, workflow = 0, w = 640, h = 480, status = 'success',
                        hash = null, duration = null }) {
  const end = Date.now() - minutesAgo * 60000;
  const [name, node, task] = kModels[model];
  const mp = (w * h) / 1e6;
  const ms = duration ?? Math.round(300 + mp * (model === 1 ? 2400 : 900) + (nextId % 7) * 13);
  const id = `dash-${nextId++}`;
  return {
    id, source: 'test/dashboard', tenant: 'city-archive', user,
    start_time: iso(end - ms), time: iso(end), duration_ms: ms, task_type: task,
    workflow: kWorkflows[workflow], node_id: '2', node_type: node, 'gen_ai.request.model': name,
    device: 'cuda', 'input.width': w, 'input.height': h, 'input.batch': 1,
    'input.model_input_size': 512,
    'input.hash': `sha256:${(hash ?? id).padEnd(64, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 64)}`,
    status,
  };
}
const batch = [];
const sizes = [[460, 680], [640, 480], [1024, 768], [1280, 960], [1920, 1080], [2048, 1536]];
for (let i = 0; i < 240; ++i) {
  const user = ['alice', 'bob', 'carol'][i % 3];
  const [w, h] = sizes[(i * 7) % sizes.length];
  batch.push(record(user, {
    minutesAgo: (i * 37) % (6 * 24 * 60), model: Math.floor(i / 2) % 3, workflow: (i * 3) % 4, w, h,
    status: kStatuses[Math.floor(i / 3) % kStatuses.length],
  }));
}
// Repeats: bob runs the same input three times within the hour; alice twice.
for (const [user, n, hash] of [['bob', 3, 'b0b'], ['alice', 2, 'a11ce']]) {
  for (let j = 0; j < n; ++j) batch.push(record(user, { minutesAgo: 90 - j * 10, hash, w: 1024, h: 768 }));
}
// An extreme input: 24 MP for carol, who otherwise sends at most 3 MP.
batch.push(record('carol', { minutesAgo: 30, w: 6000, h: 4000 }));
const posted = await fetch(`${base}/v1/events`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${keys.ingest}`, 'Content-Type': 'application/json' },
  body: JSON.stringify(batch),
});
check(posted.status === 200, `ingested ${batch.length} records over HTTP`, await posted.text());

// ---- browser

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const consoleErrors = [];
let expectRefusals = false;  // while the test itself provokes 401/403 answers

async function openSignedIn(key, name) {
  const context = await browser.newContext({ timezoneId: kZone, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    // GET /v1/checkpoint is 404 until the first checkpoint is written: expected, not an error.
    const expected = expectRefusals || (m.location().url || '').endsWith('/v1/checkpoint');
    if (m.type() === 'error' && !expected) consoleErrors.push(`${name}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${name}: ${e.message}`));
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${base}/`);
  await page.waitForSelector('#sign-in-form', { state: 'visible' });
  await page.fill('#key', key);
  const started = Date.now();
  await page.click('#sign-in-button');
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  const signInToView = Date.now() - started;
  return { context, page, requests, signInToView };
}

// Text of every cell of a table's body, by row: [[cell, ...], ...].
async function tableRows(page, id, selector = 'td') {
  return page.$$eval(`#${id} tbody tr`, (trs, sel) => trs
      .filter((tr) => !tr.querySelector('td.empty'))
      .map((tr) => [...tr.querySelectorAll(sel)].map((td) => td.textContent)), selector);
}
async function kpis(page) {
  return page.$$eval('.kpi', (els) => Object.fromEntries(
      els.filter((e) => !e.hidden).map((e) => [e.id, e.querySelector('.value').textContent])));
}
async function pageParams(page) {
  return page.evaluate(() => ({ from: document.body.dataset.from, zone: document.body.dataset.zone }));
}
// Waits for a refresh after `after` that shows the controls as they are now.
async function waitRefresh(page, after) {
  await page.waitForFunction((n) => Number(document.body.dataset.refreshes) > n &&
                                    document.body.dataset.shown === (document.body.dataset.wanted ?? '0'),
                             after, { timeout: 10000 });
}
async function refreshes(page) {
  return page.evaluate(() => Number(document.body.dataset.refreshes || 0));
}

// The page's panels against the API, for a key and filter string `f` ("&model=x" or "").
async function compareAll(page, key, f, label, reader) {
  const { from, zone } = await pageParams(page);
  eq(zone, kZone, `${label}: the page sends the browser's zone`);
  const span = `from=${encodeURIComponent(from)}${f}`;
  const agg = `${span}&tz=${encodeURIComponent(zone)}`;
  const k = (await apiJson(key, `/v1/usage?${agg}&measures=count,tokens,cost,distinct_users,duration_p50,duration_p95`)).groups[0] ??
      { count: 0, tokens: '0.000', cost_micros: 0, distinct_users: 0, duration_p50: null, duration_p95: null };
  const orDash = (v) => (v === null ? '—' : String(v));
  const expectK = {
    'kpi-count': String(k.count), 'kpi-tokens': k.tokens, 'kpi-cost': money(k.cost_micros),
    'kpi-p50': orDash(k.duration_p50), 'kpi-p95': orDash(k.duration_p95),
  };
  if (reader) expectK['kpi-users'] = String(k.distinct_users);
  eq(await kpis(page), expectK, `${label}: totals equal /v1/usage`);

  const windowName = await page.$eval('#window', (s) => s.value);
  const trend = await apiJson(key, `/v1/usage?${agg}&window=${windowName}&measures=count,tokens,cost`);
  eq(await tableRows(page, 'trend', 'td:not(.c-window)'),
     trend.groups.slice().reverse().map((g) => [String(g.count), g.tokens, money(g.cost_micros)]),
     `${label}: tokens and cost per ${windowName} equal /v1/usage?window=${windowName}`);
  const trendStarts = await page.$$eval('#trend tbody td.c-window', (tds) => tds.map((t) => t.title));
  eq(trendStarts, trend.groups.slice().reverse().map((g) => g.time), `${label}: window starts equal the API's`);

  for (const dim of ['model', 'workflow']) {
    const a = await apiJson(key, `/v1/usage?${agg}&group_by=${dim}&order_by=tokens&limit=15&measures=count,tokens,cost,duration_p50,duration_p95`);
    eq(await tableRows(page, `by-${dim}`, 'td:not(.barcell)'),
       a.groups.map((g) => [g[dim], String(g.count), g.tokens, money(g.cost_micros),
                            String(g.duration_p50), String(g.duration_p95)]),
       `${label}: by ${dim} equals /v1/usage?group_by=${dim}`);
  }
  const fit = await apiJson(key, `/v1/usage?${agg}&group_by=model&measures=count,ms_per_megapixel,ms_at_zero_megapixels,fit_r2`);
  eq(await tableRows(page, 'fit'),
     fit.groups.map((g) => [g.model, String(g.count), ...[g.ms_per_megapixel, g.ms_at_zero_megapixels, g.fit_r2]
         .map((v) => (v === null ? '—' : v))]),
     `${label}: fitted ms per megapixel equals /v1/usage measures`);
  const buckets = await apiJson(key, `/v1/usage?${agg}&group_by=resolution,model&resolution_step=0.5&measures=count,duration_avg,megapixels_avg`);
  const points = await page.$$eval('#scatter-chart circle.point', (cs) => cs.length);
  eq(points, buckets.groups.filter((g) => g.resolution_mp !== null).length,
     `${label}: one scatter point per resolution bucket and model`);

  const dup = await apiJson(key, `/v1/duplicates?${span}&limit=20`);
  eq(await tableRows(page, 'duplicates', 'td.c-user, td.c-runs, td.c-tokens, td.c-cost'),
     dup.clusters.map((c) => [c.user, String(c.runs), c.repeat_tokens, money(c.repeat_cost_micros)]),
     `${label}: duplicate submissions equal /v1/duplicates`);

  if (reader) {
    const top = await apiJson(key, `/v1/top?${agg}&by=user&measure=cost&k=10&measures=count,tokens,cost`);
    eq(await tableRows(page, 'ranking', 'td:not(.barcell):not(.c-rank)'),
       top.groups.map((g) => [g.user, String(g.count), g.tokens, money(g.cost_micros)]),
       `${label}: user ranking equals /v1/top?by=user&measure=cost`);
    const an = await apiJson(key, `/v1/anomalies?${span}&limit=20`);
    eq(await tableRows(page, 'anomalies', 'td.c-user, td.c-extreme, td.c-seq, td.c-value, td.c-zuser, td.c-zall'),
       an.users.map((u) => [u.user, String(u.extreme), String(u.most_extreme.seq), u.most_extreme.value,
                            u.most_extreme.z_user, u.most_extreme.z_all]),
       `${label}: anomalies equal /v1/anomalies`);
  }

  // Recent records: the newest 50 matching, from the API's full listing.
  const evFilter = f.replace(/&?(from|tz)=[^&]*/g, '');
  let all = [];
  for (let cursor = '0'; cursor !== null;) {
    const r = await apiJson(key, `/v1/events?from=${encodeURIComponent(from)}${evFilter}&limit=1000&cursor=${cursor}`);
    all = all.concat(r.events);
    cursor = r.next_cursor;
  }
  const newest = all.slice(-50).reverse();
  const pageSeqs = await page.$$eval('#events tbody tr[data-seq]', (trs) => trs.map((t) => Number(t.dataset.seq)));
  eq(pageSeqs, newest.map((e) => e.seq), `${label}: recent records equal /v1/events (newest 50)`);
  const tokenCells = await page.$$eval('#events tbody td.c-tokens', (tds) => tds.map((t) => t.textContent));
  eq(tokenCells, newest.map((e) => {
    const s = String(e['usage.estimated_tokens_milli']).padStart(4, '0');
    return `${s.slice(0, -3)}.${s.slice(-3)}`;
  }), `${label}: record tokens equal usage.estimated_tokens_milli / 1000`);
  return { count: k.count };
}

// ---- admin

const admin = await openSignedIn(keys.admin, 'admin');
let page = admin.page;
console.log(`sign-in click to every panel drawn: ${admin.signInToView} ms`);
eq(await page.$eval('#who-role', (e) => e.textContent), 'admin', 'admin: role detected from /v1/whoami');
eq(await page.$eval('#window', (e) => e.value), 'hour', 'the first view shows the last 48 hours');
check(admin.requests.every((u) => !u.includes(keys.admin) && !u.includes('ta_')),
      'the key never appears in a URL', admin.requests.filter((u) => u.includes('ta_')).join(' '));
eq(await page.evaluate(() => sessionStorage.getItem('tokenaudit.key')), keys.admin,
   'the key is kept in sessionStorage');
check(admin.requests.every((u) => u.startsWith(base)), 'nothing is fetched from another origin',
      admin.requests.filter((u) => !u.startsWith(base)).join(' '));
for (const id of ['panel-ranking', 'panel-anomalies']) {
  check(await page.isVisible(`#${id}`), `admin: ${id} shown`);
}
const adminTotals = await compareAll(page, keys.admin, '', 'admin', true);
// The first checkpoint comes within a second or so of the first records; the panel follows.
await page.waitForFunction(() => /^\d+ records$/.test(document.getElementById('h-cp-size')?.textContent || ''),
                           null, { timeout: 10000 });
const health = await page.$$eval('#health dd', (dds) => Object.fromEntries(dds.map((d) => [d.id, d.textContent])));
const cp = await apiJson(keys.admin, '/v1/checkpoint');
check(Number(health['h-cp-size'].split(' ')[0]) <= cp.tree_size && cp.tree_size > 0,
      'health: last checkpoint from /v1/checkpoint', `${JSON.stringify(health)} vs tree_size ${cp.tree_size}`);
check(/^\d+ (s|min)/.test(health['h-cp-age'] || ''), 'health: checkpoint age shown', health['h-cp-age']);
check(/ms$/.test(health['h-fsync-mean'] || '') && /^\d+$/.test(health['h-queue'] || ''),
      'health: fsync latency and queue depth from /metrics', JSON.stringify(health));
check((await page.$$eval('#alerts .alert', (a) => a.map((x) => x.textContent))).some((t) => /extreme/.test(t)),
      'admin: the anomaly shows in the alerts');
await page.screenshot({ path: join(artifacts, 'admin.png'), fullPage: true });
// A returning tab: the key is in sessionStorage, the page opens straight into the dashboard.
await page.reload();
await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
const reloadView = await page.evaluate(() => performance.getEntriesByName('tokenaudit-first-view')[0].startTime);
// Timing is the benchmark's (bench/dashboard); here it is only reported.
console.log(`first view after a reload (navigation start to the first-view panels drawn): ${reloadView.toFixed(0)} ms`);

// Filters: a click on a model row filters every panel; a status and the window change too.
let n = await refreshes(page);
await page.click('#by-model tbody tr[data-key="realesrgan_x4plus"]');
await waitRefresh(page, n);
eq(await page.$eval('#f-model', (e) => e.value), 'realesrgan_x4plus', 'filter: clicking a model sets the filter');
const filtered = await compareAll(page, keys.admin, '&model=realesrgan_x4plus', 'admin, model filter', true);
check(filtered.count < adminTotals.count && filtered.count > 0, 'filter: fewer records with a model filter',
      `${filtered.count} vs ${adminTotals.count}`);
const models = await page.$$eval('#events tbody td.c-model', (tds) => [...new Set(tds.map((t) => t.textContent))]);
eq(models, ['realesrgan_x4plus'], 'filter: recent records all of the filtered model');
n = await refreshes(page);
await page.selectOption('#f-status', 'error');
await waitRefresh(page, n);
await compareAll(page, keys.admin, '&model=realesrgan_x4plus&status=error', 'admin, model+status filter', true);
eq(await page.$$eval('#events tbody td.c-status', (tds) => [...new Set(tds.map((t) => t.textContent))]),
   ['error'], 'filter: recent records all with the filtered status');
n = await refreshes(page);
await page.fill('#f-user', 'bob');
await page.click('#apply');
await waitRefresh(page, n);
await compareAll(page, keys.admin, '&model=realesrgan_x4plus&status=error&user=bob', 'admin, user filter by raw name', true);
n = await refreshes(page);
await page.click('#clear');
await page.selectOption('#window', 'day');
await waitRefresh(page, n);
await page.waitForFunction(() => document.getElementById('trend-window').textContent === 'day');
await compareAll(page, keys.admin, '', 'admin, daily window', true);
await page.screenshot({ path: join(artifacts, 'admin_daily.png'), fullPage: true });
n = await refreshes(page);
await page.selectOption('#window', 'week');
await waitRefresh(page, n);
await compareAll(page, keys.admin, '', 'admin, weekly window', true);

// Live: a new record shows without a reload within 2 s.
const before = Number(await page.$eval('#kpi-count .value', (e) => e.textContent));
const liveRecord = record('alice', { minutesAgo: 0, model: 2, workflow: 0 });
const sent = Date.now();
const live = await fetch(`${base}/v1/events`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${keys.ingest}`, 'Content-Type': 'application/json' },
  body: JSON.stringify(liveRecord),
});
const liveSeq = (await live.json()).seq;
await page.waitForFunction((want) => Number(document.querySelector('#kpi-count .value').textContent) === want,
                           before + 1, { timeout: 5000 });
const liveMs = Date.now() - sent;
check(liveMs <= 2000, `live: a new record shows within 2 s (took ${liveMs} ms)`, `${liveMs} ms`);
await page.waitForSelector(`#events tbody tr[data-seq="${liveSeq}"]`, { timeout: 3000 });
check(true, 'live: the new record is first among recent records');
eq(await page.$eval('#events tbody tr', (tr) => tr.dataset.seq), String(liveSeq), 'live: newest record on top');
await compareAll(page, keys.admin, '', 'admin after the live record', true);

// ---- user alice

const alicePseudonym = (await apiJson(keys.alice, '/v1/whoami')).user;
const bobPseudonym = (await apiJson(keys.bob, '/v1/whoami')).user;
const user = await openSignedIn(keys.alice, 'alice');
page = user.page;
eq(await page.$eval('#who-role', (e) => e.textContent), 'user', 'user: role detected from /v1/whoami');
for (const id of ['panel-ranking', 'panel-anomalies', 'kpi-users']) {
  check(!(await page.isVisible(`#${id}`)), `user: ${id} hidden`);
}
const aliceTotals = await compareAll(page, keys.alice, '', 'user alice', false);
check(aliceTotals.count > 0 && aliceTotals.count < adminTotals.count + 1,
      'user: totals are the user\'s own, not everyone\'s', `${aliceTotals.count} vs ${adminTotals.count}`);
eq(await page.$$eval('#events tbody tr[data-seq]', (trs) => [...new Set(trs.map((t) => t.dataset.user))]),
   [alicePseudonym], 'user: every recent record is the user\'s own');
const body = await page.evaluate(() => document.body.innerText);
check(!body.includes(bobPseudonym), 'user: another user\'s pseudonym appears nowhere on the page');
expectRefusals = true;
const reach = await page.evaluate(async (bob) => {
  const key = sessionStorage.getItem('tokenaudit.key');
  const get = async (t) => (await fetch(t, { headers: { Authorization: `Bearer ${key}` } })).status;
  return {
    usage: await get(`/v1/usage?user=${bob}`),
    usageRaw: await get('/v1/usage?user=bob'),
    events: await get(`/v1/events?user=${bob}`),
    top: await get('/v1/top?by=user&user=bob'),
    duplicates: await get('/v1/duplicates?user=bob'),
    anomalies: await get('/v1/anomalies'),
    metrics: await get('/metrics'),
  };
}, bobPseudonym);
expectRefusals = false;
eq(reach, { usage: 403, usageRaw: 403, events: 403, top: 403, duplicates: 403, anomalies: 403, metrics: 403 },
   'user: every read of another user\'s data is refused');
n = await refreshes(page);
await page.selectOption('#f-status', 'error');
await waitRefresh(page, n);
await compareAll(page, keys.alice, '&status=error', 'user alice, status filter', false);
await page.screenshot({ path: join(artifacts, 'user.png'), fullPage: true });

// Sign-out forgets the key; a bad key is refused with a message.
await page.click('#sign-out');
expectRefusals = true;
eq(await page.evaluate(() => sessionStorage.getItem('tokenaudit.key')), null, 'sign-out forgets the key');
await page.fill('#key', 'ta_not_a_key');
await page.click('#sign-in-button');
await page.waitForFunction(() => document.getElementById('sign-in-error').textContent !== '');
eq(await page.$eval('#sign-in-error', (e) => e.textContent), 'This key is not accepted.', 'a bad key is refused');
await page.screenshot({ path: join(artifacts, 'sign_in_refused.png') });
const ingestPage = await browser.newPage();
await ingestPage.goto(`${base}/`);
await ingestPage.fill('#key', keys.ingest);
await ingestPage.click('#sign-in-button');
await ingestPage.waitForFunction(() => document.getElementById('sign-in-error').textContent !== '');
check(/ingest key/.test(await ingestPage.$eval('#sign-in-error', (e) => e.textContent)),
      'an ingest key is told it cannot read');

// ---- a larger ledger: 140,000 more records in the last 47 hours (more than two full query-engine
// chunks of 65,536 rows), 200 more users; the first view, as admin and as a user, must still
// show exactly the API's answers. (Timing at 10M records is bench/dashboard's.)
const kLargeRecords = 140000;
const kBatchRecords = 10000;
let largeAccepted = 0;
for (let start = 0; start < kLargeRecords; start += kBatchRecords) {
  const lines = [];
  for (let i = start; i < start + kBatchRecords; ++i) {
    const [w, h] = sizes[(i * 7) % sizes.length];
    const user = i % 10 === 0 ? ['alice', 'bob', 'carol'][(i / 10) % 3] : `member-${(i * 7919) % 200}`;
    lines.push(JSON.stringify(record(user, {
      minutesAgo: (i * 47 * 60) / kLargeRecords, model: (i * 5) % 3, workflow: (i * 3) % 4, w, h,
      status: kStatuses[i % kStatuses.length], hash: i % 50 === 0 ? `r${i % 1000}` : null,
    })));
  }
  const res = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${keys.ingest}`, 'Content-Type': 'application/x-ndjson' },
    body: `${lines.join('\n')}\n`,
  });
  const r = await res.json();
  largeAccepted += r.accepted ?? 0;
}
eq(largeAccepted, kLargeRecords, `larger ledger: ${kLargeRecords} more records ingested over HTTP`);
for (const [key, name, reader] of [[keys.admin, 'admin', true], [keys.alice, 'alice', false]]) {
  const large = await openSignedIn(key, `${name} (large)`);
  const shown = await compareAll(large.page, key, '', `${name}, ${kLargeRecords + batch.length + 1} records`, reader);
  check(shown.count > (reader ? kLargeRecords : kLargeRecords / 40),
        `${name}: the first view covers the larger ledger's last 48 hours`, String(shown.count));
  if (reader) await large.page.screenshot({ path: join(artifacts, 'admin_large.png'), fullPage: true });
  await large.context.close();
}

eq(consoleErrors, [], 'no script errors in the browser console');
await browser.close();
server.kill('SIGTERM');

const summary = {
  records: batch.length + 1, sign_in_to_view_ms: admin.signInToView,
  first_view_after_reload_ms: Math.round(reloadView),
  user_sign_in_to_view_ms: user.signInToView, live_update_ms: liveMs, total_s: (Date.now() - t0) / 1000,
  failures,
};
writeFileSync(join(artifacts, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(join(artifacts, 'results.txt'), `${results.join('\n')}\n`);
console.log(JSON.stringify(summary));
if (failures === 0) rmSync(dir, { recursive: true, force: true });
else console.log(`data dir kept: ${dir}\nserver log:\n${serverLog.slice(-4000)}`);
process.exit(failures ? 1 : 0);
