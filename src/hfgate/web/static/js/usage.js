// The usage page: GET /api/usage drawn as charts (tokens, requests and errors, latency, cold
// starts), each with its numbers in a table and a CSV download; the costs are usage/costs.js.
import { api } from './lib/api.js';
import { initShell } from './lib/shell.js';
import { el, fmtInt } from './lib/ui.js';
import { afterDraw, drawChart, dropCharts } from './usage/charts.js';
import { loadCosts } from './usage/costs.js';
import { compact, csvButton, ms, numbersDetails, percent, seconds, when } from './usage/tables.js';

const $ = (id) => document.getElementById(id);
const IS_ADMIN = ['owner', 'admin'].includes(document.body.dataset.role);
const RANGES = ['1', '7', '30'];
const BY_WORD = { model: 'model', user: 'person', key: 'key' };
const state = { days: '7', by: 'model' };
const unix = (iso) => new Date(iso).getTime() / 1000;

initShell();
if (!IS_ADMIN) $('usage-by').querySelector('option[value="user"]').remove(); // only themselves

function readLocation() {
  const query = new URLSearchParams(location.search);
  if (RANGES.includes(query.get('days'))) state.days = query.get('days');
  if ([...$('usage-by').options].some((o) => o.value === query.get('by'))) state.by = query.get('by');
  $('usage-range').querySelector(`input[value="${state.days}"]`).checked = true;
  $('usage-by').value = state.by;
}

function usagePath(by, extra = {}) {
  return `/api/usage?${new URLSearchParams({ days: state.days, by, ...extra })}`;
}

async function load() {
  const status = $('usage-status');
  status.textContent = 'Loading…';
  history.replaceState(null, '', `/usage?days=${state.days}&by=${state.by}`);
  try {
    const report = await api(usagePath(state.by));
    const byModel = state.by === 'model' ? report : await api(usagePath('model'));
    tiles(report);
    tokens(report);
    requests(report);
    latency(byModel);
    coldStarts(report);
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    status.textContent = `The usage could not be loaded: ${err.message}`;
  }
  await loadCosts(state.days);
  document.body.dataset.usageReady = state.days + state.by; // the browser tests wait for it
}

function tiles(report) {
  const totals = report.totals;
  const rate = totals.requests ? totals.errors / totals.requests : null;
  const starts = report.cold_starts.reduce((n, c) => n + c.count, 0);
  const items = [
    ['Requests', fmtInt(totals.requests)],
    ['Tokens', fmtInt(totals.prompt_tokens + totals.completion_tokens)],
    ['Error rate', percent(rate)],
    ['Cold starts', fmtInt(starts)],
  ];
  $('usage-tiles').replaceChildren(...items.map(([label, value]) =>
    el('div', { class: 'tile' }, el('dt', {}, label), el('dd', {}, value))));
}

/** A section's parts, emptied; `draw` fills them unless there is nothing to show. */
function section(id, csv, empty, draw) {
  const root = $(id);
  dropCharts(root);
  const slots = [...root.querySelectorAll('.chart-slot')];
  const numbers = root.querySelector('.numbers-slot');
  root.querySelector('.csv-slot').replaceChildren(...(csv ? [csvButton(...csv)] : []));
  numbers.replaceChildren();
  if (empty) {
    slots.forEach((slot) => slot.replaceChildren(el('p', { class: 'muted chart-empty' }, 'Nothing in this range.')));
    return;
  }
  draw(slots, numbers);
  afterDraw(root);
}

/** Values per group on the report's buckets: {groups, x, values: {group: [n per bucket]}}. */
function pivot(report, figure) {
  const at = new Map(report.buckets.map((b, i) => [b, i]));
  const values = Object.fromEntries(report.groups.map((g) => [g, report.buckets.map(() => null)]));
  for (const item of report.series) {
    const i = at.get(item.start);
    if (i !== undefined && values[item.group]) values[item.group][i] = figure(item);
  }
  return { x: report.buckets.map(unix), values };
}

