// The dashboard's first view against a running `tokenaudit serve` (issue 6: "with 10M records in
// the ledger, the first view is interactive within 1 s"). Run by run_dashboard_bench.sh.
//
//   node first_view_bench.mjs URL ADMIN_KEY_FILE USER_KEY_FILE OUT_DIR [RUNS] [ZONE] [WINDOW]
//
// For each role (admin, then user) in a fresh browser context (Debian chromium headless through
// playwright-core, viewport 1400x1000, time zone ZONE, default Europe/Berlin; WINDOW hour, day or
// week instead of the page's default window): signs in once
// (warm-up, timed from the click), then reloads the signed-in tab RUNS times. Per load:
//
//   first view   navigation start -> performance mark `tokenaudit-first-view`, which the page
//                sets right after the last first-view panel is drawn from its API answer
//                (doc/dashboard.md lists them);
//   input delay  as soon as the mark is seen, a real key press (Shift, changes nothing) is sent
//                through the browser; a capturing keydown listener records the time from the
//                event's timestamp to its handler (how long input waits for the main thread);
//   interactive  the first view when the key press was handled within 50 ms (the page responds
//                to input as soon as its first view is drawn), else the time the key was handled;
//   all panels   navigation start -> mark `tokenaudit-all-panels`.
//
// Also per load: long tasks (> 50 ms) before the first view, and every API request of the load
// (start, time to first byte, end relative to navigation start). After the loads, each
// first-view request of the last load is sent again alone from node (sequentially, 3 times,
// median): what that query costs the server without the others competing.
//
// Then checks that the first-view panels of the last load show exactly the API's answers to the
// same queries (exit status 1 if not, or on a script error in the page). Prints a summary and
// writes OUT_DIR/first_view_bench.json and one screenshot per role.

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';

// playwright-core as installed (pinned) by test/dashboard/run.sh.
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../test/dashboard/package.json'));
const { chromium } = require('playwright-core');

const [base, adminKeyFile, userKeyFile, out, runsText = '7', zone = 'Europe/Berlin', window = ''] =
    process.argv.slice(2);
if (!base || !adminKeyFile || !userKeyFile || !out) {
  console.error('usage: node first_view_bench.mjs URL ADMIN_KEY_FILE USER_KEY_FILE OUT_DIR [RUNS] [ZONE] [WINDOW]');
  process.exit(2);
}
const runs = Number(runsText);
mkdirSync(out, { recursive: true });
const kTimeout = 120000;
const kInputBudgetMs = 50;

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const path = (u) => u.replace(/^https?:\/\/[^/]+/, '');

// Installed before the page's own scripts: long tasks and the key-press probe; with a WINDOW
// other than the page's default, the window control is set to it once the document is parsed
// (before the page's module script runs and reads the controls).
function probeScript(windowName) {
  if (windowName) {
    document.addEventListener('readystatechange', () => {
      const select = document.getElementById('window');
      if (select && document.readyState === 'interactive') select.value = windowName;
    });
  }
  window.__bench = { longtasks: [], keys: [] };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (_) { /* no Long Tasks API */ }
  addEventListener('keydown', (e) => {
    window.__bench.keys.push({ event_ms: e.timeStamp, handled_ms: performance.now() });
  }, true);
}

// The API's JSON with every fractional number kept as its text ("938.400"), as the page shows it.
function exact(text) {
  return JSON.parse(text.replace(/([:\[,])(-?\d+\.\d+)(?=[,}\]])/g, '$1"$2"'));
}
function money(micros) {
  const s = String(micros).padStart(7, '0');
  return `${s.slice(0, -6)}.${s.slice(-6)}`;
}

