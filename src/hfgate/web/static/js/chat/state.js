// What the chat page's modules share: the page's state, its fixed elements, the sidebar, and
// the few lookups every part needs.

export const $ = (id) => document.getElementById(id);
export const IS_ADMIN = ['owner', 'admin'].includes(document.body.dataset.role);

export const thread = $('thread');
export const list = $('messages');
export const promptBox = $('prompt');
export const sendButton = $('send');
export const stopButton = $('stop');

export const state = {
  models: [],
  model: null, // the selected model id
  conversation: null, // {id, title, model, messages: [...]}
  streaming: null, // the answer being streamed
  busy: false, // between Enter and the end of the answer (a second Enter must not send)
  meter: { used: null, window: null },
  opening: 0, // a counter, so a slow load cannot overwrite a newer one
  pending: { system: '', temperature: null }, // the settings of a chat not created yet
};

// The sidebar (lib/shell.js): started last by chat.js, whose hooks reach back into this page.
export let shell = null;

export function setShell(value) {
  shell = value;
}

export function model(id) {
  return state.models.find((m) => m.id === id) || null;
}

export function shortName(id) {
  return id.includes('/') ? id.split('/').pop() : id;
}

/** Stop the answer being streamed: what arrived is kept (the stream's own end handles it). */
export function stopStreaming() {
  const run = state.streaming;
  if (!run) return;
  run.stopped = true;
  run.controller.abort();
}

/** The messages shown: all but the system prompt. */
export function visible(messages) {
  return messages.filter((m) => m.role !== 'system');
}
