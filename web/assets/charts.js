// Small SVG charts drawn by hand: a bar + line chart over time windows and a scatter with fitted
// lines. No library; every element is built with the DOM (no markup strings, so names coming
// from records can never inject anything).

const kSvg = 'http://www.w3.org/2000/svg';
const kWidth = 800;
const kHeight = 260;
const kPad = { left: 64, right: 64, top: 14, bottom: 40 };
export const kPalette = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2',
                         '#65a30d', '#dc2626', '#475569', '#ca8a04'];

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(kSvg, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, attrs = {}) {
  const t = el('text', { x, y, ...attrs }, parent);
  t.textContent = s;
  return t;
}

function reset(svg, label) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute('viewBox', `0 0 ${kWidth} ${kHeight}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
}

// 1, 2, 5 × 10^k steps: about `n` ticks from 0 to max.
function ticks(max, n = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(v);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

function shortNumber(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(2)}k`;
  return `${+v.toFixed(3)}`;
}

// Bars (left axis) and a line (right axis) over equal-width slots, one per window.
//   slots: [{label, bar, line, title}] in time order; bar/line numbers (NaN: no data).
export function barLineChart(svg, { slots, barName, lineName }) {
  reset(svg, `${barName} and ${lineName} per window`);
  const w = kWidth - kPad.left - kPad.right;
  const h = kHeight - kPad.top - kPad.bottom;
  const bt = ticks(Math.max(0, ...slots.map((s) => s.bar || 0)));
  const lt = ticks(Math.max(0, ...slots.map((s) => s.line || 0)));
  const bmax = bt[bt.length - 1];
  const lmax = lt[lt.length - 1];
  const g = el('g', { transform: `translate(${kPad.left},${kPad.top})` }, svg);
  for (const v of bt) {
    const y = h - (v / bmax) * h;
    el('line', { x1: 0, x2: w, y1: y, y2: y, class: 'grid' }, g);
    text(g, -6, y + 4, shortNumber(v), { 'text-anchor': 'end', class: 'tick' });
  }
  for (const v of lt) {
    text(g, w + 6, h - (v / lmax) * h + 4, shortNumber(v), { class: 'tick line-tick' });
  }
  const slot = w / Math.max(1, slots.length);
  const every = Math.ceil(slots.length / 8);
  const points = [];
  slots.forEach((s, i) => {
    const x = i * slot;
    if (s.bar > 0) {
      const bh = (s.bar / bmax) * h;
      const r = el('rect', { x: x + slot * 0.12, y: h - bh, width: slot * 0.76, height: bh,
                             class: 'bar' }, g);
      el('title', {}, r).textContent = s.title;
    }
    if (Number.isFinite(s.line)) points.push([x + slot / 2, h - (s.line / lmax) * h, s.title]);
    if (i % every === 0) {
      text(g, x + slot / 2, h + 16, s.label, { 'text-anchor': 'middle', class: 'tick' });
    }
  });
  if (points.length) {
    el('polyline', { points: points.map((p) => `${p[0]},${p[1]}`).join(' '), class: 'line' }, g);
    for (const [x, y, title] of points) {
      el('title', {}, el('circle', { cx: x, cy: y, r: 3, class: 'line-dot' }, g)).textContent =
          title;
    }
  }
  text(g, 0, h + 34, `bars: ${barName} (left)   line: ${lineName} (right)`, { class: 'legend' });
}

// Points with a fitted line per series.
//   points: [{x, y, r, series, title}], lines: [{series, slope, intercept}], series: [names]
export function scatterChart(svg, { points, lines, series, xName, yName }) {
  reset(svg, `${yName} against ${xName}`);
  const w = kWidth - kPad.left - kPad.right;
  const h = kHeight - kPad.top - kPad.bottom;
  const xt = ticks(Math.max(0, ...points.map((p) => p.x)));
  const yt = ticks(Math.max(0, ...points.map((p) => p.y)));
  const xmax = xt[xt.length - 1];
  const ymax = yt[yt.length - 1];
  const sx = (v) => (v / xmax) * w;
  const sy = (v) => h - (v / ymax) * h;
  const g = el('g', { transform: `translate(${kPad.left},${kPad.top})` }, svg);
  for (const v of yt) {
    el('line', { x1: 0, x2: w, y1: sy(v), y2: sy(v), class: 'grid' }, g);
    text(g, -6, sy(v) + 4, shortNumber(v), { 'text-anchor': 'end', class: 'tick' });
  }
  for (const v of xt) text(g, sx(v), h + 16, shortNumber(v), { 'text-anchor': 'middle', class: 'tick' });
  text(g, w / 2, h + 34, xName, { 'text-anchor': 'middle', class: 'legend' });
  text(g, -kPad.left + 4, -2, yName, { class: 'legend' });
  const color = (name) => kPalette[Math.max(0, series.indexOf(name)) % kPalette.length];
  const clip = el('clipPath', { id: 'scatter-clip' }, el('defs', {}, g));
  el('rect', { x: 0, y: 0, width: w, height: h }, clip);
  const plot = el('g', { 'clip-path': 'url(#scatter-clip)' }, g);
  for (const l of lines) {
    if (!Number.isFinite(l.slope) || !Number.isFinite(l.intercept)) continue;
    el('line', { x1: sx(0), y1: sy(l.intercept), x2: sx(xmax), y2: sy(l.intercept + l.slope * xmax),
                 class: 'fit', stroke: color(l.series) }, plot);
  }
  for (const p of points) {
    const c = el('circle', { cx: sx(p.x), cy: sy(p.y), r: p.r, fill: color(p.series),
                             class: 'point' }, plot);
    el('title', {}, c).textContent = p.title;
  }
}
