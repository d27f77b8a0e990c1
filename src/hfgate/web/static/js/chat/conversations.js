// Opening a conversation (from the sidebar, the address, or history) and starting a new chat;
// the address follows: /chat for a new one, /chat/<id> for a stored one.
import { api } from '../lib/api.js';
import { toast } from '../lib/ui.js';
import { followToBottom, renderMessages } from './messages.js';
import { meterFromHistory, updateMeter } from './meter.js';
import { renderEmpty, showNotice } from './notice.js';
import { defaultModel, renderPicker, wakeOnOpen } from './picker.js';
import { list, model, promptBox, shell, state, stopStreaming } from './state.js';
import { updateTopbar } from './topbar.js';
import { linkVersions } from './versions.js';

export function conversationIdFromPath() {
  const match = location.pathname.match(/^\/chat\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

export async function openConversation(id, { push = true } = {}) {
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
  showConversation(id, conversation);
}

function showConversation(id, conversation) {
  shell.setActive(id);
  showNotice(null);
  meterFromHistory(conversation.messages);
  renderPicker();
  renderMessages();
  updateTopbar();
  followToBottom();
  promptBox.focus();
}

export function newChat({ push = true, replace = false } = {}) {
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

/** Back and forward move between the chats opened here. */
export function initHistory() {
  window.addEventListener('popstate', () => {
    const id = conversationIdFromPath();
    if (id) openConversation(id, { push: false });
    else newChat({ push: false });
  });
}
