// The API client of the page (doc/http_api.md). The key travels only in the Authorization
// header, never in a URL; it is kept in sessionStorage (gone when the tab closes).

import { parseJson } from './format.js';

const kKeyItem = 'tokenaudit.key';

export function storedKey() {
  return sessionStorage.getItem(kKeyItem);
}
export function storeKey(key) {
  sessionStorage.setItem(kKeyItem, key);
}
export function forgetKey() {
  sessionStorage.removeItem(kKeyItem);
}

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// Builds "path?k=v&k=v" from [key, value] pairs (repeated keys are alternatives in the API).
export function url(path, params = []) {
  const q = new URLSearchParams();
  for (const [k, v] of params) {
    if (v !== undefined && v !== null && v !== '') q.append(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  async request(target, accept = 'application/json') {
    const res = await fetch(target, {
      headers: { Authorization: `Bearer ${this.key}`, Accept: accept },
      cache: 'no-store',
      credentials: 'omit',
    });
    const text = await res.text();
    if (!res.ok) {
      let err = {};
      try {
        err = JSON.parse(text).error || {};
      } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, err.code, err.message, err.field);
    }
    return text;
  }

  async json(path, params) {
    return parseJson(await this.request(url(path, params)));
  }

  async text(path) {
    return this.request(path, 'text/plain');
  }

  whoami() { return this.json('/v1/whoami'); }
  usage(params) { return this.json('/v1/usage', params); }
  top(params) { return this.json('/v1/top', params); }
  duplicates(params) { return this.json('/v1/duplicates', params); }
  anomalies(params) { return this.json('/v1/anomalies', params); }
  events(params) { return this.json('/v1/events', params); }

  // The newest checkpoint, or null when none has been written yet.
  async checkpoint() {
    try {
      return await this.json('/v1/checkpoint');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }

  async metrics() {
    return parseMetrics(await this.text('/metrics'));
  }

  // The newest `n` records passing `filters` (pairs accepted by GET /v1/events), newest first.
  // GET /v1/events lists in seq order from a cursor, so this reads from a start a little before
  // the end of the log (`size`: the log's size as last seen; newer records are read too) and
  // moves the start back while it holds fewer than `n` matches, or forward (bisecting) while the
  // tail holds too many to page through. Typically one request.
  async recentEvents(filters, n, size) {
    const kMaxPages = 5;
    let small = 0;         // a span known to hold fewer than n matches
    let big = Infinity;    // a span known to hold more than kMaxPages pages of matches
    let span = 4 * n;
    let best = [];
    for (let attempt = 0; attempt < 24; ++attempt) {
      const start = Math.max(0, size - span);
      let cursor = start;
      let rows = [];
      let complete = false;
      for (let page = 0; page < kMaxPages; ++page) {
        const r = await this.events([...filters, ['limit', '1000'], ['cursor', String(cursor)]]);
        rows = rows.concat(r.events).slice(-n);
        if (r.next_cursor === null) {
          complete = true;
          break;
        }
        cursor = Number(r.next_cursor);
      }
      if (complete) {
        best = rows;
        if (rows.length >= n || start === 0) break;
        small = span;
        span = big === Infinity ? span * 8 : Math.floor((small + big) / 2);
      } else {
        big = span;
        span = Math.max(n, Math.floor((small + big) / 2));
        if (span >= big) break;
      }
    }
    return best.slice().reverse();
  }
}

// Prometheus text format → {name: [{labels, value}]}.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[lm[1]] = lm[2];
      }
    }
    (out[m[1]] ||= []).push({ labels, value: Number(m[4]) });
  }
  return out;
}

// The first sample of a metric, or NaN.
export function metric(metrics, name) {
  const s = metrics[name];
  return s && s.length ? s[0].value : NaN;
}

// Upper bound of the histogram bucket holding quantile q ("≤ x"), from cumulative buckets.
export function histogramQuantile(metrics, name, q) {
  const buckets = (metrics[`${name}_bucket`] || [])
      .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), n: s.value }))
      .sort((a, b) => a.le - b.le);
  const total = buckets.length ? buckets[buckets.length - 1].n : 0;
  if (!total) return NaN;
  for (const b of buckets) {
    if (b.n >= q * total) return b.le;
  }
  return Infinity;
}

// The browser's IANA time zone, sent as tz= so windows start at local midnight.
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (_) {
    return 'UTC';
  }
}

// The windows a view covers: `count` windows of `window` (hour, day, week) ending with the one
// holding `now`, aligned in the browser's zone (which is the tz sent to the API, so each window
// here is exactly one group of the answer). Returns the windows' starts, oldest first.
export const kWindowCounts = { hour: 48, day: 30, week: 26 };
export function windowStarts(window, now = new Date()) {
  const d = new Date(now.getTime());
  const count = kWindowCounts[window];
  if (window === 'hour') {
    d.setMinutes(0, 0, 0);
  } else {
    d.setHours(0, 0, 0, 0);
    if (window === 'week') d.setDate(d.getDate() - ((d.getDay() + 6) % 7));  // back to Monday
  }
  const starts = [];
  for (let i = count - 1; i >= 0; --i) {
    // Hours in absolute time (a DST change repeats or skips a local hour); days and weeks in
    // local calendar days, so they start at local midnight on both sides of a DST change.
    const s = new Date(d.getTime() - (window === 'hour' ? i * 3600e3 : 0));
    if (window !== 'hour') s.setDate(s.getDate() - (window === 'week' ? 7 * i : i));
    starts.push(s);
  }
  return starts;
}
