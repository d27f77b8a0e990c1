// The audit log: filter by who, action, target and dates; page back by id; download as CSV.
import { api, request } from './lib/api.js';
import { initShell } from './lib/shell.js';
import { el, toast } from './lib/ui.js';

const $ = (id) => document.getElementById(id);
const form = $('audit-filters');
const rows = $('audit-rows');
const more = $('audit-more');
const PAGE = 100;
const KNOWN_ACTIONS = new Set();
let nextBefore = null;

initShell();

/** The filters as query parameters; a date "until" includes its whole day. */
function params() {
  const query = new URLSearchParams();
  for (const name of ['actor', 'action', 'target']) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  if (form.since.value) query.set('since', form.since.value);
  if (form.until.value) {
    const day = new Date(`${form.until.value}T00:00:00Z`);
    day.setUTCDate(day.getUTCDate() + 1);
    query.set('until', day.toISOString().slice(0, 10));
  }
  return query;
}

function detail(value) {
  const entries = Object.entries(value || {});
  if (!entries.length) return '';
  return entries.map(([key, v]) => `${key}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ');
}

function row(event) {
  KNOWN_ACTIONS.add(event.action);
  const when = new Date(event.at);
  return el('tr', { 'data-id': event.id },
    el('td', { 'data-label': 'When' }, el('time', { datetime: event.at, title: when.toISOString() }, when.toLocaleString())),
    el('td', { 'data-label': 'Who' }, event.actor),
    el('td', { class: 'mono', 'data-label': 'Action' }, event.action),
    el('td', { 'data-label': 'Target' }, event.target),
    el('td', { class: 'small muted', 'data-label': 'Detail' }, detail(event.detail)));
}

async function load(append = false) {
  const query = params();
  query.set('limit', String(PAGE));
  if (append && nextBefore) query.set('before_id', String(nextBefore));
  rows.setAttribute('aria-busy', 'true');
  try {
    const page = await api(`/api/audit?${query}`);
    const made = page.data.map(row);
    if (append) rows.append(...made); else rows.replaceChildren(...made);
    nextBefore = page.next_before_id;
    more.hidden = !nextBefore;
    $('audit-empty').hidden = rows.children.length > 0;
    $('audit-actions').replaceChildren(...[...KNOWN_ACTIONS].sort().map((a) => el('option', { value: a })));
  } catch (err) {
    toast(err.message, 'error', 6000);
  } finally {
    rows.removeAttribute('aria-busy');
  }
}

/** The CSV of the same filters, fetched with the session (a plain link would get JSON). */
async function downloadCsv(event) {
  event.preventDefault();
  const query = params();
  query.set('limit', '1000');
  try {
    const response = await request(`/api/audit?${query}`, { accept: 'text/csv' });
    if (!response.ok) throw new Error(`the export failed (HTTP ${response.status})`);
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: 'hfgate-audit.csv', hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) {
    toast(err.message, 'error', 6000);
  }
}

form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
form.addEventListener('reset', () => setTimeout(() => load(), 0));
more.addEventListener('click', () => load(true));
$('audit-csv').addEventListener('click', downloadCsv);
load();
