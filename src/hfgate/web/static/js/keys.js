// The API keys page: a person's keys (an admin sees everyone's), create one, revoke one; each
// key's budgets with what was spent, and the person's own budgets, flagged from 80 %.
import { api } from './lib/api.js';
import { icon } from './lib/icons.js';
import { initShell } from './lib/shell.js';
import { confirmDialog, copyButton, el, fmtInt, timeAgo, timeUntil, toast } from './lib/ui.js';

const IS_ADMIN = ['owner', 'admin'].includes(document.body.dataset.role);
const $ = (id) => document.getElementById(id);
const form = $('key-form');
const rows = $('key-rows');

initShell();
$('base-url').textContent = location.origin;

function limits(key) {
  const parts = [];
  if (key.rpm) parts.push(`${key.rpm} req/min`);
  if (key.tpm) parts.push(`${key.tpm.toLocaleString('en-US')} tok/min`);
  if (key.models?.length) parts.push(`models: ${key.models.join(', ')}`);
  return parts.join(' · ') || 'none';
}

const PER = { day: 'day', month: 'month' };
const money = (n) => `$${Number(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const amount = (b, n) => (b.kind === 'usd' ? money(n) : `${fmtInt(Math.round(n))} tokens`);

// One budget as a bar and a line: "1,700 of 2,000 tokens per day · resets in 5 h".
function budgetMeter(b) {
  if (b.spent === undefined) return el('div', { class: 'budget' }, `${amount(b, b.limit)} per ${PER[b.period]}`);
  const share = Math.min(1, b.spent / b.limit);
  const state = b.exhausted ? 'exhausted' : b.warning ? 'warning' : '';
  const words = `${amount(b, b.spent)} of ${amount(b, b.limit)} per ${PER[b.period]}`;
  const flag = b.exhausted ? 'spent: calls are refused' : b.warning ? `${Math.floor(share * 100)} % used` : '';
  return el('div', { class: `budget ${state}`, 'data-kind': b.kind },
    el('div', { class: 'budget-bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': b.limit, 'aria-valuenow': b.spent, 'aria-label': words },
      el('span', { style: `width: ${(share * 100).toFixed(1)}%` })),
    el('div', { class: 'budget-line' }, words, flag ? el('strong', {}, ` · ${flag}`) : null,
      el('span', { class: 'muted' }, ` · resets in ${timeUntil(b.resets_at)}`)));
}

function budgets(key) {
  if (!key.budgets?.length) return 'none';
  return el('div', { class: 'budgets' }, key.budgets.map(budgetMeter));
}

async function loadMine() {
  const box = $('my-budgets');
  try {
    const mine = (await api('/api/me/budgets')).data || [];
    const warn = mine.some((b) => b.warning);
    box.classList.toggle('warn', warn);
    box.replaceChildren(
      el('div', { class: 'budgets' },
        el('strong', {}, warn ? 'Your budget is nearly or wholly spent' : 'Your budget'),
        el('span', { class: 'muted small' }, ' (all your keys and chats)'),
        mine.map(budgetMeter)));
    box.hidden = mine.length === 0;
  } catch (err) {
    box.hidden = true;
  }
}

function row(key) {
  const revoked = !!key.revoked_at;
  const expired = key.expires_at && new Date(key.expires_at) < new Date();
  let actions = el('span', { class: 'muted small' }, revoked ? 'Revoked' : expired ? 'Expired' : '');
  if (!revoked) {
    actions = el('button', { type: 'button', class: 'btn small', 'data-action': 'revoke' }, icon('trash'), 'Revoke');
    actions.addEventListener('click', () => revoke(key));
  }
  return el('tr', { class: revoked ? 'revoked' : '', 'data-id': key.id },
    // data-label: at phone width each row is a card, and each cell says what it is.
    el('td', { 'data-label': 'Name' }, key.name),
    el('td', { class: 'mono', 'data-label': 'Key' }, key.prefix),
    IS_ADMIN ? el('td', { 'data-label': 'Owner' }, key.owner || '—') : null,
    el('td', { 'data-label': 'Limits' }, limits(key)),
    el('td', { 'data-label': 'Budget' }, budgets(key)),
    el('td', { 'data-label': 'Last used' }, timeAgo(key.last_used_at)),
    el('td', { 'data-label': 'Expires' }, key.expires_at ? (expired ? 'expired' : `in ${timeUntil(key.expires_at)}`) : 'never'),
    el('td', { class: 'actions' }, actions));
}

async function load() {
  try {
    const keys = (await api('/api/keys')).data || [];
    keys.sort((a, b) => !!a.revoked_at - !!b.revoked_at || b.id - a.id);
    rows.replaceChildren(...keys.map(row));
    $('keys-empty').hidden = keys.length > 0;
  } catch (err) {
    toast(err.message, 'error');
  }
  loadMine();
}

async function revoke(key) {
  const ok = await confirmDialog({
    title: `Revoke “${key.name}”?`,
    body: 'Programs using this key stop working at once. This cannot be undone.',
    confirm: 'Revoke',
  });
  if (!ok) return;
  try {
    await api(`/api/keys/${key.id}`, { method: 'DELETE' });
    toast('Key revoked');
  } catch (err) {
    toast(err.message, 'error');
  }
  load();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { name: $('key-name').value.trim() };
  if (!body.name) {
    $('key-name').focus();
    return;
  }
  for (const [field, id] of [['rpm', 'key-rpm'], ['tpm', 'key-tpm'], ['expires_days', 'key-expires']]) {
    const value = $(id).value.trim();
    if (value) body[field] = Number(value);
  }
  for (const [field, id] of [['budget_tokens', 'key-budget-tokens'], ['budget_usd', 'key-budget-usd']]) {
    const value = $(id).value.trim();
    if (value) body[field] = Number(value);
  }
  if (body.budget_tokens || body.budget_usd) body.budget_period = $('key-budget-period').value;
  const button = $('key-create');
  button.disabled = true;
  try {
    const created = await api('/api/keys', { method: 'POST', json: body });
    $('new-key-value').textContent = created.key;
    $('new-key').hidden = false;
    form.reset();
    load();
  } catch (err) {
    toast(err.message, 'error', 6000);
  } finally {
    button.disabled = false;
  }
});

copyButton($('new-key-copy'), $('new-key-value'), 'Key');

load();