function readout(report, lines, format) {
  return (idx) => {
    if (idx === null || idx === undefined) return 'Point at the chart for the figures of a period.';
    const parts = lines.map(([label, values, own]) => `${label}: ${(own || format)(values[idx])}`);
    return `${when(report.buckets[idx], report.bucket)} — ${parts.join(' · ')}`;
  };
}

function tokens(report) {
  const word = BY_WORD[state.by];
  $('tokens-note').textContent = `Prompt and completion tokens per period, stacked by ${word}.`;
  const csv = [() => usagePath(state.by, { view: 'series' }), `usage-tokens-by-${state.by}.csv`, 'tokens over time'];
  section('tokens-section', csv, !report.series.length, ([slot], numbers) => {
    const { x, values } = pivot(report, (item) => item.prompt_tokens + item.completion_tokens);
    const filled = report.groups.map((g) => values[g].map((v) => v || 0));
    drawChart(slot, {
      // Bars while each period stays wide enough to see (up to 30 days of days, a day of hours).
      kind: report.buckets.length <= 62 ? 'bars' : 'area',
      x,
      days: report.bucket === 'day',
      label: `Tokens per period, stacked by ${word}; the figures are in the table below.`,
      series: report.groups.map((g, n) => ({ label: g, values: filled[n] })),
      yFormat: (u, splits) => splits.map(compact),
      readout: readout(report, report.groups.map((g, n) => [g, filled[n]]), fmtInt),
    });
    const totals = filled.map((values) => values.reduce((a, b) => a + b, 0));
    const perBucket = report.buckets.map((_, i) => filled.reduce((a, values) => a + values[i], 0));
    numbers.append(numbersDetails({
      id: 'tokens-table',
      caption: `Tokens per period by ${word}`,
      columns: [{ label: 'Period' }, ...report.groups.map((g) => ({ label: g, numeric: true })), { label: 'Total', numeric: true }],
      rows: report.buckets.map((b, i) => [when(b, report.bucket), ...filled.map((v) => fmtInt(v[i])), fmtInt(perBucket[i])]),
      foot: ['Total', ...totals.map(fmtInt), { text: fmtInt(totals.reduce((a, b) => a + b, 0)), data: totals.reduce((a, b) => a + b, 0) }],
    }));
  });
}

function requests(report) {
  const rows = report.error_rate;
  const csv = [() => usagePath(state.by, { view: 'errors' }), 'usage-requests-errors.csv', 'requests and error rate'];
  section('requests-section', csv, !report.totals.requests, ([slot], numbers) => {
    const counts = rows.map((r) => r.requests);
    const rates = rows.map((r) => (r.rate === null ? null : 100 * r.rate));
    drawChart(slot, {
      kind: 'lines',
      x: report.buckets.map(unix),
      days: report.bucket === 'day',
      label: 'Requests per period as bars, and the error rate as a line; the figures are in the table below.',
      series: [
        { label: 'Requests', values: counts, index: 0, bars: true },
        { label: 'Error rate (%)', values: rates, tone: 'errors', scale: 'pct' },
      ],
      yFormat: (u, splits) => splits.map(compact),
      y2: { scale: 'pct', format: (u, splits) => splits.map((v) => `${v} %`), range: (u, min, max) => [0, Math.max(5, max * 1.1)] },
      readout: readout(report, [['requests', counts], ['error rate', rows.map((r) => r.rate), percent]], fmtInt),
    });
    const errors = rows.reduce((n, r) => n + r.errors, 0);
    numbers.append(numbersDetails({
      id: 'requests-table',
      caption: 'Requests, errors and error rate per period',
      columns: [{ label: 'Period' }, { label: 'Requests', numeric: true }, { label: 'Errors', numeric: true }, { label: 'Error rate', numeric: true }],
      rows: rows.map((r) => [when(r.start, report.bucket), fmtInt(r.requests), fmtInt(r.errors), percent(r.rate)]),
      foot: ['Total', { text: fmtInt(report.totals.requests), data: report.totals.requests }, { text: fmtInt(errors), data: errors },
        percent(report.totals.requests ? errors / report.totals.requests : null)],
    }));
  });
}

