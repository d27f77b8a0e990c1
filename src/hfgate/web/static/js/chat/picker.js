// The models and the picker at the top: which chat models there are (polled by the page), the
// selected one (remembered in this browser), waking a sleeping one when a chat opens, and the
// listbox to choose from (arrows, Enter or Space, Escape, Tab).
import { api } from '../lib/api.js';
import { engineLabel, statusLabel } from '../lib/status.js';
import { el, fmtInt, toast } from '../lib/ui.js';
import { updateSendState } from './composer.js';
import { updateMeter } from './meter.js';
import { renderEmpty, showNotice } from './notice.js';
import { $, model, promptBox, shortName, state } from './state.js';

const picker = {
  button: $('model-button'),
  menu: $('model-menu'),
  label: $('model-label'),
  dot: $('model-dot'),
  active: -1,
};

export async function loadModels() {
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

let firstLoad = null;

/** The first load of the models (a question asked before it ends waits for it). */
export function modelsReady() {
  firstLoad ??= loadModels();
  return firstLoad;
}

// Wake on open: a chat opened with a sleeping model starts its endpoint at once, so it is warm
// by the time the message is typed. The server decides (the admin's opt-in, one wake per model
// every few minutes, never a pause hfgate did not make); this only asks once a minute.
const wakeAsked = new Map();
export async function wakeOnOpen() {
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

export function defaultModel() {
  const wanted = new URLSearchParams(location.search).get('model') || localStorage.getItem('hfgate.model');
  if (wanted && model(wanted)) return wanted;
  const usable = state.models.filter((m) => m.status !== 'pending');
  return (usable.find((m) => m.status === 'ready') || usable[0] || state.models[0] || {}).id || null;
}

export function renderPicker() {
  const current = model(state.model);
  picker.button.disabled = !state.models.length;
  picker.label.textContent = state.model || (state.models.length ? 'Choose a model' : 'No models yet');
  picker.dot.className = `dot ${current?.status || ''}`;
  picker.button.title = current ? `${current.id} · ${statusLabel(current.status)}` : '';
  promptBox.placeholder = state.model ? `Message ${shortName(state.model)}` : 'No model to talk to yet';
  if (!picker.menu.hidden) renderMenu();
  updateSendState();
}

function option(m, index) {
  const meta = [`${fmtInt(m.context_window)}-token context`, engineLabel(m.engine, m.engine_version, m.engine_flavour)];
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
}

function renderMenu() {
  picker.menu.replaceChildren(...state.models.map(option));
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

function moveActive(step) {
  const count = state.models.length;
  picker.active = (picker.active + step + count) % count;
  renderMenu();
  picker.menu.querySelector('li.active')?.scrollIntoView({ block: 'nearest' });
}

function onMenuKey(event) {
  if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    moveActive(event.key === 'ArrowDown' ? 1 : -1);
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
}

export function initPicker() {
  picker.button.addEventListener('click', () => (picker.menu.hidden ? openPicker() : closePicker()));
  picker.menu.addEventListener('click', (event) => {
    const item = event.target.closest('li[data-id]');
    if (item) choose(item.dataset.id);
  });
  picker.menu.addEventListener('keydown', onMenuKey);
  document.addEventListener('click', (event) => {
    if (!picker.menu.hidden && !$('model-picker').contains(event.target)) closePicker(false);
  });
}
