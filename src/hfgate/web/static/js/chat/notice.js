// What the page says outside the messages: the notice above the composer, and the empty
// states (no models yet; a new chat, with the model's state).
import { icon } from '../lib/icons.js';
import { STATUS, statusLabel } from '../lib/status.js';
import { el, fmtInt } from '../lib/ui.js';
import { $, model, state } from './state.js';

// 'idle' is inferred (no recent traffic): the endpoint may be asleep, so it is treated as cold.
const COLD = new Set(['scaled_to_zero', 'waking', 'initializing', 'pending', 'idle']);

export function showNotice(text, kind = 'info') {
  const notice = $('notice');
  if (!text) {
    notice.hidden = true;
    return;
  }
  notice.className = `notice ${kind}`;
  notice.replaceChildren(icon(kind === 'warn' ? 'alert' : 'info'), el('span', {}, text));
  notice.hidden = false;
}

/** The notice as shown (null when hidden), to be put back after the page is redrawn. */
export function takeNotice() {
  const notice = $('notice');
  return notice.hidden ? null : [notice.className, [...notice.childNodes]];
}

export function putNotice(kept) {
  const notice = $('notice');
  notice.className = kept[0];
  notice.replaceChildren(...kept[1]);
  notice.hidden = false;
}

export function renderEmpty() {
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
