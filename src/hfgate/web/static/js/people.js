// The people page: invite or add someone, change a role, disable, make a reset link, remove.
import { api } from './lib/api.js';
import { initShell } from './lib/shell.js';
import { confirmDialog, copyButton, el, iconButton, openDialog, popupMenu, timeAgo, toast } from './lib/ui.js';

const ME = document.body.dataset.email;
const I_AM_OWNER = document.body.dataset.role === 'owner';
const ROLES = ['member', 'admin', 'owner'];
const $ = (id) => document.getElementById(id);
const form = $('invite-form');
const rows = $('people-rows');

initShell();

/** Only an owner acts on an owner (SECURITY.md); nobody disables or demotes themselves here. */
const mayManage = (user) => I_AM_OWNER || user.role !== 'owner';

function status(user) {
  if (user.disabled) return el('span', { class: 'badge failed' }, 'Disabled');
  if (!user.has_password) return el('span', { class: 'badge pending' }, 'Invited');
  return el('span', { class: 'badge ready' }, 'Active');
}

/** A person's budget as the API takes it back: "2000000/day", "$50/month" shown with a $. */
const budgetText = (budget) => `${budget.limit}/${budget.period}`;
const budgetOf = (user, kind) => (user.budgets || []).find((b) => b.kind === kind);

function budgetsLine(user) {
  const parts = (user.budgets || []).map((b) => (b.kind === 'usd' ? `$${budgetText(b)}` : `${budgetText(b)} tokens`));
  return parts.length ? el('div', { class: 'muted small' }, `Budget: ${parts.join(', ')}`) : null;
}

function roleCell(user) {
  const options = ROLES.filter((role) => I_AM_OWNER || role !== 'owner' || user.role === 'owner');
  const select = el('select', { 'aria-label': `Role of ${user.email}`, 'data-action': 'role' },
    ...options.map((role) => el('option', { value: role, selected: role === user.role }, role[0].toUpperCase() + role.slice(1))));
  select.disabled = !mayManage(user) || user.email === ME;
  select.addEventListener('change', () => setRole(user, select));
  return select;
}

function row(user) {
  const me = user.email === ME;
  const more = iconButton('more', `Actions for ${user.email}`, { 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'data-action': 'more' });
  more.disabled = !mayManage(user);
  more.addEventListener('click', () => popupMenu(more, actions(user, me)));
  return el('tr', { 'data-email': user.email, class: user.disabled ? 'revoked' : '' },
    el('td', { 'data-label': 'Email' }, user.email, me ? el('span', { class: 'chip admin-you' }, 'you') : null),
    el('td', { 'data-label': 'Role' }, roleCell(user)),
    el('td', { 'data-label': 'Status' }, status(user), budgetsLine(user)),
    el('td', { 'data-label': 'Keys' }, String(user.keys ?? 0)),
    el('td', { 'data-label': 'Signed in' }, user.last_sign_in_at ? timeAgo(user.last_sign_in_at) : '—'),
    el('td', { 'data-label': 'Added' }, timeAgo(user.created_at)),
    el('td', { class: 'actions' }, more));
}

function actions(user, me) {
  const items = [
    { label: 'Make a reset link', icon: 'key', onSelect: () => resetLink(user) },
    { label: 'Set a password', icon: 'lock', onSelect: () => setPassword(user) },
    { label: 'Set budgets', icon: 'chart', onSelect: () => setBudgets(user) },
  ];
  if (!me && user.role !== 'owner') {
    items.push(user.disabled
      ? { label: 'Enable', icon: 'check', onSelect: () => setDisabled(user, false) }
      : { label: 'Disable', icon: 'stop', danger: true, onSelect: () => setDisabled(user, true) });
  }
  if (!me) items.push({ label: 'Remove', icon: 'trash', danger: true, onSelect: () => remove(user) });
  return items;
}

async function load() {
  try {
    const people = (await api('/api/users')).data || [];
    rows.replaceChildren(...people.map(row));
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    rows.removeAttribute('aria-busy');
  }
}

