// The messages of the conversation: questions (folded when long, with their images), answers
// (markdown, typing dots while streaming, Interrupted or Failed with a readable error), and the
// thread's scrolling, which follows a streamed answer unless scrolled up.
import { imagesOf } from '../lib/attachments.js';
import { renderMarkdown } from '../lib/markdown.js';
import { el } from '../lib/ui.js';
import { refreshActions } from './actions.js';
import { errorPanel } from './errors.js';
import { renderEmpty } from './notice.js';
import { list, state, thread, visible } from './state.js';

const LONG_MESSAGE = 1200;

export function renderMessages() {
  const nodes = visible(state.conversation?.messages || []).map(buildMessage);
  list.replaceChildren(...nodes);
  refreshActions();
  renderEmpty();
}

export function buildMessage(message) {
  const node = el('li', { class: `msg ${message.role}` });
  message.node = node;
  if (message.id) node.dataset.id = message.id;
  if (message.role === 'user') buildQuestion(message, node);
  else buildAnswer(message, node);
  message.actions = el('div', { class: 'msg-actions' });
  node.append(message.actions);
  return node;
}

function buildQuestion(message, node) {
  const images = imagesOf(message.parts);
  if (images.length) {
    node.append(el('div', { class: 'msg-images' },
      ...images.map((url, i) => el('img', { src: url, alt: `Attached image ${i + 1}` }))));
  }
  message.body = el('div', { class: 'bubble' }, message.content);
  message.body.hidden = !message.content;
  node.append(message.body);
  if (message.content.length > LONG_MESSAGE || message.content.split('\n').length > 14) clamp(message, node);
}

function buildAnswer(message, node) {
  message.tags = el('span', { class: 'msg-tags' });
  node.append(el('div', { class: 'msg-head' },
    el('img', { class: 'msg-avatar', src: '/static/img/logo.svg', alt: '' }),
    el('span', { class: 'model-chip' }, message.model || 'assistant'),
    message.tags));
  message.body = el('div', { class: 'msg-body md' });
  message.extra = el('div', { class: 'msg-extra' });
  node.append(message.body, message.extra);
  paintAnswer(message);
}

/** A long question is shown folded, with a button to unfold it. */
function clamp(message, node) {
  message.body.classList.add('clamped');
  const toggle = el('button', { type: 'button', class: 'btn small ghost more-toggle', 'aria-expanded': 'false' }, 'Show more');
  toggle.addEventListener('click', () => {
    const open = message.body.classList.toggle('clamped');
    toggle.textContent = open ? 'Show more' : 'Show less';
    toggle.setAttribute('aria-expanded', String(!open));
  });
  node.append(toggle);
}

export function paintAnswer(message) {
  if (message.content) renderMarkdown(message.body, message.content);
  else if (message.status === 'streaming') message.body.replaceChildren(typingDots());
  else message.body.replaceChildren();
  message.body.hidden = !message.content && message.status !== 'streaming';
  paintStatus(message);
}

function paintStatus(message) {
  if (message.node) message.node.dataset.status = message.status || 'complete';
  const tags = [];
  if (message.status === 'interrupted') {
    tags.push(el('span', { class: 'tag interrupted', title: 'The answer stopped before it was complete; what arrived is kept.' }, 'Interrupted'));
  }
  if (message.status === 'error') tags.push(el('span', { class: 'tag error' }, 'Failed'));
  message.tags?.replaceChildren(...tags);
  if (message.extra) {
    if (message.status === 'error') {
      const error = typeof message.error === 'string' ? { message: message.error, code: message.error_code } : message.error;
      message.extra.replaceChildren(errorPanel(error));
    } else if (message.status !== 'streaming') {
      message.extra.replaceChildren();
    }
  }
}

function typingDots() {
  return el('div', { class: 'typing', 'aria-label': 'Waiting for the answer' }, el('span'), el('span'), el('span'));
}

export function removeMessage(message) {
  const messages = state.conversation?.messages;
  if (messages) {
    const index = messages.indexOf(message);
    if (index >= 0) messages.splice(index, 1);
  }
  message.node?.remove();
}

// -- scrolling ---------------------------------------------------------------------------------

let stickToBottom = true;

export function initScroll() {
  thread.addEventListener('scroll', () => {
    stickToBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
  });
}

export function scrollToBottom(force = false) {
  if (force || stickToBottom) thread.scrollTop = thread.scrollHeight;
}

/** Go to the end of the thread, and follow what is added there from now on. */
export function followToBottom() {
  stickToBottom = true;
  scrollToBottom(true);
}
