// The bar above the conversation: its title (and the page's), the settings dialog (system
// prompt, temperature), and the conversation's menu (rename, export, delete).
import { api } from '../lib/api.js';
import { exportUrl } from '../lib/shell.js';
import { el, iconButton, openDialog, popupMenu } from '../lib/ui.js';
import { currentSettings, keepTemperature } from './settings.js';
import { $, shell, state } from './state.js';

let settingsButton = null;

export function updateTopbar() {
  const conversation = state.conversation;
  $('conversation-menu-button').hidden = !conversation;
  const custom = currentSettings();
  settingsButton.classList.toggle('active', !!custom.system || custom.temperature !== null);
  document.title = `${conversation?.title || 'Chat'} · hfgate`;
  $('chat-heading').textContent = conversation?.title || 'New chat';
}

// -- the settings dialog -------------------------------------------------------------------------

function settingsForm({ system, temperature }) {
  return el('div', { class: 'settings' },
    el('label', { class: 'field' }, 'System prompt',
      el('textarea', { name: 'system', rows: 6, placeholder: 'How the model should answer in this conversation' }, system)),
    el('label', {}, 'Temperature (0–2, empty for the model’s default)',
      el('input', { type: 'number', name: 'temperature', min: '0', max: '2', step: '0.1', value: temperature ?? '' })));
}

function parseTemperature(text) {
  if (!String(text).trim()) return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 2) throw new Error('The temperature is a number from 0 to 2.');
  return value;
}

async function openSettings() {
  const before = currentSettings();
  await openDialog({
    title: 'Conversation settings',
    body: settingsForm(before),
    confirm: 'Save',
    onSubmit: (values) => saveSettings(before, { system: values.system.trim(), temperature: parseTemperature(values.temperature) }),
  });
}

async function saveSettings(before, after) {
  const conversation = state.conversation;
  if (!conversation) {
    state.pending = after;
  } else {
    if (after.system !== before.system) await saveSystem(conversation, after.system);
    keepTemperature(conversation.id, after.temperature);
  }
  updateTopbar();
  return after;
}

async function saveSystem(conversation, system) {
  const path = `/api/conversations/${encodeURIComponent(conversation.id)}`;
  const updated = await api(path, { method: 'PATCH', json: { system } });
  const messages = conversation.messages;
  if (messages[0]?.role === 'system') messages.shift();
  if (updated.messages[0]?.role === 'system') messages.unshift(updated.messages[0]);
  shell.upsert(updated);
}

// -- the conversation's menu ---------------------------------------------------------------------

function openMenu(event) {
  event.stopPropagation();
  const conversation = state.conversation;
  if (!conversation) return;
  popupMenu($('conversation-menu-button'), [
    { label: 'Rename', icon: 'pencil', onSelect: () => renameCurrent(conversation) },
    { label: 'Export as Markdown', icon: 'download', href: exportUrl(conversation.id, 'markdown'), download: true },
    { label: 'Export as JSON', icon: 'download', href: exportUrl(conversation.id, 'json'), download: true },
    { label: 'Delete', icon: 'trash', danger: true, onSelect: () => shell.remove(conversation.id) },
  ]);
}

async function renameCurrent(conversation) {
  const updated = await openDialog({
    title: 'Rename conversation',
    fields: [{ name: 'title', label: 'Title', value: conversation.title || '' }],
    confirm: 'Rename',
    onSubmit: (values) => api(`/api/conversations/${encodeURIComponent(conversation.id)}`, { method: 'PATCH', json: { title: values.title } }),
  });
  if (updated) onRenamed(updated);
}

/** A conversation renamed here or in the sidebar. */
export function onRenamed(updated) {
  shell.upsert(updated);
  if (state.conversation?.id === updated.id) {
    state.conversation.title = updated.title;
    updateTopbar();
  }
}

export function initTopbar() {
  settingsButton = iconButton('edit', 'Conversation settings', { id: 'settings-button', 'aria-haspopup': 'dialog' });
  $('conversation-menu-button').before(settingsButton);
  settingsButton.addEventListener('click', () => openSettings());
  $('conversation-menu-button').addEventListener('click', openMenu);
}
