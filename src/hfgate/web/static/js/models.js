// The models page: every model with its live status, refreshed every few seconds.
import { api } from './lib/api.js';
import { initShell } from './lib/shell.js';
import { badge, engineLabel, STATUS } from './lib/status.js';
import { el, fmtInt } from './lib/ui.js';

const POLL_MS = 4000;
const SERVES = {
  chat: 'Chat and completions',
  embed: 'Embeddings (POST /v1/embeddings)',
  rerank: 'Reranking (POST /v1/rerank)',
  classify: 'Classification (not served yet)',
};
const grid = document.getElementById('model-grid');
const empty = document.getElementById('models-empty');
const updated = document.getElementById('models-updated');
const cards = new Map();

initShell();

function card(model) {
  const parts = {
    title: el('h2', {}, model.id),
    sub: el('div', { class: 'sub' }),
    badge: el('span'),
    detail: el('p', { class: 'status-detail' }),
    context: el('dd'),
    engine: el('dd'),
    serves: el('dd'),
    chat: el('a', { class: 'btn small', href: `/chat?model=${encodeURIComponent(model.id)}` }, 'Chat with it'),
  };
  parts.node = el('article', { class: 'card model-card', 'data-id': model.id },
    el('div', { class: 'model-card-head' }, el('div', {}, parts.title, parts.sub), parts.badge),
    parts.detail,
    el('dl', { class: 'facts' },
      el('div', {}, el('dt', {}, 'Context'), parts.context),
      el('div', {}, el('dt', {}, 'Engine'), parts.engine),
      el('div', {}, el('dt', {}, 'Serves'), parts.serves)),
    el('div', { class: 'card-actions' }, parts.chat));
  return parts;
}

function update(parts, model) {
  parts.sub.textContent = model.model_name && model.model_name !== model.id ? model.model_name : 'Hugging Face Inference Endpoint';
  parts.badge.replaceWith((parts.badge = badge(model.status)));
  const hint = STATUS[model.status]?.hint || '';
  parts.detail.textContent = model.status_detail && model.status !== 'ready' ? model.status_detail : hint;
  parts.detail.title = hint;
  parts.context.textContent = model.context_window ? `${fmtInt(model.context_window)} tokens` : '—';
  parts.engine.textContent = engineLabel(model.engine, model.engine_version, model.engine_flavour);
  const kind = model.kind || 'chat';
  parts.serves.textContent = SERVES[kind] || kind;
  // Only chat models open in the chat page; the others say which API route serves them.
  parts.chat.hidden = model.status === 'pending' || kind !== 'chat';
}

async function load() {
  let models;
  try {
    models = (await api('/api/models')).data || [];
  } catch (err) {
    updated.textContent = `Could not refresh: ${err.message}`;
    return;
  }
  grid.removeAttribute('aria-busy');
  grid.querySelectorAll('.skeleton').forEach((n) => n.remove());
  const seen = new Set();
  for (const model of models) {
    seen.add(model.id);
    let parts = cards.get(model.id);
    if (!parts) {
      parts = card(model);
      cards.set(model.id, parts);
    }
    update(parts, model);
    grid.append(parts.node); // keeps the server's order
  }
  for (const [id, parts] of cards) {
    if (!seen.has(id)) {
      parts.node.remove();
      cards.delete(id);
    }
  }
  empty.hidden = models.length > 0;
  grid.hidden = models.length === 0;
  updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

load();
setInterval(() => {
  if (!document.hidden) load();
}, POLL_MS);
