// Charts for the usage page, drawn by uPlot (vendored: static/vendor/uplot). Each chart takes
// its colours from the page's theme and is drawn again when the theme changes or its box is
// resized. Stacked charts are drawn as running totals, the highest first, so each band covers
// the one below it; the readout under a chart and its table say the real figures.
import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { el } from '../lib/ui.js';

const PALETTE = {
  light: ['#4f46e5', '#0f766e', '#b45309', '#be185d', '#1d4ed8', '#4d7c0f', '#7e22ce', '#b91c1c'],
  dark: ['#818cf8', '#2dd4bf', '#fbbf24', '#f472b6', '#60a5fa', '#a3e635', '#c084fc', '#f87171'],
};
// Named tones for series that mean the same thing on every chart (an endpoint's states).
const TONES = {
  light: { serving: '#4f46e5', idle: '#b45309', starting: '#7e22ce', errors: '#b91c1c' },
  dark: { serving: '#818cf8', idle: '#fbbf24', starting: '#c084fc', errors: '#f87171' },
};
const HEIGHT = 240;
const live = new Set(); // every chart on the page, drawn again on a theme change

export function isDark() {
  const mode = document.documentElement.dataset.theme;
  if (mode === 'dark' || mode === 'light') return mode === 'dark';
  return window.matchMedia('(prefers-color-scheme: dark)').matches;
}

/** The colour of the n-th series in the current theme (the same n, the same colour). */
export function colour(n) {
  const palette = PALETTE[isDark() ? 'dark' : 'light'];
  return palette[n % palette.length];
}

/** A series' colour: its tone, else its place in the palette. */
export function seriesColour(spec, n) {
  return spec.tone ? TONES[isDark() ? 'dark' : 'light'][spec.tone] : colour(spec.index ?? n);
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function axis(format, extra = {}) {
  const stroke = cssVar('--muted');
  const grid = { stroke: cssVar('--border'), width: 1 };
  return { stroke, grid, ticks: { stroke: grid.stroke, width: 1 }, font: `12px ${cssVar('--font')}`, values: format, ...extra };
}

// Periods that are UTC days are named by their date alone, one tick a day at most.
const DAY_NAME = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
function dayAxis() {
  const format = (u, splits) => splits.map((s) => DAY_NAME.format(new Date(s * 1000)));
  return axis(format, { incrs: [86400, 2 * 86400, 7 * 86400], space: 48 });
}

// Points at the very ends of the range would be cut in half: the x scale gets a margin.
function padded(u, min, max) {
  const pad = Math.max(300, (max - min) * 0.03);
  return [min - pad, max + pad];
}

// A value axis as wide as its longest label (uPlot's fixed default cuts "1,000 ms").
function labelRoom(u, values) {
  const longest = Math.max(0, ...(values || []).map((v) => String(v).length));
  return Math.max(40, 16 + 7 * longest);
}

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Running totals, top band first: what a stacked chart draws. */
function stack(series) {
  let sum = series[0] ? series[0].values.map(() => 0) : [];
  const cumulative = series.map((s) => (sum = sum.map((v, i) => v + (s.values[i] || 0))));
  return cumulative.reverse();
}

function seriesOptions(spec, n, kind) {
  const stroke = seriesColour(spec, n);
  // A line crosses quiet periods (a percentile has no value there, not a zero).
  const base = { label: spec.label, stroke, width: 2, scale: spec.scale || 'y', dash: spec.dash, spanGaps: true };
  if (kind === 'points') return { ...base, paths: () => null, points: { show: true, size: 9, fill: stroke, stroke } };
  if (kind === 'bars' || spec.bars) {
    return { ...base, width: 0, fill: stroke, paths: uPlot.paths.bars({ size: [0.7, 48] }), points: { show: false } };
  }
  if (kind === 'area') return { ...base, fill: withAlpha(stroke, isDark() ? 0.55 : 0.45), points: { show: false } };
  return { ...base, points: { show: spec.values.filter((v) => v !== null).length <= 48, size: 5, fill: stroke } };
}

function build(box, spec) {
  const stacked = spec.kind === 'area' || spec.kind === 'bars';
  const ordered = stacked ? [...spec.series].reverse() : spec.series;
  const data = [spec.x, ...(stacked ? stack(spec.series) : spec.series.map((s) => s.values))];
  const axes = [spec.days ? dayAxis() : axis(spec.xFormat), axis(spec.yFormat, { size: labelRoom })];
  const scales = { x: { time: spec.time !== false, range: spec.kind === 'points' ? padded : undefined }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } };
  if (spec.y2) {
    axes.push(axis(spec.y2.format, { side: 1, scale: spec.y2.scale, grid: { show: false }, size: labelRoom }));
    scales[spec.y2.scale] = { range: spec.y2.range };
  }
  const opts = {
    width: Math.max(240, box.clientWidth),
    height: spec.height || HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    scales,
    axes,
    series: [{}, ...ordered.map((s) => seriesOptions(s, spec.series.indexOf(s), spec.kind))],
    hooks: { setCursor: [(u) => spec.onCursor?.(u.cursor.idx)] },
  };
  return new uPlot(opts, data, box);
}

