// Model output → safe HTML. Three layers, so a model can never run script in the page:
// 1. raw HTML in the markdown is escaped (shown as text), never passed through;
// 2. the rendered HTML goes through DOMPurify with a short allowlist of tags and attributes;
// 3. the page's Content-Security-Policy forbids inline and foreign script anyway.
import { Marked } from '../../vendor/marked.esm.js';
import DOMPurify from '../../vendor/purify.es.mjs';
// highlight.js 11.12.0 (BSD-3-Clause): its core and a few common languages, see vendor/highlight.
import hljs from '../../vendor/highlight/core.min.js';
import bash from '../../vendor/highlight/languages/bash.min.js';
import c from '../../vendor/highlight/languages/c.min.js';
import cpp from '../../vendor/highlight/languages/cpp.min.js';
import css from '../../vendor/highlight/languages/css.min.js';
import go from '../../vendor/highlight/languages/go.min.js';
import java from '../../vendor/highlight/languages/java.min.js';
import javascript from '../../vendor/highlight/languages/javascript.min.js';
import json from '../../vendor/highlight/languages/json.min.js';
import python from '../../vendor/highlight/languages/python.min.js';
import rust from '../../vendor/highlight/languages/rust.min.js';
import shell from '../../vendor/highlight/languages/shell.min.js';
import sql from '../../vendor/highlight/languages/sql.min.js';
import typescript from '../../vendor/highlight/languages/typescript.min.js';
import xml from '../../vendor/highlight/languages/xml.min.js';
import yaml from '../../vendor/highlight/languages/yaml.min.js';
import { icon } from './icons.js';
import { liftMath, placeMath } from './math.js';
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

const HIGHLIGHT_CLASS = /^hljs-[\w-]{1,30}(?: [\w-]{1,30}){0,3}$/;

DOMPurify.addHook('uponSanitizeAttribute', (node, data) => {
  // Only code blocks keep a class, and only marked's "language-…" one; the highlighter's spans
  // (a separate pass, the only one that allows <span>) keep its "hljs-…" classes.
  if (data.attrName !== 'class') return;
  const ok = node.nodeName === 'CODE' ? /^language-[\w#+.-]{1,30}$/.test(data.attrValue)
    : node.nodeName === 'SPAN' && HIGHLIGHT_CLASS.test(data.attrValue);
  if (!ok) data.keepAttr = false;
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

const LANGUAGES = { bash, c, cpp, css, go, java, javascript, json, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, grammar] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, grammar);
const AUTO = Object.keys(LANGUAGES);
const HIGHLIGHTED = { ALLOWED_TAGS: ['span'], ALLOWED_ATTR: ['class'], RETURN_DOM_FRAGMENT: true };
const MAX_HIGHLIGHT = 50_000; // characters; longer blocks stay plain (and fast while streaming)

/**
 * Colour a sanitised code block: the language of its fence (if bundled), else a guess among the
 * bundled ones, else plain. The highlighter escapes the text itself; its output still goes
 * through DOMPurify (spans with "hljs-…" classes only), and colours come from app.css classes.
 */
function highlight(code, lang) {
  const text = code.textContent;
  if (!text || text.length > MAX_HIGHLIGHT) return;
  let result = null;
  try {
    if (lang && hljs.getLanguage(lang)) {
      result = hljs.highlight(text, { language: lang, ignoreIllegals: true });
    } else if (!lang) {
      result = hljs.highlightAuto(text, AUTO);
      if (!result.language) result = null;
    }
  } catch {
    result = null;
  }
  if (!result) return;
  code.replaceChildren(DOMPurify.sanitize(result.value, HIGHLIGHTED));
  code.classList.add('hljs');
}

/** Code blocks get a header with their language and a Copy button (trusted DOM, added after). */
function enhance(fragment) {
  for (const pre of fragment.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    const fence = (code?.className.match(/language-([\w#+.-]+)/) || [])[1];
    const lang = fence || 'text';
    if (code) highlight(code, fence ? fence.toLowerCase() : '');
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
  const { text: lifted, formulas } = liftMath(text || '');
  const fragment = sanitize(marked.parse(lifted));
  placeMath(fragment, formulas); // after the sanitiser: KaTeX's output is trusted DOM
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
