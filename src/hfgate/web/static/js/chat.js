// The chat page: model picker, streamed markdown answers, stop, regenerate, edit and resend,
// the context meter, cold-start progress, readable errors, and the conversation history.
import { api, ApiError, readJson, request } from './lib/api.js';
import { Attachments, contentWith, imagesOf, textOf } from './lib/attachments.js';
import { icon } from './lib/icons.js';
import { renderMarkdown } from './lib/markdown.js';
import { exportUrl, initShell } from './lib/shell.js';
import { readEvents } from './lib/sse.js';
import { engineLabel, STATUS, statusLabel } from './lib/status.js';
import { copyText, el, fmtInt, iconButton, openDialog, popupMenu, toast } from './lib/ui.js';

const IS_ADMIN = ['owner', 'admin'].includes(document.body.dataset.role);
const MODEL_POLL_MS = 5000;
const SLOW_START_MS = 3000; // no first token by then: show the waiting state
// 'idle' is inferred (no recent traffic): the endpoint may be asleep, so it is treated as cold.
const COLD = new Set(['scaled_to_zero', 'waking', 'initializing', 'pending', 'idle']);
// On touch screens Enter makes a new line (there is no Shift): the Send button sends.
const TOUCH = window.matchMedia('(pointer: coarse)').matches;

const $ = (id) => document.getElementById(id);
const thread = $('thread');
const list = $('messages');
const promptBox = $('prompt');
const sendButton = $('send');
const stopButton = $('stop');

const state = {
  models: [],
  model: null, // the selected model id
  conversation: null, // {id, title, model, messages: [...]}
  streaming: null, // the answer being streamed
  busy: false, // between Enter and the end of the answer (a second Enter must not send)
  meter: { used: null, window: null },
  opening: 0, // a counter, so a slow load cannot overwrite a newer one
  pending: { system: '', temperature: null }, // the settings of a chat not created yet
};

// -- errors people can act on ------------------------------------------------------------------

const ERRORS = {
  context_length_exceeded: {
    title: 'This conversation no longer fits the model’s context window',
    fix: 'Start a new chat, or shorten your message.',
  },
  endpoint_paused: {
    title: 'The endpoint is paused',
    fix: 'It will not wake by itself. An admin resumes it on the endpoint’s Hugging Face page.',
  },
  upstream_auth_failed: {
    title: 'The endpoint rejected hfgate’s credential',
    fix: IS_ADMIN
      ? 'Update the endpoint’s token on the Integrations page (Rotate key).'
      : 'Ask an admin to update the endpoint’s token.',
    link: IS_ADMIN ? '/integrations' : null,
  },
  endpoint_cold_start_timeout: {
    title: 'The endpoint did not wake up in time',
    fix: 'It may still be starting: try again in a minute. If it keeps failing, an admin can check the endpoint.',
  },
  endpoint_cold_start: {
    title: 'The endpoint is still starting',
    fix: 'Try again in a minute.',
  },
  upstream_overloaded: { title: 'The endpoint is busy', fix: 'Try again in a few seconds.' },
  rate_limit_exceeded: { title: 'You have hit your rate limit', fix: 'Wait a moment, then try again.' },
  upstream_unreachable: {
    title: 'hfgate could not reach the endpoint',
    fix: IS_ADMIN ? 'Check the endpoint on the Models and Integrations pages.' : 'Ask an admin to check the endpoint.',
  },
  model_not_found: { title: 'This model is no longer available', fix: 'Pick another model at the top of the page.' },
  model_not_allowed: { title: 'You may not use this model', fix: 'Pick another model, or ask an admin for access.' },
  network: { title: 'The connection was lost', fix: 'The partial answer was kept. Check your connection and regenerate.' },
};

function describeError(error) {
  const code = error?.code || null;
  const known = ERRORS[code] || { title: 'The answer failed', fix: 'Try again; if it keeps failing, tell an admin.' };
  return { ...known, message: error?.message || '' };
}

function errorPanel(error) {
  const info = describeError(error);
  const fix = el('p', { class: 'fixer' }, info.fix);
  if (info.link) fix.append(' ', el('a', { href: info.link }, 'Open Integrations →'));
  return el('div', { class: 'msg-error', role: 'alert' },
    el('span', { 'data-icon': 'alert' }, icon('alert')),
    el('div', {},
      el('strong', {}, info.title),
      info.message && info.message !== info.title ? el('p', {}, info.message) : null,
      fix));
}

// -- models and the picker ---------------------------------------------------------------------

const picker = {
  button: $('model-button'),
  menu: $('model-menu'),
  label: $('model-label'),
  dot: $('model-dot'),
  active: -1,
};

function model(id) {
  return state.models.find((m) => m.id === id) || null;
}

async function loadModels() {
  try {
    // Embedding and reranking models are listed on the models page, not offered for chat.
    const listed = (await api('/api/models')).data || [];
    state.models = listed.filter((m) => (m.kind || 'chat') === 'chat');
  } catch (err) {
    if (!state.models.length) picker.label.textContent = 'Models unavailable';
    return;
  }
  if (!state.model || (!model(state.model) && !state.conversation)) state.model = defaultModel();
  renderPicker();
  renderEmpty();
  updateMeter();
}

