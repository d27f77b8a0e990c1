// Regenerate, and edit and resend: the last answer again (its earlier versions kept), or the
// last question, edited in place (Enter sends, Shift+Enter breaks the line, Escape cancels).
import { api } from '../lib/api.js';
import { imagesOf } from '../lib/attachments.js';
import { el, toast } from '../lib/ui.js';
import { send } from './ask.js';
import { updateSendState } from './composer.js';
import { openConversation } from './conversations.js';
import { removeMessage } from './messages.js';
import { showNotice } from './notice.js';
import { state } from './state.js';
import { streamAnswer } from './stream.js';
import { versionsOf } from './versions.js';

/** Delete a message and all after it; false when it stays (the page is read back, or it failed). */
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

export async function regenerate(message) {
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

function editor(message) {
  const area = el('textarea', { 'aria-label': 'Edit your message' });
  area.value = message.content;
  const cancel = el('button', { type: 'button', class: 'btn small' }, 'Cancel');
  const save = el('button', { type: 'button', class: 'btn small primary' }, 'Send');
  const node = el('div', { class: 'msg-edit' }, area, el('div', {}, cancel, save));
  return { node, area, cancel, save };
}

export function startEdit(message) {
  if (state.streaming) return;
  const { node, area, cancel, save } = editor(message);
  message.body.replaceWith(node);
  message.actions.hidden = true;
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  const close = () => {
    node.replaceWith(message.body);
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
  area.addEventListener('keydown', (event) => onEditKey(event, submit, close));
}

function onEditKey(event, submit, close) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    close();
  }
}
