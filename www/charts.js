// Small inline-SVG charts for the dashboard: bars (single or 100%-stacked) and lines over
// days. Every label is set with textContent; no data ever goes through innerHTML.

import { svg as svgEl } from './dom.js';

const W = 320;
const H = 150;
const M = { top: 10, right: 8, bottom: 22, left: 36 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
const DAY_MS = 86_400_000;
const MAX_FILLED_DAYS = 400;

// SVG elements through the pages' DOM helper (styles go through the CSSOM there).
const title = (content) => svgEl('title', { text: content });

const text = (x, y, content, attrs = {}) => svgEl('text', { x, y, ...attrs, text: content });

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat();

/** 'YYYY-MM-DD' -> ms at UTC midnight, or NaN. */
function dayMs(day) {
  return Date.parse(`${day}T00:00:00Z`);
}

function dayLabel(day) {
  const ms = dayMs(day);
  if (Number.isNaN(ms)) return day;
  return new Date(ms).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

/**
 * The per-day rows sorted, with the missing days between the first and the last filled in
 * with zeros (so gaps read as gaps). Rows whose day does not parse are kept as they are.
 */
export function fillDays(perDay) {
  const rows = (Array.isArray(perDay) ? perDay : []).filter((r) => r && typeof r.day === 'string');
  rows.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  if (rows.length < 2) return rows;
  const first = dayMs(rows[0].day);
  const last = dayMs(rows[rows.length - 1].day);
  if (Number.isNaN(first) || Number.isNaN(last) || (last - first) / DAY_MS > MAX_FILLED_DAYS) return rows;
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out = [];
  for (let t = first; t <= last; t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(byDay.get(day) || { day });
  }
  return out;
}

/** A round upper bound for an axis: 1, 2, 2.5, 5 times a power of ten. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const f of [1, 2, 2.5, 5, 10]) {
    if (f * p >= max) return Math.max(1, f * p);
  }
  return 10 * p;
}

function frame(label) {
  return svgEl('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'xMidYMid meet',
  });
}

function yAxis(svg, max, format) {
  for (const f of [0, 0.5, 1]) {
    const y = M.top + PLOT_H * (1 - f);
    svg.append(svgEl('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, class: f === 0 ? 'baseline' : 'grid-line' }));
    svg.append(text(M.left - 5, y + 3, format(max * f), { 'text-anchor': 'end', class: 'axis-label' }));
  }
}

function xLabels(svg, days, band) {
  const n = days.length;
  const every = Math.max(1, Math.ceil(n / 6));
  days.forEach((d, i) => {
    const lastShown = i === n - 1 && (n - 1) % every >= every / 2;
    if (i % every !== 0 && !lastShown) return;
    const x = M.left + band * (i + 0.5);
    svg.append(text(x, H - 6, dayLabel(d.day), { 'text-anchor': 'middle', class: 'axis-label' }));
  });
}

function emptyChart(svg, message) {
  svg.append(svgEl('line', { x1: M.left, x2: W - M.right, y1: M.top + PLOT_H, y2: M.top + PLOT_H, class: 'baseline' }));
  svg.append(text(W / 2, M.top + PLOT_H / 2, message, { 'text-anchor': 'middle', class: 'empty-label' }));
  return svg;
}

const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);

/**
 * Bars per day. `series` is [{ key, label, color }]; several series are drawn side by side.
 * `unit` names one item in tooltips (e.g. 'conversations').
 */
export function barChart({ days, series, label, format = (v) => compact.format(v) }) {
  const svg = frame(label);
  if (!days.length) return emptyChart(svg, 'No data for this period');
  const max = niceMax(Math.max(0, ...days.flatMap((d) => series.map((s) => num(d[s.key])))));
  yAxis(svg, max, format);
  const band = PLOT_W / days.length;
  const groupW = Math.min(band * 0.72, 36);
  const barW = groupW / series.length;
  days.forEach((d, i) => {
    const x0 = M.left + band * i + (band - groupW) / 2;
    series.forEach((s, j) => {
      const v = num(d[s.key]);
      const h = (v / max) * PLOT_H;
      const rect = svgEl('rect', {
        class: 'bar',
        x: (x0 + j * barW).toFixed(2),
        y: (M.top + PLOT_H - h).toFixed(2),
        width: Math.max(1, barW - (series.length > 1 ? 1 : 0)).toFixed(2),
        height: h.toFixed(2),
        rx: Math.min(2, barW / 4).toFixed(2),
        style: `fill: ${s.color}`,
      });
      rect.append(title(`${d.day}: ${whole.format(v)} ${s.label}`));
      svg.append(rect);
    });
  });
  xLabels(svg, days, band);
  return svg;
}

/**
 * 100%-stacked bars per day: the share of each series in the day's total (e.g. 👍 vs 👎).
 * Days without any count get a faint placeholder.
 */
export function shareChart({ days, series, label }) {
  const svg = frame(label);
  if (!days.length) return emptyChart(svg, 'No data for this period');
  if (!days.some((d) => series.some((s) => num(d[s.key]) > 0))) return emptyChart(svg, 'No reactions in this period');
  yAxis(svg, 1, (v) => `${Math.round(v * 100)}%`);
  const band = PLOT_W / days.length;
  const barW = Math.min(band * 0.72, 36);
  days.forEach((d, i) => {
    const x = M.left + band * i + (band - barW) / 2;
    const total = series.reduce((sum, s) => sum + num(d[s.key]), 0);
    if (total === 0) {
      const r = svgEl('rect', { x: x.toFixed(2), y: M.top + PLOT_H - 2, width: barW.toFixed(2), height: 2, class: 'bar', style: 'fill: var(--border-strong)' });
      r.append(title(`${d.day}: no reactions`));
      svg.append(r);
      return;
    }
    let y = M.top + PLOT_H;
    const parts = series.map((s) => `${whole.format(num(d[s.key]))} ${s.label} (${Math.round((num(d[s.key]) / total) * 100)}%)`).join(', ');
    for (const s of series) {
      const v = num(d[s.key]);
      if (!v) continue;
      const h = (v / total) * PLOT_H;
      y -= h;
      const rect = svgEl('rect', { class: 'bar', x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: h.toFixed(2), style: `fill: ${s.color}` });
      rect.append(title(`${d.day}: ${parts}`));
      svg.append(rect);
    }
  });
  xLabels(svg, days, band);
  return svg;
}

/** Lines per day with a dot on each value; one day of data is a single dot per series. */
export function lineChart({ days, series, label, format = (v) => compact.format(v) }) {
  const svg = frame(label);
  if (!days.length) return emptyChart(svg, 'No data for this period');
  const max = niceMax(Math.max(0, ...days.flatMap((d) => series.map((s) => num(d[s.key])))));
  yAxis(svg, max, format);
  const band = PLOT_W / days.length;
  const xOf = (i) => M.left + band * (i + 0.5);
  const yOf = (v) => M.top + PLOT_H - (v / max) * PLOT_H;
  for (const s of series) {
    if (days.length > 1) {
      const d = days.map((day, i) => `${i ? 'L' : 'M'}${xOf(i).toFixed(2)},${yOf(num(day[s.key])).toFixed(2)}`).join(' ');
      svg.append(svgEl('path', { d, style: `fill: none; stroke: ${s.color}; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round` }));
    }
    const r = days.length > 40 ? 1.5 : 3;
    days.forEach((day, i) => {
      const v = num(day[s.key]);
      const c = svgEl('circle', { class: 'point', cx: xOf(i).toFixed(2), cy: yOf(v).toFixed(2), r, style: `fill: ${s.color}; stroke: var(--surface); stroke-width: 1` });
      c.append(title(`${day.day}: ${whole.format(v)} ${s.label}`));
      svg.append(c);
    });
  }
  xLabels(svg, days, band);
  return svg;
}
