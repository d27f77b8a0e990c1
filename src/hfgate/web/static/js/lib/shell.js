// The frame around every signed-in page: the sidebar (navigation, conversations, account),
// the phone-width drawer, and sign-out.
import { api, request } from './api.js';
import { hydrateIcons, icon } from './icons.js';
import { confirmDialog, el, iconButton, popupMenu, toast } from './ui.js';

const DAY = 86400000;

// -- the theme toggle: light / dark / system (the default: the OS preference) -----------------
// static/js/theme.js applies the stored choice before the first paint; this keeps it current.
const THEME_KEY = 'hfgate-theme';
const THEME_ORDER = ['system', 'light', 'dark'];
const THEME_LABEL = { system: 'system (follows the device)', light: 'light', dark: 'dark' };
const THEME_ICON = {
  system: '<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/>',
  light: '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>',
  dark: '<path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8Z"/>',
};

export function currentTheme() {
  const mode = document.documentElement.dataset.theme;
  return mode === 'light' || mode === 'dark' ? mode : 'system';
}

export function applyTheme(mode) {
  if (mode === 'light' || mode === 'dark') document.documentElement.dataset.theme = mode;
  else delete document.documentElement.dataset.theme;
  try {
    if (mode === 'light' || mode === 'dark') localStorage.setItem(THEME_KEY, mode);
    else localStorage.removeItem(THEME_KEY);
  } catch {
    // Not remembered (storage unavailable): still applied to this page.
  }
}