// Wake on open: a chat opened with a sleeping model starts its endpoint at once, so it is warm
// by the time the message is typed. The server decides (the admin's opt-in, one wake per model
// every few minutes, never a pause hfgate did not make); this only asks once a minute.
const wakeAsked = new Map();
async function wakeOnOpen() {
  const current = model(state.model);
  if (!current || !['scaled_to_zero', 'paused', 'idle'].includes(current.status)) return;
  if (Date.now() - (wakeAsked.get(current.id) || 0) < 60_000) return;
  wakeAsked.set(current.id, Date.now());
  const path = current.id.split('/').map(encodeURIComponent).join('/');
  let answer;
  try {
    answer = await api(`/api/models/${path}/wake`, { method: 'POST' });
  } catch {
    return;
  }
  if (!answer.woken || state.model !== current.id || state.streaming) return;
  const usually = answer.typical_seconds ? ` — usually ~${Math.round(answer.typical_seconds)} s` : '';
  showNotice(`Starting ${shortName(current.id)}${usually}. Type your message meanwhile.`, 'info');
  loadModels();
}

function defaultModel() {
  const wanted = new URLSearchParams(location.search).get('model') || localStorage.getItem('hfgate.model');
  if (wanted && model(wanted)) return wanted;
  const usable = state.models.filter((m) => m.status !== 'pending');
  return (usable.find((m) => m.status === 'ready') || usable[0] || state.models[0] || {}).id || null;
}

function renderPicker() {
  const current = model(state.model);
  picker.button.disabled = !state.models.length;
  picker.label.textContent = state.model || (state.models.length ? 'Choose a model' : 'No models yet');
  picker.dot.className = `dot ${current?.status || ''}`;
  picker.button.title = current ? `${current.id} · ${statusLabel(current.status)}` : '';
  promptBox.placeholder = state.model ? `Message ${shortName(state.model)}` : 'No model to talk to yet';
  if (!picker.menu.hidden) renderMenu();
  updateSendState();
}

function shortName(id) {
  return id.includes('/') ? id.split('/').pop() : id;
}

function renderMenu() {
  const items = state.models.map((m, index) => {
    const meta = [`${fmtInt(m.context_window)}-token context`, engineLabel(m.engine, m.engine_version)];
    if (m.model_name && m.model_name !== m.id) meta.unshift(m.model_name);
    return el('li', {
      role: 'option', id: `model-option-${index}`, 'data-id': m.id,
      'aria-selected': m.id === state.model ? 'true' : 'false',
      'aria-disabled': m.status === 'pending' ? 'true' : null,
      class: index === picker.active ? 'active' : '',
    },
    el('span', { class: 'pm-name' }, m.id),
    el('span', { class: `badge ${m.status}` }, statusLabel(m.status)),
    el('span', { class: 'pm-meta' }, meta.join(' · ')));
  });
  picker.menu.replaceChildren(...items);
  if (picker.active >= 0) picker.menu.setAttribute('aria-activedescendant', `model-option-${picker.active}`);
}

function openPicker() {
  picker.active = Math.max(0, state.models.findIndex((m) => m.id === state.model));
  picker.menu.hidden = false;
  picker.button.setAttribute('aria-expanded', 'true');
  renderMenu();
  picker.menu.focus();
}

function closePicker(focusButton = true) {
  picker.menu.hidden = true;
  picker.button.setAttribute('aria-expanded', 'false');
  if (focusButton) picker.button.focus();
}

function choose(id) {
  if (model(id)?.status === 'pending') {
    toast(`${id} is still being checked: it can be used once its endpoint runs.`, 'error');
    return;
  }
  state.model = id;
  localStorage.setItem('hfgate.model', id);
  renderPicker();
  renderEmpty();
  updateMeter();
  closePicker(false);
  promptBox.focus();
  wakeOnOpen();
}

picker.button.addEventListener('click', () => (picker.menu.hidden ? openPicker() : closePicker()));
picker.menu.addEventListener('click', (event) => {
  const option = event.target.closest('li[data-id]');
  if (option) choose(option.dataset.id);
});
picker.menu.addEventListener('keydown', (event) => {
  const count = state.models.length;
  if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    picker.active = (picker.active + (event.key === 'ArrowDown' ? 1 : -1) + count) % count;
    renderMenu();
    picker.menu.querySelector('li.active')?.scrollIntoView({ block: 'nearest' });
  } else if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    if (state.models[picker.active]) choose(state.models[picker.active].id);
  } else if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    closePicker();
  } else if (event.key === 'Tab') {
    closePicker(false);
  }
});
document.addEventListener('click', (event) => {
  if (!picker.menu.hidden && !$('model-picker').contains(event.target)) closePicker(false);
});

// -- the empty states and the meter -------------------------------------------------------------

function renderEmpty() {
  const hasMessages = !!state.conversation?.messages.some((m) => m.role !== 'system');
  $('no-models').hidden = state.models.length > 0 || hasMessages;
  $('empty-chat').hidden = hasMessages || !state.models.length;
  const current = model(state.model);
  const line = $('empty-model-line');
  if (!current) {
    line.textContent = 'Choose a model at the top to start.';
  } else if (COLD.has(current.status) || ['paused', 'unreachable', 'auth_failed'].includes(current.status)) {
    line.textContent = `${current.id} — ${STATUS[current.status]?.hint || statusLabel(current.status)}`;
  } else {
    line.textContent = `You are chatting with ${current.id} (${fmtInt(current.context_window)}-token context).`;
  }
}

