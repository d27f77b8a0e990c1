// The composer: the message box, attached images (only for a model that takes them: its
// capabilities say "vision"), Send and Stop, and the keyboard (Enter sends, Shift+Enter breaks
// the line, Escape stops the answer).
import { Attachments, imagesOf, textOf } from '../lib/attachments.js';
import { toast } from '../lib/ui.js';
import { showNotice } from './notice.js';
import { $, model, promptBox, sendButton, shortName, state, stopButton, stopStreaming } from './state.js';

// On touch screens Enter makes a new line (there is no Shift): the Send button sends.
const TOUCH = window.matchMedia('(pointer: coarse)').matches;

let attachments = null;

export function takesImages() {
  return !!model(state.model)?.capabilities?.vision;
}

/** The images attached to the next question, as data URLs. */
export function attachedUrls() {
  return attachments.urls;
}

export function updateSendState() {
  const busy = state.busy || !!state.streaming;
  sendButton.hidden = busy;
  stopButton.hidden = !busy;
  const empty = !promptBox.value.trim() && !attachments.items.length;
  sendButton.disabled = busy || empty || !state.model || (attachments.items.length > 0 && !takesImages());
  attachments.button.hidden = !takesImages();
}

function autosize() {
  promptBox.style.height = 'auto';
  promptBox.style.height = `${Math.min(promptBox.scrollHeight, 220)}px`;
}

/** Empty the composer once its question is on its way. */
export function clearComposer() {
  promptBox.value = '';
  autosize();
  attachments.set([]);
  updateSendState();
}

// A question refused before anything was stored goes back into the composer, images too.
export function restoreComposer(content) {
  if (promptBox.value || attachments.items.length) return;
  promptBox.value = textOf(content);
  attachments.set(imagesOf(Array.isArray(content) ? content : []));
  autosize();
  updateSendState();
}

function initAttachments() {
  attachments = new Attachments({
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
}

function initKeyboard(onSend) {
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    onSend(promptBox.value);
  });
  promptBox.addEventListener('input', () => {
    autosize();
    updateSendState();
  });
  if (TOUCH) promptBox.setAttribute('enterkeyhint', 'enter');
  promptBox.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !TOUCH) {
      event.preventDefault();
      if (!state.streaming) onSend(promptBox.value);
    }
  });
}

function initStop() {
  stopButton.addEventListener('click', stopStreaming);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.streaming && !event.defaultPrevented) {
      event.preventDefault();
      stopStreaming();
    }
  });
}

/** Wire the composer: attachments and paste, the keyboard, Stop. onSend(text) sends. */
export function initComposer({ onSend }) {
  initAttachments();
  initKeyboard(onSend);
  initStop();
}
