// The buttons under each message: copy on every one; edit and resend on the last question;
// regenerate on the last answer; the ‹ n / m › versions of an answer; its token counts.
// What edit, regenerate and the versions do is set by chat.js (those flows redraw these bars).
import { copyText, el, fmtInt, iconButton, toast } from '../lib/ui.js';
import { state, visible } from './state.js';

const handlers = {
  edit: () => {},
  regenerate: () => {},
  pager: () => null, // (message, busy) => the ‹ n / m › group, or null
};

export function setActionHandlers(hooks) {
  Object.assign(handlers, hooks);
}

export function refreshActions() {
  const messages = visible(state.conversation?.messages || []);
  const busy = !!state.streaming;
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const last = messages[messages.length - 1];
  for (const message of messages) {
    if (!message.actions) continue;
    const buttons = message.status !== 'streaming' ? actionButtons(message, { busy, last, lastUser }) : [];
    const pager = handlers.pager(message, busy);
    if (pager) buttons.unshift(pager);
    message.actions.replaceChildren(...buttons);
    message.node.classList.toggle('last', message === last || message === lastUser);
  }
}

function actionButtons(message, { busy, last, lastUser }) {
  const buttons = [];
  if (message.content) buttons.push(copyButton(message));
  if (!busy && message === lastUser) {
    const edit = iconButton('pencil', 'Edit and resend', { 'data-action': 'edit' });
    edit.addEventListener('click', () => handlers.edit(message));
    buttons.push(edit);
  }
  if (!busy && message === last && (message.role === 'assistant' || message === lastUser)) {
    const label = message.role === 'assistant' ? 'Regenerate' : 'Get an answer';
    const again = iconButton('refresh', label, { 'data-action': 'regenerate' });
    again.addEventListener('click', () => handlers.regenerate(message));
    buttons.push(again);
  }
  if (message.role === 'assistant' && message.completion_tokens) buttons.push(usageTag(message));
  return buttons;
}

function copyButton(message) {
  const copy = iconButton('copy', 'Copy');
  copy.addEventListener('click', async () => {
    const ok = await copyText(message.content);
    toast(ok ? 'Copied' : 'Could not copy', ok ? 'info' : 'error', 1500);
  });
  return copy;
}

// Prompt tokens (when counted) · answer tokens; an answer cut short shows what it had so far.
function usageTag(message) {
  const out = `${fmtInt(message.completion_tokens)} out`;
  const text = message.prompt_tokens ? `${fmtInt(message.prompt_tokens)} in · ${out}` : out;
  return el('span', { class: 'usage', title: 'Prompt tokens · answer tokens' }, text);
}