function updateMeter() {
  const window = state.meter.window || model(state.model)?.context_window || null;
  const used = state.meter.used;
  const text = $('meter-text');
  const meter = $('meter');
  text.textContent = window
    ? `${used === null ? '—' : fmtInt(used)} / ${fmtInt(window)} tokens`
    : `${used === null ? '—' : fmtInt(used)} tokens`;
  const ratio = window && used !== null ? Math.min(1, used / window) : 0;
  $('meter-fill').style.width = `${(ratio * 100).toFixed(1)}%`;
  meter.classList.toggle('high', ratio >= 0.75 && ratio < 0.95);
  meter.classList.toggle('full', ratio >= 0.95);
}

function meterFromHistory(messages) {
  const last = [...messages].reverse().find((m) => m.role === 'assistant' && m.prompt_tokens !== null);
  state.meter.used = last ? (last.prompt_tokens || 0) + (last.completion_tokens || 0) : null;
  state.meter.window = null;
  updateMeter();
}

function showNotice(text, kind = 'info') {
  const notice = $('notice');
  if (!text) {
    notice.hidden = true;
    return;
  }
  notice.className = `notice ${kind}`;
  notice.replaceChildren(icon(kind === 'warn' ? 'alert' : 'info'), el('span', {}, text));
  notice.hidden = false;
}

// -- messages ----------------------------------------------------------------------------------

function visible(messages) {
  return messages.filter((m) => m.role !== 'system');
}

function renderMessages() {
  const nodes = visible(state.conversation?.messages || []).map(buildMessage);
  list.replaceChildren(...nodes);
  refreshActions();
  renderEmpty();
}

function buildMessage(message) {
  const node = el('li', { class: `msg ${message.role}` });
  message.node = node;
  if (message.id) node.dataset.id = message.id;
  if (message.role === 'user') {
    const images = imagesOf(message.parts);
    if (images.length) {
      node.append(el('div', { class: 'msg-images' },
        ...images.map((url, i) => el('img', { src: url, alt: `Attached image ${i + 1}` }))));
    }
    message.body = el('div', { class: 'bubble' }, message.content);
    message.body.hidden = !message.content;
    node.append(message.body);
    if (message.content.length > LONG_MESSAGE || message.content.split('\n').length > 14) clamp(message, node);
  } else {
    message.tags = el('span', { class: 'msg-tags' });
    node.append(el('div', { class: 'msg-head' },
      el('img', { class: 'msg-avatar', src: '/static/img/logo.svg', alt: '' }),
      el('span', { class: 'model-chip' }, message.model || 'assistant'),
      message.tags));
    message.body = el('div', { class: 'msg-body md' });
    message.extra = el('div', { class: 'msg-extra' });
    node.append(message.body, message.extra);
    paintAnswer(message);
  }
  message.actions = el('div', { class: 'msg-actions' });
  node.append(message.actions);
  return node;
}

const LONG_MESSAGE = 1200;

/** A long question is shown folded, with a button to unfold it. */
function clamp(message, node) {
  message.body.classList.add('clamped');
  const toggle = el('button', { type: 'button', class: 'btn small ghost more-toggle', 'aria-expanded': 'false' }, 'Show more');
  toggle.addEventListener('click', () => {
    const open = message.body.classList.toggle('clamped');
    toggle.textContent = open ? 'Show more' : 'Show less';
    toggle.setAttribute('aria-expanded', String(!open));
  });
  node.append(toggle);
}

function paintAnswer(message) {
  if (message.content) renderMarkdown(message.body, message.content);
  else if (message.status === 'streaming') message.body.replaceChildren(typingDots());
  else message.body.replaceChildren();
  message.body.hidden = !message.content && message.status !== 'streaming';
  paintStatus(message);
}

function paintStatus(message) {
  if (message.node) message.node.dataset.status = message.status || 'complete';
  const tags = [];
  if (message.status === 'interrupted') {
    tags.push(el('span', { class: 'tag interrupted', title: 'The answer stopped before it was complete; what arrived is kept.' }, 'Interrupted'));
  }
  if (message.status === 'error') tags.push(el('span', { class: 'tag error' }, 'Failed'));
  message.tags?.replaceChildren(...tags);
  if (message.extra) {
    if (message.status === 'error') {
      const error = typeof message.error === 'string' ? { message: message.error, code: message.error_code } : message.error;
      message.extra.replaceChildren(errorPanel(error));
    } else if (message.status !== 'streaming') {
      message.extra.replaceChildren();
    }
  }
}

function typingDots() {
  return el('div', { class: 'typing', 'aria-label': 'Waiting for the answer' }, el('span'), el('span'), el('span'));
}

