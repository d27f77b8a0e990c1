// Small DOM helpers shared by every page: elements, toasts, dialogs, formatting, clipboard.
import { icon } from './icons.js';

/** el('a', {href, class, onclick}, child, 'text', …): text children are always text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function iconButton(name, label, attrs = {}) {
  return el('button', { type: 'button', class: 'icon-btn', 'aria-label': label, title: label, ...attrs }, icon(name));
}

const NUMBER = new Intl.NumberFormat('en-US');
export const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '—' : NUMBER.format(n));

export function timeAgo(iso) {
  if (!iso) return 'never';
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 0) return 'in ' + timeUntil(iso);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 86400 * 30) return `${Math.floor(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString();
}

export function timeUntil(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  if (seconds <= 0) return 'expired';
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.ceil(seconds / 3600)} h`;
  return `${Math.ceil(seconds / 86400)} days`;
}

// -- toasts ------------------------------------------------------------------------------------

export function toast(message, kind = 'info', ms = 3800) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const node = el('div', { class: `toast ${kind}` }, message);
  box.append(node);
  setTimeout(() => node.remove(), ms);
}

// -- clipboard ---------------------------------------------------------------------------------

/** A button that copies the text of ``source`` (a secret shown once), saying how it went. */
export function copyButton(button, source, what) {
  button.addEventListener('click', async () => {
    const ok = await copyText(source.textContent);
    toast(ok ? `${what} copied` : 'Could not copy: select it and copy by hand', ok ? 'info' : 'error');
  });
}

export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall back below */ }
  const area = el('textarea', { class: 'visually-hidden', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  area.remove();
  return ok;
}

// -- dialogs -----------------------------------------------------------------------------------

/**
 * A modal dialog. fields: [{name, label, type, value, placeholder, autocomplete}].
 * onSubmit(values, ctx) may throw to keep the dialog open (its message is shown), or
 * return a value to close with it. Resolves with that value, or null when cancelled.
 */
export function openDialog({ title, body, fields = [], confirm = 'OK', cancel = 'Cancel', danger = false, wide = false, onSubmit }) {
  return new Promise((resolve) => {
    let result = null;
    const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
    const extra = el('div', { class: 'dialog-extra' });
    const inputs = fields.map((f) =>
      el('label', {},
        f.label,
        el('input', {
          type: f.type || 'text', name: f.name, value: f.value ?? '', placeholder: f.placeholder || '',
          autocomplete: f.autocomplete || 'off', spellcheck: 'false', required: f.required !== false,
        })),
    );
    const submit = el('button', { type: 'submit', class: `btn ${danger ? 'danger' : 'primary'}` }, confirm);
    const close = el('button', { type: 'button', class: 'btn', value: 'cancel' }, cancel);
    const form = el('form', { method: 'dialog', novalidate: true },
      el('h2', {}, title),
      body ? (body instanceof Node ? body : el('p', {}, body)) : null,
      ...inputs, error, extra,
      el('div', { class: 'dialog-actions' }, close, submit));
    const dialog = el('dialog', { class: `dialog${wide ? ' wide' : ''}` }, form);
    const ctx = {
      dialog,
      setError(message) { error.textContent = message || ''; error.hidden = !message; },
      setExtra(node) { extra.replaceChildren(...(node ? [node] : [])); },
    };
    close.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      if (fields.some((f) => f.required !== false && !String(values[f.name] || '').trim())) {
        ctx.setError('Fill in every field.');
        return;
      }
      if (!onSubmit) { result = values; dialog.close(); return; }
      submit.disabled = true;
      const label = submit.textContent;
      submit.textContent = 'Working…';
      ctx.setError('');
      try {
        const value = await onSubmit(values, ctx);
        result = value === undefined ? values : value;
        dialog.close();
      } catch (err) {
        ctx.setError(err.message || String(err));
      } finally {
        submit.disabled = false;
        submit.textContent = label;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    // A destructive confirmation starts on Cancel: Enter alone never deletes anything.
    (form.querySelector('input') || (danger ? close : submit)).focus();
  });
}

export async function confirmDialog({ title, body, confirm = 'Confirm', danger = true }) {
  const result = await openDialog({ title, body, confirm, danger, onSubmit: async () => true });
  return result === true;
}

// -- floating menus ----------------------------------------------------------------------------

let openMenu = null;

export function closeMenus() {
  if (openMenu) {
    openMenu.close();
    openMenu = null;
  }
}

/** A menu of [{label, icon, danger, href, download, onSelect}] next to an anchor element. */
export function popupMenu(anchor, items) {
  closeMenus();
  const menu = el('div', { class: 'menu floating', role: 'menu' });
  for (const item of items) {
    const attrs = { role: 'menuitem', class: item.danger ? 'danger' : '' };
    const node = item.href
      ? el('a', { ...attrs, href: item.href, download: item.download ? '' : null }, icon(item.icon), item.label)
      : el('button', { ...attrs, type: 'button' }, icon(item.icon), item.label);
    node.addEventListener('click', () => { closeMenus(); item.onSelect?.(); });
    menu.append(node);
  }
  document.body.append(menu);
  const box = anchor.getBoundingClientRect();
  const width = menu.offsetWidth;
  const left = Math.min(Math.max(8, box.right - width), window.innerWidth - width - 8);
  const below = box.bottom + 6 + menu.offsetHeight < window.innerHeight;
  menu.style.left = `${left}px`;
  menu.style.top = below ? `${box.bottom + 6}px` : `${Math.max(8, box.top - menu.offsetHeight - 6)}px`;
  anchor.setAttribute('aria-expanded', 'true');
  const close = () => { menu.remove(); anchor.setAttribute('aria-expanded', 'false'); };
  openMenu = { close, menu, anchor };
  menu.querySelector('[role="menuitem"]')?.focus();
  return menu;
}

document.addEventListener('click', (event) => {
  if (openMenu && !openMenu.menu.contains(event.target) && !openMenu.anchor.contains(event.target)) closeMenus();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && openMenu) {
    const anchor = openMenu.anchor;
    closeMenus();
    anchor.focus();
    event.stopImmediatePropagation();
  }
}, true);
