// The usage page's cost section: GET /api/costs drawn per endpoint (serving, idle and starting
// stacked), who used what share, and for admins the scale-to-zero advice with "Apply".
import { api, request } from '../lib/api.js';
import { confirmDialog, el, fmtInt, toast } from '../lib/ui.js';
import { afterDraw, drawChart, dropCharts } from './charts.js';
import { csvButton, money, numbersDetails, when } from './tables.js';

const $ = (id) => document.getElementById(id);
const IS_ADMIN = ['owner', 'admin'].includes(document.body.dataset.role);
const STATES = [['serving', 'Serving'], ['idle', 'Idle'], ['starting', 'Starting']];
const unix = (iso) => new Date(iso).getTime() / 1000;

export async function loadCosts(days) {
  const root = $('costs-section');
  dropCharts(root);
  const group = days === '1' ? 'hour' : 'day';
  const path = (view) => `/api/costs?${new URLSearchParams({ days, group, view })}`;
  let report;
  try {
    const response = await request(path('endpoints'), { accept: 'application/json' });
    if (response.status === 404) return unavailable(root, 'This server does not report costs.');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    report = await response.json();
  } catch (err) {
    return unavailable(root, `The costs could not be loaded: ${err.message}`);
  }
  root.querySelector('.csv-slot').replaceChildren(
    csvButton(() => path('endpoints'), `costs-${group}.csv`, 'the cost per endpoint', 'per endpoint'),
    csvButton(() => path('attribution'), `costs-attribution-${group}.csv`, 'who used what', 'who used what'));
  endpoints(root, report, group);
  attribution(root, report);
  afterDraw(root);
  if (IS_ADMIN) await advice(days === '30' ? 30 : 7);
}

function unavailable(root, message) {
  for (const slot of root.querySelectorAll('.chart-slot, .numbers-slot, .attribution-slot, .csv-slot')) slot.replaceChildren();
  root.querySelector('.chart-slot').append(el('p', { class: 'muted chart-empty' }, message));
}

function endpoints(root, report, group) {
  const slot = root.querySelector('.chart-slot');
  const numbers = root.querySelector('.numbers-slot');
  numbers.replaceChildren();
  $('costs-note').textContent = report.endpoints.length || !IS_ADMIN
    ? `Per endpoint and ${group}, stacked: serving (requests in flight), idle (running with no traffic) and starting.`
    : 'No endpoint has a price or an observed state in this range yet.';
  if (!report.endpoints.length) {
    slot.replaceChildren(el('p', { class: 'muted chart-empty' },
      IS_ADMIN ? 'Nothing in this range.' : 'The endpoints\' own costs are shown to admins; your share is below.'));
    return;
  }
  slot.replaceChildren(...report.endpoints.map((e) => el('div', { class: 'cost-chart' },
    el('h3', { class: 'cost-title' }, e.model, el('span', { class: 'muted small' }, ` · ${money(e.total_usd)}${e.price_per_hour ? ` at ${money(e.price_per_hour)}/h` : ''}`)),
    el('div', { class: 'cost-plot' }))));
  report.endpoints.forEach((e, n) => costChart(slot.children[n].querySelector('.cost-plot'), e, group));
  const rows = report.endpoints.flatMap((e) => e.periods.map((p) => [
    `${e.model}, ${when(p.start, group)}`, money(p.serving_usd), money(p.idle_usd), money(p.starting_usd), money(p.total_usd)]));
  const totals = report.totals;
  numbers.append(numbersDetails({
    id: 'costs-table',
    caption: 'Cost per endpoint and period',
    columns: ['Endpoint and period', 'Serving', 'Idle', 'Starting', 'Total'].map((label, i) => ({ label, numeric: i > 0 })),
    rows,
    foot: ['Total', money(totals.serving_usd), money(totals.idle_usd), money(totals.starting_usd), { text: money(totals.total_usd), data: totals.total_usd }],
  }));
}

function costChart(box, endpoint, group) {
  const periods = endpoint.periods;
  const series = STATES.map(([state, label]) => ({ label, tone: state, values: periods.map((p) => p[`${state}_usd`] || 0) }));
  drawChart(box, {
    kind: 'bars',
    x: periods.map((p) => unix(p.start)),
    days: group === 'day',
    height: 180,
    label: `${endpoint.model}: dollars per ${group}, serving, idle and starting stacked; the figures are in the table below.`,
    series,
    yFormat: (u, splits) => splits.map((v) => (v === 0 ? '$0' : `$${v < 10 ? v.toFixed(2) : Math.round(v)}`)),
    readout: (idx) => (idx === null || idx === undefined ? 'Point at a bar for its figures.'
      : `${when(periods[idx].start, group)} — ${series.map((s) => `${s.label.toLowerCase()} ${money(s.values[idx])}`).join(' · ')}`),
  });
}

