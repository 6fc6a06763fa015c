// Formatting that reproduces the API's numbers exactly. The API writes tokens and GFLOPs with
// three decimals, averages with three, megapixel means with six, money as integer micro-units.
// parseJson keeps the source text of every fractional number (a string), so "938.400" is shown
// as "938.400", never as 938.4 or a float's rounding of it.

// JSON.parse, fractional numbers kept as their source text. Chromium ≥ 114 passes the source to
// the reviver; elsewhere fractional numbers stay numbers and fixed() formats them.
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === 'number' && context && typeof context.source === 'string' &&
        /[.eE]/.test(context.source)) {
      return context.source;
    }
    return value;
  });
}

// A fractional API number as the API wrote it (`decimals` used only without source text).
export function fixed(value, decimals = 3) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return value.toFixed(decimals);
}

// The number a fractional API value stands for, for drawing and sorting.
export function num(value) {
  if (value === null || value === undefined) return NaN;
  return typeof value === 'number' ? value : Number(value);
}

// Integer milli-units (usage.estimated_tokens_milli) as "312.800", exactly.
export function milli(intMilli) {
  return scaled(intMilli, 3);
}

// Integer micro-units of money (cost_micros) as "0.009655", exactly.
export function money(micros) {
  return scaled(micros, 6);
}

function scaled(n, digits) {
  if (n === null || n === undefined) return '—';
  let v = BigInt(n);
  const neg = v < 0n;
  if (neg) v = -v;
  const s = v.toString().padStart(digits + 1, '0');
  return (neg ? '-' : '') + s.slice(0, s.length - digits) + '.' + s.slice(s.length - digits);
}

// An integer count as the API wrote it.
export function int(n) {
  return n === null || n === undefined ? '—' : String(n);
}

// Milliseconds: integers as they are, fractional ones as the API's text, null as a dash.
export function ms(v) {
  if (v === null || v === undefined) return '—';
  return typeof v === 'string' ? v : String(v);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// A time in the browser's zone: "2026-11-30 14:03:07".
export function localTime(d) {
  if (!(d instanceof Date)) d = new Date(d);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A window's start, labelled for its width, in the browser's zone.
export function windowLabel(d, window) {
  if (!(d instanceof Date)) d = new Date(d);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (window === 'hour') return `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (window === 'week') return `week of ${day}`;
  return day;
}

// "3 s", "4 min 10 s", "2 h 5 min".
export function age(seconds) {
  if (!Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// Seconds as "0.412 ms" (fsync latencies).
export function secondsAsMs(seconds) {
  return Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(3)} ms` : '—';
}
