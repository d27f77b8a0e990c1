// The numbers behind each chart, as a table a screen reader (or a person) reads; and CSV
// downloads, fetched with `Accept: text/csv` since a link cannot send that header.
import { ApiError, readJson, request } from '../lib/api.js';
import { icon } from '../lib/icons.js';
import { el, fmtInt, toast } from '../lib/ui.js';

export const money = (n) => (n === null || n === undefined ? '—' : `$${Number(n).toFixed(2)}`);
export const ms = (n) => (n === null || n === undefined ? '—' : `${fmtInt(Math.round(n))} ms`);
export const seconds = (n) => (n === null || n === undefined ? '—' : `${Number(n).toFixed(1)} s`);
export const percent = (n) => (n === null || n === undefined ? '—' : `${(100 * n).toFixed(1)} %`);

const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
export const compact = (n) => (n === null || n === undefined ? '' : COMPACT.format(n));

/** When a bucket starts, in the reader's time zone: "Dec 3, 14:00", or "Dec 3" for days. */
export function when(iso, bucket) {
  const options = bucket === 'day'
    ? { month: 'short', day: 'numeric', timeZone: 'UTC' } // days are UTC days, named as such
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return new Date(iso).toLocaleString('en-US', options);
}

/**
 * A table: columns = [{label, numeric}], rows = [[cell, …]], foot = [cell, …] (totals).
 * A cell is text, or {text, data} to carry a raw figure (data-value) for tests and copy.
 */
export function numbersTable({ caption, columns, rows, foot, id }) {
  const cell = (tag, value, column, scope) => {
    const text = value && typeof value === 'object' ? value.text : value;
    const data = value && typeof value === 'object' ? value.data : undefined;
    return el(tag, { class: column?.numeric ? 'num' : '', scope, 'data-value': data }, text ?? '—');
  };
  const table = el('table', { class: 'table numbers-table', id },
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.numeric ? 'num' : '' }, c.label)))),
    el('tbody', {}, rows.map((row) => el('tr', {}, row.map((v, i) => cell(i === 0 ? 'th' : 'td', v, columns[i], i === 0 ? 'row' : undefined))))),
    foot ? el('tfoot', {}, el('tr', {}, foot.map((v, i) => cell(i === 0 ? 'th' : 'td', v, columns[i], i === 0 ? 'row' : undefined)))) : null);
  return el('div', { class: 'table-wrap numbers-wrap' }, table);
}

/** The table folded under "Show the numbers", next to its chart. */
export function numbersDetails(spec, open = false) {
  return el('details', { class: 'numbers', open },
    el('summary', {}, 'Show the numbers'),
    numbersTable(spec));
}

/** Fetch `path` as CSV and save it as `filename`. */
export async function downloadCsv(path, filename) {
  const response = await request(path, { accept: 'text/csv' });
  if (!response.ok) throw new ApiError(response.status, await readJson(response));
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A "Download CSV" button; `shown` names the view when a chart has several. */
export function csvButton(path, filename, what, shown = '') {
  const button = el('button', { type: 'button', class: 'btn small', 'data-csv': filename },
    icon('download'), shown ? `CSV: ${shown}` : 'Download CSV', el('span', { class: 'visually-hidden' }, ` (${what})`));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await downloadCsv(path(), filename);
    } catch (err) {
      toast(err.message || String(err), 'error');
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
