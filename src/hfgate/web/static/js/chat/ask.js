// Asking: a question (text, images) goes out; the first one creates the conversation, and a
// first turn the server never started is undone: no empty chat is left behind, and the
// question goes back into the composer.
import { api } from '../lib/api.js';
import { contentWith, textOf } from '../lib/attachments.js';
import { toast } from '../lib/ui.js';
import { attachedUrls, clearComposer, restoreComposer, updateSendState } from './composer.js';
import { newChat } from './conversations.js';
import { buildMessage } from './messages.js';
import { putNotice, renderEmpty, showNotice, takeNotice } from './notice.js';
import { modelsReady } from './picker.js';
import { keepTemperature, systemOf, temperatureOf } from './settings.js';
import { list, shell, state } from './state.js';
import { streamAnswer } from './stream.js';
import { updateTopbar } from './topbar.js';

export async function send(text, images = attachedUrls()) {
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
  if (!state.model) await modelsReady();
  if (!state.model) {
    toast('Choose a model first.', 'error');
    return;
  }
  const text = textOf(content);
  clearComposer();
  const fresh = !state.conversation;
  if (fresh && !(await createConversation(content))) return;
  const question = addQuestion(text, content);
  const conversation = state.conversation;
  await streamAnswer({ content }, question);
  // A first turn the server never started (refused, or failed on the way) must not leave an
  // empty conversation behind: the chat is created before its first message is sent.
  if (fresh && !question.id) await discardIfEmpty(conversation, content);
}

/** The chat, created with its pending settings; false (and the question kept) if it failed. */
async function createConversation(content) {
  try {
    const { system, temperature } = state.pending;
    const created = await api('/api/conversations', { method: 'POST', json: { model: state.model, system: system || undefined } });
    keepTemperature(created.id, temperature);
    state.conversation = { ...created, messages: created.messages || [] };
  } catch (err) {
    restoreComposer(content);
    showNotice(err.message, 'warn');
    return false;
  }
  state.opening++;
  history.pushState({}, '', `/chat/${encodeURIComponent(state.conversation.id)}`);
  shell.upsert({ ...state.conversation, title: state.conversation.title || 'New chat' });
  shell.setActive(state.conversation.id);
  updateTopbar();
  return true;
}

function addQuestion(text, content) {
  const parts = Array.isArray(content) ? content : null;
  const question = { id: null, role: 'user', content: text, parts, status: 'complete' };
  state.conversation.messages.push(question);
  list.append(buildMessage(question));
  renderEmpty();
  return question;
}

// A blank chat again, with the settings and the notice of the one that was discarded.
function startOver(settings) {
  const kept = takeNotice();
  newChat({ replace: true });
  state.pending = settings; // the next try starts with the same settings
  updateTopbar();
  if (!kept) {
    showNotice('Your message could not be sent; it is back in the box below.', 'warn');
    return;
  }
  putNotice(kept);
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