/**
 * A chart in `holder`: spec = {kind: 'lines'|'area'|'bars'|'points', x: [unix seconds],
 * series: [{label, values, index?, tone?, dash?, scale?, bars?}], yFormat, xFormat, y2?,
 * label (what the chart shows, for screen readers), readout(idx) → text under the chart}.
 */
export function drawChart(holder, spec) {
  const box = el('div', { class: 'chart-canvas', role: 'img', 'aria-label': spec.label });
  const readout = el('p', { class: 'chart-readout muted small', 'aria-hidden': 'true' }, spec.readout?.(null) || '\u00a0');
  holder.replaceChildren(box, legend(spec.series), readout);
  const chart = { holder, spec: { ...spec, onCursor: (idx) => { readout.textContent = spec.readout?.(idx ?? null) || '\u00a0'; } } };
  chart.plot = build(box, chart.spec);
  chart.resize = new ResizeObserver(() => {
    const width = Math.max(240, box.clientWidth);
    if (chart.plot && Math.abs(chart.plot.width - width) > 1) chart.plot.setSize({ width, height: chart.plot.height });
  });
  chart.resize.observe(box);
  chart.box = box;
  live.add(chart);
  return chart;
}

/** A key of colours for a chart's series, read as text (the canvas itself is an image). */
function legend(series) {
  return el('ul', { class: 'chart-legend' }, series.map((s, n) =>
    el('li', {}, el('span', { class: `swatch${s.dash ? ' dashed' : ''}`, 'data-colour': seriesColour(s, n) }), s.label)));
}

function paintSwatches(root = document) {
  for (const swatch of root.querySelectorAll('.swatch[data-colour]')) {
    swatch.style.setProperty('--swatch', swatch.dataset.colour); // CSSOM: allowed by the CSP
  }
}

/** Forget the charts in `root` (a section about to be drawn anew). */
export function dropCharts(root) {
  for (const chart of [...live]) {
    if (root.contains(chart.holder)) {
      chart.resize.disconnect();
      chart.plot.destroy();
      live.delete(chart);
    }
  }
}

export function afterDraw(root) {
  paintSwatches(root);
}

// A theme change redraws every chart in the new colours (uPlot bakes colours into its canvas).
function redrawAll() {
  for (const chart of live) {
    chart.plot.destroy();
    chart.plot = build(chart.box, chart.spec);
    const items = chart.holder.querySelectorAll('.chart-legend .swatch');
    chart.spec.series.forEach((s, n) => { if (items[n]) items[n].dataset.colour = seriesColour(s, n); });
  }
  paintSwatches();
}

new MutationObserver(redrawAll).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redrawAll);