/** The attribution lines added up over the range: one row per endpoint, line, person and key. */
function attribution(root, report) {
  const sums = new Map();
  for (const line of report.attribution) {
    const id = [line.model, line.line, line.user_id, line.key_id].join('\u0000');
    const row = sums.get(id) || { ...line, usd: 0, tokens: 0 };
    row.usd += line.usd || 0;
    row.tokens += line.tokens || 0;
    sums.set(id, row);
  }
  // Shares of what the lines add up to: each period's lines are rounded to cents on their own.
  const totals = new Map();
  for (const row of sums.values()) totals.set(row.model, (totals.get(row.model) || 0) + row.usd);
  const rows = [...sums.values()].sort((a, b) => a.model.localeCompare(b.model) || b.usd - a.usd);
  const who = (r) => (r.line === 'usage' ? `${r.user || 'unknown'}${r.key ? ` (${r.key})` : ''}` : `the endpoint itself (${r.line})`);
  const share = (r) => (totals.get(r.model) ? `${((100 * r.usd) / totals.get(r.model)).toFixed(1)} %` : '—');
  const slot = root.querySelector('.attribution-slot');
  if (!rows.length) {
    slot.replaceChildren(el('p', { class: 'muted chart-empty' }, 'No cost to share out in this range.'));
    return;
  }
  slot.replaceChildren(numbersDetails({
    id: 'attribution-table',
    caption: 'Who used what share of each endpoint\'s cost',
    columns: ['Endpoint', 'Who', 'Tokens', 'Dollars', 'Share'].map((label, i) => ({ label, numeric: i > 1 })),
    rows: rows.map((r) => [r.model, who(r), fmtInt(r.tokens), money(r.usd), share(r)]),
  }, true));
}

async function advice(days) {
  const slot = document.querySelector('#advice-section .advice-slot');
  if (!slot) return;
  try {
    const answer = await api(`/api/costs/advice?days=${days}`);
    slot.replaceChildren(...(answer.data.length ? answer.data.map(adviceCard)
      : [el('p', { class: 'muted chart-empty' }, 'No endpoint with a known price and scale-to-zero timeout yet.')]));
  } catch (err) {
    slot.replaceChildren(el('p', { class: 'muted chart-empty' }, err.status === 404 ? 'This server gives no advice.' : `The advice could not be loaded: ${err.message}`));
  }
}

function figures(label, outcome) {
  if (!outcome) return null;
  return el('div', { class: 'advice-figures' },
    el('strong', {}, `${label}: ${outcome.timeout_minutes} min`),
    el('span', { class: 'muted small' }, ` idle ${money(outcome.idle_usd)} · starting ${money(outcome.starting_usd)} · total ${money(outcome.total_usd)} · ${fmtInt(outcome.cold_starts)} cold starts`));
}

function adviceCard(item) {
  const apply = el('button', { type: 'button', class: 'btn small primary' }, `Apply ${item.best.timeout_minutes} min`);
  apply.addEventListener('click', () => applyAdvice(item, apply));
  return el('article', { class: 'advice-card', 'aria-label': `Advice for ${item.model}` },
    el('h3', {}, item.model, item.hf_endpoint ? el('span', { class: 'muted small' }, ` · ${item.hf_endpoint}`) : null),
    el('p', {}, item.summary),
    figures('Now', item.current),
    figures('Best', item.best),
    item.can_apply ? apply : el('p', { class: 'muted small' }, item.why_not || 'The endpoint already has the best timeout.'));
}

async function applyAdvice(item, button) {
  const minutes = item.best.timeout_minutes;
  const sure = await confirmDialog({
    title: `Scale ${item.model} to zero after ${minutes} min?`,
    body: `This sets the endpoint's scale-to-zero timeout on Hugging Face (now ${item.current_timeout_minutes ?? 'unknown'} min). It is recorded in the audit log.`,
    confirm: 'Apply',
    danger: false,
  });
  if (!sure) return;
  button.disabled = true;
  try {
    await api(`/api/costs/advice/${encodeURIComponent(item.model)}/apply`, { method: 'POST', json: { timeout_minutes: minutes } });
    toast(`${item.model} now scales to zero after ${minutes} min.`);
    button.replaceWith(el('p', { class: 'muted small' }, `Applied: ${minutes} min.`));
  } catch (err) {
    toast(err.message || String(err), 'error');
    button.disabled = false;
  }
}