/** Copy on every message; edit on the last question; regenerate on the last answer. */
function refreshActions() {
  const messages = visible(state.conversation?.messages || []);
  const busy = !!state.streaming;
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const last = messages[messages.length - 1];
  for (const message of messages) {
    if (!message.actions) continue;
    const buttons = [];
    if (message.status !== 'streaming') {
      if (message.content) {
        const copy = iconButton('copy', 'Copy');
        copy.addEventListener('click', async () => {
          const ok = await copyText(message.content);
          toast(ok ? 'Copied' : 'Could not copy', ok ? 'info' : 'error', 1500);
        });
        buttons.push(copy);
      }
      if (!busy && message === lastUser) {
        const edit = iconButton('pencil', 'Edit and resend', { 'data-action': 'edit' });
        edit.addEventListener('click', () => startEdit(message));
        buttons.push(edit);
      }
      if (!busy && message === last && (message.role === 'assistant' || message === lastUser)) {
        const label = message.role === 'assistant' ? 'Regenerate' : 'Get an answer';
        const again = iconButton('refresh', label, { 'data-action': 'regenerate' });
        again.addEventListener('click', () => regenerate(message));
        buttons.push(again);
      }
      if (message.role === 'assistant' && message.completion_tokens) buttons.push(usageTag(message));
    }
    const pager = versionPager(message, busy);
    if (pager) buttons.unshift(pager);
    message.actions.replaceChildren(...buttons);
    message.node.classList.toggle('last', message === last || message === lastUser);
  }
}

// -- answer versions: a regenerated answer keeps the earlier ones, ‹ 2 / 3 › flips between
// them, and the one shown is the one the conversation continues from (the server's "selected")

function versionsOf(message) {
  return message.versions?.length ? message.versions : [message];
}

// The server lists each answer's versions as plain records: link them to the shown one, so
// that every version knows its siblings and the shown one is the very object on the page.
function linkVersions(messages) {
  for (const message of messages) {
    if (message.role !== 'assistant' || !message.versions?.length) continue;
    const versions = message.versions.map((v) => (v.id === message.id ? message : v));
    for (const version of versions) version.versions = versions;
  }
  return messages;
}

function versionPager(message, busy) {
  const versions = versionsOf(message);
  if (message.role !== 'assistant' || versions.length < 2) return null;
  const index = versions.indexOf(message);
  const previous = el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Previous version', title: 'Previous version', 'data-action': 'previous-version' }, icon('chevron-left'));
  const next = el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Next version', title: 'Next version', 'data-action': 'next-version' }, icon('chevron-right'));
  previous.disabled = busy || index <= 0;
  next.disabled = busy || index >= versions.length - 1;
  previous.addEventListener('click', () => showVersion(message, versions[index - 1], 'previous-version'));
  next.addEventListener('click', () => showVersion(message, versions[index + 1], 'next-version'));
  const label = el('span', { class: 'version-label' }, `${index + 1} / ${versions.length}`);
  return el('span', { class: 'versions', role: 'group', 'aria-label': `Version ${index + 1} of ${versions.length}` }, previous, label, next);
}

async function showVersion(shown, chosen, focus) {
  const conversation = state.conversation;
  if (!chosen || state.streaming || state.busy) return;
  try {
    await api(`/api/conversations/${encodeURIComponent(conversation.id)}/messages/${encodeURIComponent(chosen.id)}/select`, { method: 'POST' });
  } catch (err) {
    toast(err.message, 'error');
    return;
  }
  const index = conversation.messages.indexOf(shown);
  if (state.conversation !== conversation || index < 0) return;
  conversation.messages[index] = chosen;
  shown.node.replaceWith(buildMessage(chosen));
  meterFromHistory(conversation.messages);
  refreshActions();
  // Keep the keyboard where it was: on the same arrow, or the other one at either end.
  const buttons = chosen.node.querySelectorAll('.versions button');
  const target = chosen.node.querySelector(`[data-action="${focus}"]`);
  (target && !target.disabled ? target : [...buttons].find((b) => !b.disabled))?.focus();
}

// Prompt tokens (when counted) · answer tokens; an answer cut short shows what it had so far.
function usageTag(message) {
  const out = `${fmtInt(message.completion_tokens)} out`;
  const text = message.prompt_tokens ? `${fmtInt(message.prompt_tokens)} in · ${out}` : out;
  return el('span', { class: 'usage', title: 'Prompt tokens · answer tokens' }, text);
}

// -- scrolling ---------------------------------------------------------------------------------

let stickToBottom = true;
thread.addEventListener('scroll', () => {
  stickToBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
});

function scrollToBottom(force = false) {
  if (force || stickToBottom) thread.scrollTop = thread.scrollHeight;
}

// -- conversations -----------------------------------------------------------------------------

