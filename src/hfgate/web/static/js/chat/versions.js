// Answer versions: a regenerated answer keeps the earlier ones, ‹ 2 / 3 › flips between them,
// and the one shown is the one the conversation continues from (the server's "selected").
import { api } from '../lib/api.js';
import { icon } from '../lib/icons.js';
import { el, toast } from '../lib/ui.js';
import { refreshActions } from './actions.js';
import { buildMessage } from './messages.js';
import { meterFromHistory } from './meter.js';
import { state } from './state.js';

export function versionsOf(message) {
  return message.versions?.length ? message.versions : [message];
}

// The server lists each answer's versions as plain records: link them to the shown one, so
// that every version knows its siblings and the shown one is the very object on the page.
export function linkVersions(messages) {
  for (const message of messages) {
    if (message.role !== 'assistant' || !message.versions?.length) continue;
    const versions = message.versions.map((v) => (v.id === message.id ? message : v));
    for (const version of versions) version.versions = versions;
  }
  return messages;
}

/** The ‹ n / m › group under an answer with more than one version, else null. */
export function versionPager(message, busy) {
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
  keepFocus(chosen, focus);
}

// Keep the keyboard where it was: on the same arrow, or the other one at either end.
function keepFocus(chosen, focus) {
  const buttons = chosen.node.querySelectorAll('.versions button');
  const target = chosen.node.querySelector(`[data-action="${focus}"]`);
  (target && !target.disabled ? target : [...buttons].find((b) => !b.disabled))?.focus();
}
