// Model output → safe HTML. Three layers, so a model can never run script in the page:
// 1. raw HTML in the markdown is escaped (shown as text), never passed through;
// 2. the rendered HTML goes through DOMPurify with a short allowlist of tags and attributes;
// 3. the page's Content-Security-Policy forbids inline and foreign script anyway.
import { Marked } from '../../vendor/marked.esm.js';
import DOMPurify from '../../vendor/purify.es.mjs';
import { icon } from './icons.js';
import { copyText } from './ui.js';

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  renderer: {
    html(token) {
      return escapeHtml(token.text ?? token.raw ?? '');
    },
    image(token) {
      // No images from model output: a link to the picture instead (no tracking pixels).
      const label = `🖼 ${token.text || 'image'}`;
      return `<a href="${escapeHtml(token.href || '')}">${escapeHtml(label)}</a>`;
    },
  },
});

const PURIFY = {
  ALLOWED_TAGS: ['a', 'b', 'blockquote', 'br', 'code', 'del', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
    'hr', 'i', 'li', 'ol', 'p', 'pre', 's', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'th',
    'thead', 'tr', 'ul'],
  ALLOWED_ATTR: ['href', 'title', 'align', 'start', 'class'],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook('uponSanitizeAttribute', (node, data) => {
  // Only code blocks keep a class, and only marked's "language-…" one.
  if (data.attrName === 'class' && !(node.nodeName === 'CODE' && /^language-[\w#+.-]{1,30}$/.test(data.attrValue))) {
    data.keepAttr = false;
  }
});
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

export function sanitize(html) {
  return DOMPurify.sanitize(html, PURIFY);
}

/** Code blocks get a header with their language and a Copy button (trusted DOM, added after). */
function enhance(fragment) {
  for (const pre of fragment.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    const lang = (code?.className.match(/language-([\w#+.-]+)/) || [])[1] || 'text';
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy-code';
    copy.append(icon('copy'), 'Copy');
    const label = document.createElement('span');
    label.textContent = lang;
    const head = document.createElement('div');
    head.className = 'code-head';
    head.append(label, copy);
    const block = document.createElement('div');
    block.className = 'code-block';
    pre.replaceWith(block);
    block.append(head, pre);
  }
  return fragment;
}

/** Render markdown into an element (replacing its content). */
export function renderMarkdown(element, text) {
  const fragment = sanitize(marked.parse(text || ''));
  element.replaceChildren(enhance(fragment));
}

// One listener for every Copy button of every code block.
document.addEventListener('click', async (event) => {
  const button = event.target.closest?.('button.copy-code');
  if (!button) return;
  const code = button.closest('.code-block')?.querySelector('pre')?.textContent || '';
  const ok = await copyText(code);
  button.replaceChildren(icon(ok ? 'check' : 'copy'), ok ? 'Copied' : 'Copy failed');
  setTimeout(() => button.replaceChildren(icon('copy'), 'Copy'), 1600);
});