function showLink(title, answer) {
  $('new-link-title').textContent = title;
  $('new-link-note').textContent = `It works once, until ${new Date(answer.expires_at).toLocaleString()}.`;
  $('new-link-value').textContent = answer.link;
  $('new-link').hidden = false;
  $('new-link').scrollIntoView({ block: 'nearest' });
}

async function change(work, done) {
  try {
    await work();
    if (done) toast(done);
  } catch (err) {
    toast(err.message, 'error', 6000);
  }
  load();
}

function setRole(user, select) {
  change(() => api(`/api/users/${user.id}`, { method: 'PATCH', json: { role: select.value } }),
    `${user.email} is now ${select.value} (signed out everywhere)`);
}

async function setDisabled(user, disabled) {
  if (disabled) {
    const ok = await confirmDialog({
      title: `Disable ${user.email}?`,
      body: 'They are signed out everywhere, cannot sign in, and their API keys stop working. Their conversations and keys are kept; enable them to undo.',
      confirm: 'Disable',
    });
    if (!ok) return;
  }
  change(() => api(`/api/users/${user.id}`, { method: 'PATCH', json: { disabled } }),
    `${user.email} ${disabled ? 'disabled' : 'enabled'}`);
}

async function resetLink(user) {
  try {
    const answer = await api(`/api/users/${user.id}/reset-link`, { method: 'POST' });
    showLink(`Reset link for ${user.email}: pass it on.`, answer);
  } catch (err) {
    toast(err.message, 'error', 6000);
  }
}

function setPassword(user) {
  openDialog({
    title: `Set a password for ${user.email}`,
    body: 'They are signed out everywhere and sign in with this password.',
    fields: [{ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password' }],
    confirm: 'Set password',
    onSubmit: (values) => api(`/api/users/${user.id}`, { method: 'PATCH', json: { password: values.password } }),
  }).then((result) => { if (result) { toast('Password set'); load(); } });
}

function setBudgets(user) {
  const value = (kind) => (budgetOf(user, kind) ? budgetText(budgetOf(user, kind)) : '');
  openDialog({
    title: `Budgets of ${user.email}`,
    body: 'Across all their keys and chats; calls over a budget are refused until it resets. Like 2000000/day or 50/month; empty: no budget.',
    fields: [
      { name: 'budget_tokens', label: 'Tokens', value: value('tokens'), placeholder: 'e.g. 2000000/day', required: false },
      { name: 'budget_usd', label: 'Dollars', value: value('usd'), placeholder: 'e.g. 100/month', required: false },
    ],
    confirm: 'Save budgets',
    onSubmit: (values) => api(`/api/users/${user.id}/budgets`, {
      method: 'PUT',
      json: { budget_tokens: values.budget_tokens.trim() || null, budget_usd: values.budget_usd.trim() || null },
    }),
  }).then((result) => { if (result) { toast('Budgets saved'); load(); } });
}

async function remove(user) {
  const ok = await confirmDialog({
    title: `Remove ${user.email}?`,
    body: 'Their keys and conversations are deleted. Disabling keeps them instead. This cannot be undone.',
    confirm: 'Remove',
  });
  if (ok) change(() => api(`/api/users/${user.id}`, { method: 'DELETE' }), `${user.email} removed`);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = $('invite-email').value.trim();
  const password = $('invite-password').value;
  const body = { email, role: $('invite-role').value };
  const button = $('invite-submit');
  button.disabled = true;
  try {
    if (password) {
      await api('/api/users', { method: 'POST', json: { ...body, password } });
      toast(`${email} added: they sign in with the password you chose`);
      $('new-link').hidden = true;
    } else {
      showLink(`Invitation for ${email}: pass this link on.`, await api('/api/users/invite', { method: 'POST', json: body }));
    }
    form.reset();
    load();
  } catch (err) {
    toast(err.message, 'error', 6000);
  } finally {
    button.disabled = false;
  }
});

copyButton($('new-link-copy'), $('new-link-value'), 'Link');

load();