function initThemeToggle() {
  const button = document.getElementById('theme-toggle');
  if (!button) return;
  const show = () => {
    const mode = currentTheme();
    const next = THEME_ORDER[(THEME_ORDER.indexOf(mode) + 1) % THEME_ORDER.length];
    const label = `Theme: ${THEME_LABEL[mode]}. Switch to ${next}`;
    button.setAttribute('aria-label', label);
    button.title = label;
    button.dataset.mode = mode;
    const svg = icon('');
    svg.innerHTML = THEME_ICON[mode]; // constants of this file, never data
    button.replaceChildren(svg);
  };
  button.addEventListener('click', () => {
    const mode = currentTheme();
    applyTheme(THEME_ORDER[(THEME_ORDER.indexOf(mode) + 1) % THEME_ORDER.length]);
    show();
  });
  // Another tab changed it: follow.
  window.addEventListener('storage', (event) => {
    if (event.key !== THEME_KEY && event.key !== null) return;
    const mode = event.newValue === 'light' || event.newValue === 'dark' ? event.newValue : 'system';
    if (mode === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = mode;
    show();
  });
  show();
}

function groupOf(iso) {
  const then = new Date(iso);
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const diff = today.getTime() - then.getTime();
  if (diff <= 0) return 'Today';
  if (diff <= DAY) return 'Yesterday';
  if (diff <= 7 * DAY) return 'Previous 7 days';
  if (diff <= 30 * DAY) return 'Previous 30 days';
  return 'Older';
}

export function exportUrl(id, format) {
  return `/api/conversations/${encodeURIComponent(id)}/export?format=${format}`;
}

/**
 * Start the shell. Hooks (all optional), used by the chat page to stay on the page:
 * onOpen(id) opens a conversation, onNew() starts a new chat, onDeleted(id), onRenamed(conv).
 */
export function initShell(hooks = {}) {
  hydrateIcons(document);
  initThemeToggle();
  const app = document.getElementById('app');
  const list = document.getElementById('conversation-list');
  let conversations = [];
  let active = null;
  const search = document.getElementById('conversation-search');
  let query = '';

  // -- the drawer (phone width) --------------------------------------------------------------
  const scrim = document.getElementById('scrim');
  const openDrawer = () => { app.classList.add('nav-open'); scrim.hidden = false; document.getElementById('sidebar-close')?.focus(); };
  const closeDrawer = () => { app.classList.remove('nav-open'); scrim.hidden = true; };
  document.querySelectorAll('[data-open-menu]').forEach((b) => b.addEventListener('click', openDrawer));
  document.getElementById('sidebar-close')?.addEventListener('click', closeDrawer);
  scrim?.addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && app.classList.contains('nav-open')) {
      closeDrawer();
      event.stopImmediatePropagation();
    }
  }, true);

  document.getElementById('new-chat')?.addEventListener('click', (event) => {
    if (!hooks.onNew) return;
    event.preventDefault();
    closeDrawer();
    hooks.onNew();
  });

  document.getElementById('sign-out')?.addEventListener('click', async () => {
    try { await request('/auth/logout', { method: 'POST' }); } finally { location.assign('/login'); }
  });

  // -- conversations -------------------------------------------------------------------------
  function render() {
    list.removeAttribute('aria-busy');
    if (!conversations.length) {
      const empty = query ? `No conversations match “${query}”.` : 'No conversations yet.';
      list.replaceChildren(el('li', { class: 'conv-empty' }, empty));
      return;
    }
    const nodes = [];
    let group = null;
    for (const conv of conversations) {
      const label = groupOf(conv.updated_at);
      if (label !== group) {
        group = label;
        nodes.push(el('li', { class: 'section-label group-label', 'aria-hidden': 'true' }, label));
      }
      nodes.push(item(conv));
    }
    list.replaceChildren(...nodes);
  }

  function item(conv) {
    const link = el('a', {
      class: 'conv', href: `/chat/${encodeURIComponent(conv.id)}`, 'data-id': conv.id,
      'aria-current': conv.id === active ? 'page' : null, title: conv.title || 'New chat',
    }, el('span', { class: 'conv-title' }, conv.title || 'New chat'));
    link.addEventListener('click', (event) => {
      if (!hooks.onOpen || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      closeDrawer();
      hooks.onOpen(conv.id);
    });
    const more = iconButton('more', `Actions for “${conv.title || 'New chat'}”`, { class: 'icon-btn conv-more', 'aria-haspopup': 'menu', 'aria-expanded': 'false' });
    more.addEventListener('click', (event) => {
      event.stopPropagation();
      popupMenu(more, [
        { label: 'Rename', icon: 'pencil', onSelect: () => startRename(conv) },
        { label: 'Export as Markdown', icon: 'download', href: exportUrl(conv.id, 'markdown'), download: true },
        { label: 'Export as JSON', icon: 'download', href: exportUrl(conv.id, 'json'), download: true },
        { label: 'Delete', icon: 'trash', danger: true, onSelect: () => remove(conv) },
      ]);
    });
    return el('li', { 'data-id': conv.id }, link, more);
  }

  function startRename(conv) {
    const row = list.querySelector(`li[data-id="${CSS.escape(conv.id)}"]`);
    if (!row) return;
    const input = el('input', { class: 'conv-rename', type: 'text', value: conv.title || '', 'aria-label': 'Conversation title', maxlength: '200' });
    row.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (save && title && title !== conv.title) await rename(conv.id, title);
      else render();
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') { event.preventDefault(); finish(true); }
      if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
  }

  async function rename(id, title) {
    try {
      const updated = await api(`/api/conversations/${encodeURIComponent(id)}`, { method: 'PATCH', json: { title } });
      upsert(updated);
      hooks.onRenamed?.(updated);
    } catch (err) {
      toast(err.message, 'error');
      render();
    }
  }

  async function remove(conv) {
    const ok = await confirmDialog({
      title: 'Delete this conversation?',
      body: `“${conv.title || 'New chat'}” and all of its messages will be deleted. This cannot be undone.`,
      confirm: 'Delete',
    });
    if (!ok) return;
    try {
      await api(`/api/conversations/${encodeURIComponent(conv.id)}`, { method: 'DELETE' });
      conversations = conversations.filter((c) => c.id !== conv.id);
      render();
      toast('Conversation deleted');
      hooks.onDeleted?.(conv.id);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  let loading = 0; // a counter, so a slow answer to an older search cannot overwrite a newer one
  async function refresh() {
    const ticket = ++loading;
    const path = query ? `/api/conversations?q=${encodeURIComponent(query)}` : '/api/conversations';
    try {
      const found = (await api(path)).data || [];
      if (ticket !== loading) return;
      conversations = found;
      render();
    } catch (err) {
      if (ticket !== loading) return;
      list.replaceChildren(el('li', { class: 'conv-empty' }, `Could not load conversations: ${err.message}`));
    }
  }

  function upsert(conv) {
    const index = conversations.findIndex((c) => c.id === conv.id);
    const merged = { ...(conversations[index] || {}), ...conv };
    if (index >= 0) conversations.splice(index, 1);
    conversations.unshift(merged);
    conversations.sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
    render();
  }

  function setActive(id) {
    active = id;
    for (const link of list.querySelectorAll('a.conv')) {
      if (link.dataset.id === id) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  // -- search: the server looks in titles and messages; typing waits a moment before asking --
  let typing = null;
  search?.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      query = search.value.trim();
      refresh();
    }, 200);
  });
  search?.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && search.value) {
      event.preventDefault();
      event.stopPropagation();
      search.value = '';
      clearTimeout(typing);
      query = '';
      refresh();
    } else if (event.key === 'ArrowDown') {
      event.preventDefault();
      list.querySelector('a.conv')?.focus();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (!search || event.key.toLowerCase() !== 'k' || !(event.ctrlKey || event.metaKey) || event.altKey) return;
    event.preventDefault();
    if (getComputedStyle(search).visibility === 'hidden') openDrawer();
    search.focus();
    search.select();
  });

  refresh();
  return { refresh, upsert, setActive, rename: startRename, remove: (id) => remove(conversations.find((c) => c.id === id) || { id }), closeDrawer };
}
