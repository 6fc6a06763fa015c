// Measures the dashboard's first view against a running server (not part of ctest): signs in,
// then reloads the page RUNS times and reports, per load, the time from navigation start to the
// core panels drawn (totals, trend, breakdowns, ranking: `tokenaudit-first-view`) and to every
// panel drawn (`tokenaudit-all-panels`), plus the slowest API calls of the last load.
//   node first_view.mjs URL KEY_FILE OUT_DIR [RUNS]
// Uses the playwright-core installed by run.sh and Debian's chromium (CHROMIUM overrides).

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, keyFile, out, runs = '5'] = process.argv.slice(2);
if (!base || !keyFile || !out) {
  console.error('usage: node first_view.mjs URL KEY_FILE OUT_DIR [RUNS]');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const key = readFileSync(keyFile, 'utf8').trim();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
await page.goto(`${base}/`);
await page.fill('#key', key);
await page.click('#sign-in-button');
await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
const loads = [];
let calls = [];
for (let i = 0; i < Number(runs); ++i) {
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  const m = await page.evaluate(() => ({
    first_view_ms: performance.getEntriesByName('tokenaudit-first-view')[0].startTime,
    all_panels_ms: performance.getEntriesByName('tokenaudit-all-panels')[0].startTime,
    calls: performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/v1/') || e.name.includes('/metrics'))
        .map((e) => ({ url: e.name.replace(/^https?:\/\/[^/]+/, ''), start_ms: Math.round(e.startTime),
                       ms: Math.round(e.duration) })),
  }));
  loads.push({ first_view_ms: Math.round(m.first_view_ms), all_panels_ms: Math.round(m.all_panels_ms) });
  calls = m.calls;
}
await page.screenshot({ path: join(out, 'first_view.png'), fullPage: true });
await browser.close();
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  url: base, loads,
  median_first_view_ms: median(loads.map((l) => l.first_view_ms)),
  median_all_panels_ms: median(loads.map((l) => l.all_panels_ms)),
  slowest_calls: calls.sort((a, b) => b.ms - a.ms).slice(0, 12),
};
writeFileSync(join(out, 'first_view.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