function conversationIdFromPath() {
  const match = location.pathname.match(/^\/chat\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

async function openConversation(id, { push = true } = {}) {
  if (state.streaming) stopStreaming();
  const ticket = ++state.opening;
  let conversation;
  try {
    conversation = await api(`/api/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (ticket !== state.opening) return;
    toast(err.status === 404 ? 'That conversation does not exist (any more).' : err.message, 'error');
    newChat({ push: true, replace: true });
    return;
  }
  if (ticket !== state.opening) return;
  linkVersions(conversation.messages);
  state.conversation = conversation;
  if (conversation.model) state.model = conversation.model;
  wakeOnOpen();
  if (push) history.pushState({}, '', `/chat/${encodeURIComponent(id)}`);
  shell.setActive(id);
  showNotice(null);
  meterFromHistory(conversation.messages);
  renderPicker();
  renderMessages();
  updateTopbar();
  stickToBottom = true;
  scrollToBottom(true);
  promptBox.focus();
}

function newChat({ push = true, replace = false } = {}) {
  if (state.streaming) stopStreaming();
  state.opening++;
  state.conversation = null;
  state.pending = { system: '', temperature: null };
  state.meter = { used: null, window: null };
  if (push) history[replace ? 'replaceState' : 'pushState']({}, '', '/chat');
  shell.setActive(null);
  showNotice(null);
  list.replaceChildren();
  if (!model(state.model)) state.model = defaultModel();
  renderPicker();
  renderEmpty();
  updateMeter();
  updateTopbar();
  promptBox.focus();
  wakeOnOpen();
}

// -- per-conversation settings: the system prompt (stored as its first message) and the
// temperature (kept in this browser, per conversation, and sent with each question) ----------

const TEMPERATURE_KEY = 'hfgate.temperature.';
const settingsButton = iconButton('edit', 'Conversation settings', { id: 'settings-button', 'aria-haspopup': 'dialog' });
$('conversation-menu-button').before(settingsButton);
settingsButton.addEventListener('click', () => openSettings());

function systemOf(conversation) {
  const first = conversation?.messages?.[0];
  return first?.role === 'system' ? first.content : '';
}

function temperatureOf(conversation) {
  if (!conversation) return state.pending.temperature;
  const kept = localStorage.getItem(TEMPERATURE_KEY + conversation.id);
  return kept === null ? null : Number(kept);
}

function keepTemperature(id, temperature) {
  if (temperature === null) localStorage.removeItem(TEMPERATURE_KEY + id);
  else localStorage.setItem(TEMPERATURE_KEY + id, String(temperature));
}

function currentSettings() {
  const conversation = state.conversation;
  return conversation
    ? { system: systemOf(conversation), temperature: temperatureOf(conversation) }
    : { ...state.pending };
}

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

// What a question is sent with, besides its text.
function sampling(conversation) {
  const temperature = temperatureOf(conversation);
  return temperature === null ? {} : { temperature };
}

function updateTopbar() {
  const conversation = state.conversation;
  $('conversation-menu-button').hidden = !conversation;
  const custom = currentSettings();
  settingsButton.classList.toggle('active', !!custom.system || custom.temperature !== null);
  document.title = `${conversation?.title || 'Chat'} · hfgate`;
  $('chat-heading').textContent = conversation?.title || 'New chat';
}

$('conversation-menu-button').addEventListener('click', (event) => {
  event.stopPropagation();
  const conversation = state.conversation;
  if (!conversation) return;
  popupMenu($('conversation-menu-button'), [
    { label: 'Rename', icon: 'pencil', onSelect: () => renameCurrent(conversation) },
    { label: 'Export as Markdown', icon: 'download', href: exportUrl(conversation.id, 'markdown'), download: true },
    { label: 'Export as JSON', icon: 'download', href: exportUrl(conversation.id, 'json'), download: true },
    { label: 'Delete', icon: 'trash', danger: true, onSelect: () => shell.remove(conversation.id) },
  ]);
});

async function renameCurrent(conversation) {
  const updated = await openDialog({
    title: 'Rename conversation',
    fields: [{ name: 'title', label: 'Title', value: conversation.title || '' }],
    confirm: 'Rename',
    onSubmit: (values) => api(`/api/conversations/${encodeURIComponent(conversation.id)}`, { method: 'PATCH', json: { title: values.title } }),
  });
  if (updated) onRenamed(updated);
}

function onRenamed(updated) {
  shell.upsert(updated);
  if (state.conversation?.id === updated.id) {
    state.conversation.title = updated.title;
    updateTopbar();
  }
}

// -- asking and streaming ----------------------------------------------------------------------

function updateSendState() {
  const busy = state.busy || !!state.streaming;
  sendButton.hidden = busy;
  stopButton.hidden = !busy;
  const empty = !promptBox.value.trim() && !attachments.items.length;
  sendButton.disabled = busy || empty || !state.model || (attachments.items.length > 0 && !takesImages());
  attachments.button.hidden = !takesImages();
}

// -- attached images: only for a model that takes them (its capabilities say "vision") ------

function takesImages() {
  return !!model(state.model)?.capabilities?.vision;
}

const attachments = new Attachments({
  button: $('attach'), input: $('attach-input'), tray: $('attachments'),
  onChange: () => {
    updateSendState();
    if (attachments.items.length && !takesImages()) {
      showNotice(`${shortName(state.model || 'This model')} does not take images: remove them, or choose a model that does.`, 'warn');
    }
  },
});

promptBox.addEventListener('paste', (event) => {
  const files = [...(event.clipboardData?.files || [])].filter((f) => f.type.startsWith('image/'));
  if (!files.length) return;
  event.preventDefault();
  if (!takesImages()) {
    toast(`${shortName(state.model || 'This model')} does not take images.`, 'error');
    return;
  }
  attachments.add(files);
});

function autosize() {
  promptBox.style.height = 'auto';
  promptBox.style.height = `${Math.min(promptBox.scrollHeight, 220)}px`;
}

async function send(text, images = attachments.urls) {
  if (state.busy || state.streaming || (!text.trim() && !images.length)) return;
  state.busy = true;
  try {
    await ask(contentWith(text, images));
  } finally {
    state.busy = false;
    updateSendState();
  }
}

async function ask(content) {
  if (!state.model) await modelsReady;
  if (!state.model) {
    toast('Choose a model first.', 'error');
    return;
  }
  const text = textOf(content);
  promptBox.value = '';
  autosize();
  attachments.set([]);
  updateSendState();
  const fresh = !state.conversation;
  if (fresh) {
    try {
      const { system, temperature } = state.pending;
      const created = await api('/api/conversations', { method: 'POST', json: { model: state.model, system: system || undefined } });
      keepTemperature(created.id, temperature);
      state.conversation = { ...created, messages: created.messages || [] };
    } catch (err) {
      restoreComposer(content);
      showNotice(err.message, 'warn');
      return;
    }
    state.opening++;
    history.pushState({}, '', `/chat/${encodeURIComponent(state.conversation.id)}`);
    shell.upsert({ ...state.conversation, title: state.conversation.title || 'New chat' });
    shell.setActive(state.conversation.id);
    updateTopbar();
  }
  const parts = Array.isArray(content) ? content : null;
  const question = { id: null, role: 'user', content: text, parts, status: 'complete' };
  state.conversation.messages.push(question);
  list.append(buildMessage(question));
  renderEmpty();
  const conversation = state.conversation;
  await streamAnswer({ content }, question);
  // A first turn the server never started (refused, or failed on the way) must not leave an
  // empty conversation behind: the chat is created before its first message is sent.
  if (fresh && !question.id) await discardIfEmpty(conversation, content);
}

// A blank chat again, with the settings and the notice of the one that was discarded.
function startOver(settings) {
  const notice = $('notice');
  const kept = notice.hidden ? null : [notice.className, [...notice.childNodes]];
  newChat({ replace: true });
  state.pending = settings; // the next try starts with the same settings
  updateTopbar();
  if (!kept) {
    showNotice('Your message could not be sent; it is back in the box below.', 'warn');
    return;
  }
  notice.className = kept[0];
  notice.replaceChildren(...kept[1]);
  notice.hidden = false;
}

async function discardIfEmpty(conversation, content) {
  const path = `/api/conversations/${encodeURIComponent(conversation.id)}`;
  try {
    const { messages } = await api(path);
    if (messages.some((m) => m.role !== 'system')) return; // the question was stored after all
    await api(path, { method: 'DELETE' });
  } catch {
    return; // it stays, and the sidebar shows it: nothing is lost either way
  }
  await shell.refresh();
  const settings = { system: systemOf(conversation), temperature: temperatureOf(conversation) };
  keepTemperature(conversation.id, null);
  if (state.conversation === conversation) startOver(settings);
  restoreComposer(content);
}

// A question refused before anything was stored goes back into the composer, images too.
function restoreComposer(content) {
  if (promptBox.value || attachments.items.length) return;
  promptBox.value = textOf(content);
  attachments.set(imagesOf(Array.isArray(content) ? content : []));
  autosize();
  updateSendState();
}

async function streamAnswer(body, question, previous = null) {
  const conversation = state.conversation;
  const modelId = state.model;
  const answer = {
    id: null, role: 'assistant', content: '', model: modelId, status: 'streaming',
    error: null, prompt_tokens: null, completion_tokens: null,
  };
  if (previous) {
    // A new version of an answer: the earlier ones stay (a failed one is replaced).
    answer.versions = [...previous.filter((v) => v.status !== 'error'), answer];
    for (const version of answer.versions) version.versions = answer.versions;
  }
  conversation.messages.push(answer);
  list.append(buildMessage(answer));
  const controller = new AbortController();
  const run = {
    answer, question, controller, conversation, stopped: false, gotToken: false,
    waking: null, timer: null, started: performance.now(), tokens: 0, promptCounted: null,
    regenerated: !!previous,
  };
  state.streaming = run;
  updateSendState();
  refreshActions();
  stickToBottom = true;
  scrollToBottom(true);
  showNotice(null);
  // A model known to be asleep: say so at once. Any answer slower than a few seconds gets
  // the same progress (the server's own count follows every 5 s).
  const known = model(modelId);
  // An idle one may be asleep: the progress shows as early, but as "waiting" until the server
  // says it is waking (it may as well answer at once).
  const asleep = known && ['scaled_to_zero', 'waking', 'initializing'].includes(known.status);
  const maybeAsleep = asleep || known?.status === 'idle';
  setTimeout(() => {
    if (state.streaming === run && !run.gotToken && !run.waking) {
      showWaking(run, (performance.now() - run.started) / 1000, asleep ? 'waking' : 'waiting');
    }
  }, maybeAsleep ? 800 : SLOW_START_MS);

  let response;
  try {
    response = await request(`/api/conversations/${encodeURIComponent(conversation.id)}/chat`, {
      method: 'POST', json: { ...body, model: modelId, ...sampling(conversation) }, signal: controller.signal, accept: 'text/event-stream',
    });
  } catch (err) {
    return finish(run, run.stopped ? 'interrupted' : 'error', run.stopped ? null : { code: 'network', message: err.message });
  }
  if (!response.ok) {
    // Refused before anything was stored: take the question back into the composer.
    const error = new ApiError(response.status, await readJson(response));
    return refuse(run, error, body);
  }
  try {
    for await (const item of readEvents(response)) {
      if (item.comment) continue;
      if (item.event === 'waiting') {
        onWaiting(run, JSON.parse(item.data));
        continue;
      }
      if (item.event === 'hfgate') {
        onStart(run, JSON.parse(item.data));
        continue;
      }
      // Read on to the end of the stream: the server stores the answer before it closes it,
      // so what the page shows next (regenerate, reload) matches what is stored.
      if (item.data === '[DONE]') continue;
      let chunk;
      try { chunk = JSON.parse(item.data); } catch { continue; }
      if (chunk.error) {
        answer.error = chunk.error;
        continue;
      }
      if (chunk.usage) onUsage(run, chunk.usage);
      for (const choice of chunk.choices || []) {
        const delta = choice.delta?.content;
        if (delta) onToken(run, delta);
      }
    }
  } catch (err) {
    if (!run.stopped) answer.error = answer.error || { code: 'network', message: 'The connection dropped before the answer was complete.' };
  }
  if (answer.error && answer.error.code !== 'network') return finish(run, 'error', answer.error);
  if (run.stopped) return finish(run, 'interrupted');
  if (answer.error) return finish(run, 'interrupted', answer.error);
  return finish(run, 'complete');
}

function onStart(run, info) {
  run.answer.id = info.assistant_message_id;
  run.answer.node.dataset.id = info.assistant_message_id;
  if (run.question) {
    run.question.id = info.user_message_id;
    run.question.node.dataset.id = info.user_message_id;
  }
  if (info.model) run.answer.model = info.model;
  if (info.context_window) state.meter.window = info.context_window;
  if (info.prompt_tokens_counted) state.meter.used = run.promptCounted = info.prompt_tokens_counted;
  updateMeter();
  if (info.trimmed) {
    const n = info.trimmed;
    showNotice(`${n} older message${n === 1 ? ' was' : 's were'} left out so this conversation fits the model’s ${fmtInt(info.context_window)}-token context window.`, 'warn');
  }
  if (info.title && run.conversation.title !== info.title) {
    run.conversation.title = info.title;
    shell.upsert({ id: run.conversation.id, title: info.title, model: info.model, updated_at: new Date().toISOString() });
    updateTopbar();
  }
}

// The server says the endpoint is not answering yet: {reason: 'waking' | 'waiting', elapsed}.
function onWaiting(run, info) {
  if (!run.gotToken) showWaking(run, Number(info.elapsed) || 0, info.reason === 'waking' ? 'waking' : 'waiting');
}

const WAKING_HINTS = {
  waking: 'The endpoint was scaled to zero and is starting up, which usually takes a minute or two. Your answer follows as soon as it runs.',
  waiting: 'No answer yet. If the endpoint was scaled to zero it is waking up, which usually takes a minute or two; your answer follows as soon as it runs.',
};

function showWaking(run, seconds, kind) {
  if (!run.waking) {
    const label = el('strong', { class: 'waking-time' });
    const hint = el('p');
    const node = el('div', { class: 'waking-panel', role: 'status' }, el('span', { class: 'spinner' }), el('div', {}, label, hint));
    run.waking = { node, label, hint, kind };
    run.answer.body.replaceChildren(node);
    run.timer = setInterval(() => paintWaking(run), 1000);
  }
  // Once the endpoint is known to be waking, it stays "waking" until the answer comes.
  if (run.waking.kind !== 'waking') run.waking.kind = kind;
  run.waking.hint.textContent = WAKING_HINTS[run.waking.kind];
  run.waking.base = seconds;
  run.waking.at = performance.now();
  paintWaking(run);
}

function paintWaking(run) {
  if (!run.waking) return;
  const seconds = Math.round(run.waking.base + (performance.now() - run.waking.at) / 1000);
  const what = run.waking.kind === 'waking' ? 'Waking the endpoint' : 'Waiting for the endpoint';
  run.waking.label.textContent = `${what}… ${seconds} s`;
}

function clearWaking(run) {
  if (run.timer) clearInterval(run.timer);
  run.timer = null;
  if (run.waking) {
    run.waking.node.remove();
    run.waking = null;
    loadModels();
  }
}

let paintPending = false;
function onToken(run, delta) {
  if (!run.gotToken) {
    run.gotToken = true;
    clearWaking(run);
  }
  run.answer.content += delta;
  run.tokens += 1; // one text event per token, as the server counts a cut-short answer
  if (paintPending) return;
  paintPending = true;
  requestAnimationFrame(() => {
    paintPending = false;
    renderMarkdown(run.answer.body, run.answer.content);
    scrollToBottom();
  });
}

function onUsage(run, usage) {
  run.answer.prompt_tokens = usage.prompt_tokens ?? null;
  run.answer.completion_tokens = usage.completion_tokens ?? null;
  state.meter.used = (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
  updateMeter();
}

function finish(run, status, error = null) {
  clearWaking(run);
  const answer = run.answer;
  answer.status = status;
  answer.error = error;
  if (status !== 'complete') keepTokens(run);
  if (status === 'interrupted' && !answer.content && !answer.id) {
    // Stopped before the server had started the turn: nothing to show for it.
    removeMessage(answer);
  } else {
    paintAnswer(answer);
    if (status === 'interrupted' && error) answer.extra.replaceChildren(errorPanel(error));
  }
  if (state.streaming === run) state.streaming = null;
  updateSendState();
  refreshActions();
  scrollToBottom();
  shell.refresh();
  // A new version stopped before its first word is not kept: show the stored versions again.
  const unkept = run.regenerated && !answer.content && status !== 'error';
  if ((unkept || !answer.id) && state.conversation === run.conversation) {
    // The ids never arrived (stopped very early): read back what the server stored.
    setTimeout(() => {
      if (!state.streaming && state.conversation === run.conversation) openConversation(run.conversation.id, { push: false });
    }, 600);
  }
  if (status === 'error') loadModels();
}

// The engine's count never came (or came as the lifecycle's estimate): keep what is known,
// the same numbers the server stores for an answer cut short.
function keepTokens(run) {
  const answer = run.answer;
  answer.completion_tokens = Math.max(answer.completion_tokens || 0, run.tokens) || null;
  answer.prompt_tokens = answer.prompt_tokens || run.promptCounted;
}

function refuse(run, error, body) {
  clearWaking(run);
  removeMessage(run.answer);
  if (run.regenerated) {
    // Refused before anything was stored: the versions on the server are unchanged.
    if (state.streaming === run) state.streaming = null;
    const info = describeError(error);
    openConversation(run.conversation.id, { push: false })
      .then(() => showNotice(`${info.title}: ${error.message} ${info.fix}`, 'warn'));
    return;
  }
  if (run.question && body.content !== null) {
    removeMessage(run.question);
    restoreComposer(body.content);
  }
  if (state.streaming === run) state.streaming = null;
  const info = describeError(error);
  showNotice(`${info.title}: ${error.message} ${info.fix}`, 'warn');
  updateSendState();
  refreshActions();
  renderEmpty();
}

function removeMessage(message) {
  const messages = state.conversation?.messages;
  if (messages) {
    const index = messages.indexOf(message);
    if (index >= 0) messages.splice(index, 1);
  }
  message.node?.remove();
}

function stopStreaming() {
  const run = state.streaming;
  if (!run) return;
  run.stopped = true;
  run.controller.abort();
}

// -- regenerate, edit and resend -----------------------------------------------------------------

async function deleteFrom(message) {
  const conversation = state.conversation;
  if (!message.id) {
    await openConversation(conversation.id, { push: false });
    return false;
  }
  try {
    await api(`/api/conversations/${encodeURIComponent(conversation.id)}/messages/${encodeURIComponent(message.id)}`, { method: 'DELETE' });
  } catch (err) {
    if (err.status !== 404) {
      toast(err.message, 'error');
      return false;
    }
  }
  const index = conversation.messages.indexOf(message);
  for (const gone of conversation.messages.splice(index)) gone.node?.remove();
  return true;
}

async function regenerate(message) {
  if (state.busy || state.streaming) return;
  state.busy = true;
  updateSendState();
  try {
    const messages = state.conversation.messages;
    let question = message;
    let previous = null;
    if (message.role === 'assistant') {
      if (!message.id) {
        await openConversation(state.conversation.id, { push: false });
        return;
      }
      // The answer makes way for its new version; the server keeps it as an earlier one.
      previous = versionsOf(message);
      removeMessage(message);
      question = [...messages].reverse().find((m) => m.role === 'user');
    }
    showNotice(null);
    await streamAnswer({ content: null }, question || null, previous);
  } finally {
    state.busy = false;
    updateSendState();
  }
}

function startEdit(message) {
  if (state.streaming) return;
  const area = el('textarea', { 'aria-label': 'Edit your message' });
  area.value = message.content;
  const cancel = el('button', { type: 'button', class: 'btn small' }, 'Cancel');
  const save = el('button', { type: 'button', class: 'btn small primary' }, 'Send');
  const editor = el('div', { class: 'msg-edit' }, area, el('div', {}, cancel, save));
  message.body.replaceWith(editor);
  message.actions.hidden = true;
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  const close = () => {
    editor.replaceWith(message.body);
    message.actions.hidden = false;
  };
  const submit = async () => {
    const text = area.value.trim();
    if (!text && !imagesOf(message.parts).length) return;
    close();
    if (!(await deleteFrom(message))) return;
    await send(text, imagesOf(message.parts)); // the images go with the edited text
  };
  cancel.addEventListener('click', close);
  save.addEventListener('click', submit);
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
}

// -- the composer and the keyboard ---------------------------------------------------------------

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  send(promptBox.value);
});
promptBox.addEventListener('input', () => {
  autosize();
  updateSendState();
});
if (TOUCH) promptBox.setAttribute('enterkeyhint', 'enter');
promptBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !TOUCH) {
    event.preventDefault();
    if (!state.streaming) send(promptBox.value);
  }
});
stopButton.addEventListener('click', stopStreaming);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && state.streaming && !event.defaultPrevented) {
    event.preventDefault();
    stopStreaming();
  }
});

window.addEventListener('popstate', () => {
  const id = conversationIdFromPath();
  if (id) openConversation(id, { push: false });
  else newChat({ push: false });
});

// -- start ----------------------------------------------------------------------------------------

const shell = initShell({
  onOpen: (id) => {
    if (state.conversation?.id !== id) openConversation(id);
  },
  onNew: () => newChat(),
  onDeleted: (id) => {
    keepTemperature(id, null);
    if (state.conversation?.id === id) newChat();
  },
  onRenamed,
});

let modelsReady = null;

async function start() {
  const id = conversationIdFromPath();
  modelsReady = loadModels();
  await modelsReady;
  if (id) await openConversation(id, { push: false });
  else newChat({ push: false });
  setInterval(() => {
    if (!document.hidden) loadModels();
  }, MODEL_POLL_MS);
}

start();