// The first-view panels of the page as drawn against the API's answers to the same queries
// (same text), as test/dashboard/dashboard_test.mjs checks them at 247 records.
async function compareFirstView(page, key, reader) {
  const results = [];
  const eq = (actual, expected, what) => {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    results.push({ what, ok: a === e, ...(a === e ? {} : { page: a.slice(0, 500), api: e.slice(0, 500) }) });
  };
  const api = async (target) => {
    const res = await fetch(`${base}${target}`, { headers: { Authorization: `Bearer ${key}` } });
    if (res.status !== 200) throw new Error(`${target}: HTTP ${res.status}`);
    return exact(await res.text());
  };
  const rows = (id, sel) => page.$$eval(`#${id} tbody tr`, (trs, s) => trs
      .filter((tr) => !tr.querySelector('td.empty'))
      .map((tr) => [...tr.querySelectorAll(s)].map((td) => td.textContent)), sel);
  const { from, zone, windowName } = await page.evaluate(() => ({
    from: document.body.dataset.from, zone: document.body.dataset.zone,
    windowName: document.getElementById('window').value,
  }));
  const agg = `from=${encodeURIComponent(from)}&tz=${encodeURIComponent(zone)}`;
  const k = (await api(`/v1/usage?${agg}&measures=count,tokens,cost,distinct_users,duration_p50,duration_p95`)).groups[0];
  const kpis = await page.$$eval('.kpi', (els) => Object.fromEntries(
      els.filter((e) => !e.hidden).map((e) => [e.id, e.querySelector('.value').dataset.raw])));
  const expectK = {
    'kpi-count': String(k.count), 'kpi-tokens': k.tokens, 'kpi-cost': String(k.cost_micros),
    ...(reader ? { 'kpi-users': String(k.distinct_users) } : {}),
    'kpi-p50': String(k.duration_p50), 'kpi-p95': String(k.duration_p95),
  };
  eq(kpis, expectK, `totals equal /v1/usage (${k.count} records)`);
  const trend = await api(`/v1/usage?${agg}&window=${windowName}&measures=count,tokens,cost`);
  eq(await rows('trend', 'td:not(.c-window)'),
     trend.groups.slice().reverse().map((g) => [String(g.count), g.tokens, money(g.cost_micros)]),
     `tokens and cost per ${windowName} equal /v1/usage?window=${windowName} (${trend.groups.length} windows)`);
  for (const dim of ['model', 'workflow']) {
    const a = await api(`/v1/usage?${agg}&group_by=${dim}&order_by=tokens&limit=15&measures=count,tokens,cost,duration_p50,duration_p95`);
    eq(await rows(`by-${dim}`, 'td:not(.barcell)'),
       a.groups.map((g) => [g[dim], String(g.count), g.tokens, money(g.cost_micros),
                            String(g.duration_p50), String(g.duration_p95)]),
       `by ${dim} equals /v1/usage?group_by=${dim}`);
  }
  if (reader) {
    const top = await api(`/v1/top?${agg}&by=user&measure=cost&k=10&measures=count,tokens,cost`);
    eq(await rows('ranking', 'td:not(.barcell):not(.c-rank)'),
       top.groups.map((g) => [g.user, String(g.count), g.tokens, money(g.cost_micros)]),
       'user ranking equals /v1/top?by=user&measure=cost');
  }
  return results;
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function measureRole(browser, role, key) {
  const loadBefore = load();
  const context = await browser.newContext({ timezoneId: zone, viewport: { width: 1400, height: 1000 } });
  await context.addInitScript(probeScript, window);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  await page.waitForSelector('#sign-in-form', { state: 'visible' });
  await page.fill('#key', key);
  const t0 = Date.now();
  await page.click('#sign-in-button');
  await page.waitForSelector('body[data-ready="1"]', { timeout: kTimeout });
  const signInMs = Date.now() - t0;

  const loads = [];
  let calls = [];
  for (let i = 0; i < runs; ++i) {
    await page.reload();
    await page.waitForFunction(
        () => performance.getEntriesByName('tokenaudit-first-view').length > 0,
        null, { polling: 'raf', timeout: kTimeout });
    await page.keyboard.press('Shift');
    await page.waitForSelector('body[data-ready="1"]', { timeout: kTimeout });
    const m = await page.evaluate(() => {
      const mark = (n) => performance.getEntriesByName(n)[0].startTime;
      return {
        first_view: mark('tokenaudit-first-view'),
        all_panels: mark('tokenaudit-all-panels'),
        longtasks: window.__bench.longtasks,
        key: window.__bench.keys[0] || null,
        calls: performance.getEntriesByType('resource')
            .filter((e) => e.name.includes('/v1/') || e.name.includes('/metrics'))
            .map((e) => ({ url: e.name, start: e.startTime, ttfb: e.responseStart - e.requestStart,
                           end: e.responseEnd })),
      };
    });
    const inputDelay = m.key ? m.key.handled_ms - m.key.event_ms : NaN;
    const interactive = m.key && inputDelay <= kInputBudgetMs ? m.first_view
                                                              : Math.max(m.first_view, m.key?.handled_ms ?? Infinity);
    loads.push({
      first_view_ms: round(m.first_view),
      interactive_ms: round(interactive),
      input_delay_ms: round(inputDelay),
      key_pressed_at_ms: m.key ? round(m.key.event_ms) : null,
      all_panels_ms: round(m.all_panels),
      long_tasks_before_first_view: m.longtasks.filter(([s]) => s < m.first_view).length,
      longest_task_ms: round(Math.max(0, ...m.longtasks.map(([, d]) => d))),
    });
    calls = m.calls.map((c) => ({ ...c, first_view: c.end <= m.first_view }));
  }
  await page.screenshot({ path: join(out, `first_view_${role}.png`), fullPage: true });
  const checks = await compareFirstView(page, key, role === 'admin');

  // Each first-view request again, alone (the page's own requests, same parameters).
  const alone = [];
  for (const c of calls.filter((x) => x.first_view)) {
    const times = [];
    let status = 0;
    for (let k = 0; k < 3; ++k) {
      const t = performance.now();
      const res = await fetch(c.url, { headers: { Authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      status = res.status;
      times.push(performance.now() - t);
    }
    alone.push({ url: path(c.url), status, alone_median_ms: round(median(times)) });
  }
  await context.close();
  const col = (k) => loads.map((l) => l[k]);
  return {
    role,
    load_before: loadBefore,
    load_after: load(),
    sign_in_click_to_first_view_ready_ms: signInMs,
    runs,
    interactive_p50_ms: round(median(col('interactive_ms'))),
    interactive_max_ms: Math.max(...col('interactive_ms')),
    first_view_p50_ms: round(median(col('first_view_ms'))),
    first_view_max_ms: Math.max(...col('first_view_ms')),
    input_delay_p50_ms: round(median(col('input_delay_ms'))),
    input_delay_max_ms: Math.max(...col('input_delay_ms')),
    all_panels_p50_ms: round(median(col('all_panels_ms'))),
    all_panels_max_ms: Math.max(...col('all_panels_ms')),
    loads,
    last_load_requests: calls.map((c) => ({
      url: path(c.url), first_view: c.first_view, start_ms: round(c.start), ttfb_ms: round(c.ttfb),
      end_ms: round(c.end),
    })),
    first_view_requests_alone: alone,
    checks,
    page_errors: errors,
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const result = { url: base, zone, window: window || '(the page\'s default)', runs, roles: [] };
for (const [role, file] of [['admin', adminKeyFile], ['user', userKeyFile]]) {
  result.roles.push(await measureRole(browser, role, readFileSync(file, 'utf8').trim()));
}
await browser.close();
writeFileSync(join(out, 'first_view_bench.json'), `${JSON.stringify(result, null, 2)}\n`);

for (const r of result.roles) {
  console.log(`\n== ${r.role}: ${r.runs} reloads of a signed-in tab (window ${result.window}, zone ${zone}; load ${r.load_before} -> ${r.load_after})`);
  console.log(`interactive  p50 ${r.interactive_p50_ms} ms  max ${r.interactive_max_ms} ms`);
  console.log(`first view   p50 ${r.first_view_p50_ms} ms  max ${r.first_view_max_ms} ms`);
  console.log(`input delay  p50 ${r.input_delay_p50_ms} ms  max ${r.input_delay_max_ms} ms (key pressed right after the first view)`);
  console.log(`all panels   p50 ${r.all_panels_p50_ms} ms  max ${r.all_panels_max_ms} ms`);
  console.log(`sign-in click to all panels (first load): ${r.sign_in_click_to_first_view_ready_ms} ms`);
  console.log(`per load: ${r.loads.map((l) => `${l.interactive_ms}`).join(', ')} ms`);
  console.log('last load, requests (ms from navigation start; ttfb = request sent -> first byte):');
  for (const c of r.last_load_requests) {
    console.log(`  ${c.first_view ? 'FV ' : '   '}start ${String(c.start_ms).padStart(7)}  ttfb ${String(c.ttfb_ms).padStart(7)}  end ${String(c.end_ms).padStart(7)}  ${c.url}`);
  }
  console.log('first-view requests alone (median of 3, sequential):');
  for (const c of r.first_view_requests_alone) {
    console.log(`  ${String(c.alone_median_ms).padStart(8)} ms  ${c.status}  ${c.url}`);
  }
  for (const c of r.checks) {
    console.log(`${c.ok ? 'CHECK ok  ' : 'CHECK FAIL'} ${r.role}: ${c.what}${c.ok ? '' : `\n  page: ${c.page}\n  api:  ${c.api}`}`);
  }
  if (r.page_errors.length) console.log(`page errors: ${r.page_errors.join('; ')}`);
}
const failed = result.roles.some((r) => r.page_errors.length || r.checks.some((c) => !c.ok));
process.exit(failed ? 1 : 0);