function latency(report) {
  const models = report.latency_by_model.map((m) => m.model);
  const csv = [() => usagePath('model', { view: 'models' }), 'usage-latency-by-model.csv', 'latency per model'];
  section('latency-section', csv, !models.length, ([ttftSlot, latencySlot], numbers) => {
    for (const [slot, field, what] of [[ttftSlot, 'ttft', 'Time to first token'], [latencySlot, 'latency', 'Latency']]) {
      const p50 = pivot(report, (item) => item[`${field}_p50_ms`]);
      const p95 = pivot(report, (item) => item[`${field}_p95_ms`]);
      const series = models.flatMap((m, n) => [
        { label: `${m} p50`, values: p50.values[m] || [], index: n },
        { label: `${m} p95`, values: p95.values[m] || [], index: n, dash: [6, 4] },
      ]);
      drawChart(slot, {
        kind: 'lines',
        x: p50.x,
        days: report.bucket === 'day',
        label: `${what} per model and period, median and 95th percentile; the figures per model are in the table below.`,
        series,
        yFormat: (u, splits) => splits.map((v) => `${compact(v)} ms`),
        readout: readout(report, series.map((s) => [s.label, s.values]), ms),
      });
    }
    numbers.append(numbersDetails({
      id: 'latency-table',
      caption: 'Time to first token and latency per model over the range',
      columns: ['Model', 'Requests', 'TTFT p50', 'TTFT p95', 'Latency p50', 'Latency p95'].map((label, i) => ({ label, numeric: i > 0 })),
      rows: report.latency_by_model.map((m) => [m.model, fmtInt(m.requests), ms(m.ttft_p50_ms), ms(m.ttft_p95_ms), ms(m.latency_p50_ms), ms(m.latency_p95_ms)]),
    }));
  });
}

function coldStarts(report) {
  const events = report.cold_start_events;
  const csv = [() => usagePath(state.by, { view: 'cold_starts' }), 'usage-cold-starts.csv', 'cold starts'];
  section('coldstarts-section', csv, !report.cold_starts.length, ([slot], numbers) => {
    const models = report.cold_starts.map((c) => c.model);
    const x = events.map((e) => unix(e.started_at));
    const series = models.map((m, n) => ({ label: m, index: n, values: events.map((e) => (e.model === m ? e.seconds : null)) }));
    drawChart(slot, {
      kind: 'points',
      x,
      label: 'Each cold start as a point: when it began and how many seconds it took, per endpoint; the counts and durations are in the table below.',
      series,
      yFormat: (u, splits) => splits.map((v) => `${compact(v)} s`),
      readout: (idx) => (idx === null || idx === undefined ? 'Point at a cold start for its figures.'
        : `${events[idx].model}: ${seconds(events[idx].seconds)} (${events[idx].outcome}), ${new Date(events[idx].started_at).toLocaleString()}`),
    });
    numbers.append(numbersDetails({
      id: 'coldstarts-table',
      caption: 'Cold starts per endpoint over the range',
      columns: ['Endpoint', 'Cold starts', 'Failed or timed out', 'Mean', 'p95', 'Longest'].map((label, i) => ({ label, numeric: i > 0 })),
      rows: report.cold_starts.map((c) => [c.model, { text: fmtInt(c.count), data: c.count }, fmtInt(c.failed + c.timeout),
        seconds(c.mean_seconds), seconds(c.p95_seconds), seconds(c.max_seconds)]),
    }));
  });
}

$('usage-range').addEventListener('change', (event) => {
  state.days = event.target.value;
  load();
});
$('usage-by').addEventListener('change', (event) => {
  state.by = event.target.value;
  load();
});
readLocation();
load();
