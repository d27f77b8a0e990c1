// The integrations page (admins): paste a credential, watch the validation checklist run,
// then manage what is stored: rotate the token, rename, re-check, remove. The "Hugging Face"
// tab (hf.js) connects an account instead and imports its endpoints through the same checklist.
// The token is sent once and never comes back: the list shows only its mask.
import { api, ApiError, readJson, request } from './lib/api.js';
import { icon } from './lib/icons.js';
import { initShell } from './lib/shell.js';
import { readEvents } from './lib/sse.js';
import { badge, engineLabel } from './lib/status.js';
import { confirmDialog, el, fmtInt, openDialog, timeAgo, toast } from './lib/ui.js';
import { initHf } from './hf.js';

const POLL_MS = 5000;
const WAIT_SECONDS = 120;
// The checklist's order and titles (the server's report uses the same).
const CHECKS = [
  ['credential', 'Credential'],
  ['reach', 'Reach the endpoint'],
  ['auth', 'Token accepted'],
  ['state', 'Endpoint running'],
  ['engine', 'Inference engine'],
  ['task', 'Model task'],
  ['model', 'Model matches'],
  ['context', 'Context window'],
  ['chat_route', 'Chat route'],
];
const MARK = { ok: '✓', warn: '!', fail: '✗', skipped: '–', waiting: '', running: '' };
const SAID = { ok: 'passed', warn: 'warning', fail: 'failed', skipped: 'skipped', waiting: 'not run yet', running: 'running' };

initShell();

const $ = (id) => document.getElementById(id);
const form = $('add-form');
const credential = $('credential');
const panel = $('checklist-panel');
const addButton = $('add-submit');
const checkButton = $('validate-only');

// -- the checklist -------------------------------------------------------------------------------

/** A message's nodes: the server quotes names and routes in `backticks`, shown as code. */
function richText(text) {
  return String(text ?? '')
    .split(/`([^`]+)`/)
    .map((part, index) => (index % 2 ? el('code', {}, part) : part))
    .filter((part) => part !== '');
}

/** A problem's bullet: its field first, unless the message already names it. */
function problemItem(problem) {
  const named = problem.field && !String(problem.message).includes(`\`${problem.field}\``);
  return el('li', {}, named ? [el('code', {}, problem.field), ': '] : null, richText(problem.message));
}

/** A checklist element that fills in row by row; `rows` by check id. */
function checklist() {
  const rows = new Map();
  let ticker = null;
  const stopTicker = () => {
    clearInterval(ticker);
    ticker = null;
  };
  const list = el('ol', { class: 'checklist' });
  for (const [id, title] of CHECKS) {
    const row = {
      node: el('li', { class: 'check waiting', 'data-check': id }),
      mark: el('span', { class: 'ci', 'aria-hidden': 'true' }),
      title: el('span', { class: 'ct' }, title),
      message: el('span', { class: 'cm' }),
      state: el('span', { class: 'visually-hidden' }, `${SAID.waiting}: `),
    };
    row.node.append(row.mark, el('span', { class: 'ct-wrap' }, row.state, row.title), row.message);
    rows.set(id, row);
    list.append(row.node);
  }
  return {
    node: list,
    set(check) {
      const row = rows.get(check.id);
      if (!row) return;
      if (check.id === 'state') stopTicker();
      // A check already decided is not undone by a later "skipped" for the same id.
      if (check.status === 'skipped' && row.decided) return;
      row.decided = true;
      row.node.className = `check ${check.status}`;
      row.mark.textContent = MARK[check.status] ?? '';
      row.state.textContent = `${SAID[check.status] || check.status}: `;
      row.message.replaceChildren(...richText(check.message));
      // The next row still waiting is the one running now.
      const next = [...rows.values()].find((r) => r.node.classList.contains('waiting'));
      for (const r of rows.values()) r.node.classList.remove('running');
      if (next && check.status !== 'fail' && check.status !== 'skipped') next.node.classList.add('running');
    },
    start() {
      rows.get('credential').node.classList.add('running');
    },
    wait(payload) {
      // The server reports every few seconds; the count in between ticks here.
      const row = rows.get('state');
      for (const r of rows.values()) r.node.classList.remove('running');
      row.node.className = 'check running';
      const elapsed = el('span', { class: 'elapsed' });
      const since = performance.now() - (payload.elapsed || 0) * 1000;
      const paint = () => {
        elapsed.textContent = `Waiting for the endpoint to wake… ${Math.round((performance.now() - since) / 1000)} s`;
      };
      paint();
      row.message.replaceChildren(elapsed, payload.message ? el('span', {}, ' — ', richText(payload.message)) : null);
      stopTicker();
      ticker = setInterval(paint, 1000);
    },
    problems(problems) {
      // One problem is the row's message already; several are listed instead of it (the
      // message is the first plus "and N more"), so each is said once.
      if (!(problems?.length > 1)) return;
      const row = rows.get('credential');
      row.message.replaceChildren(el('ul', { class: 'check-problems' }, problems.map(problemItem)));
    },
    stop() {
      stopTicker();
      for (const r of rows.values()) r.node.classList.remove('running');
    },
    fill(report, { compact = false } = {}) {
      for (const check of report.checks || []) this.set(check);
      this.problems(report.problems);
      this.stop();
      for (const r of rows.values()) {
        const status = r.node.classList;
        // Rows the report never reached (a re-check has no "credential" step) are left out;
        // a compact list keeps only what was decided.
        r.node.hidden = status.contains('waiting') || (compact && status.contains('skipped'));
      }
    },
  };
}

function notes(report) {
  if (!report?.notes?.length) return null;
  return el('ul', { class: 'check-notes' }, report.notes.map((n) => el('li', {}, icon('info'), el('span', {}, richText(n)))));
}

function head(kind, text) {
  const mark = kind === 'running' ? el('span', { class: 'spinner' }) : icon(kind === 'ok' ? 'check' : kind === 'pending' ? 'info' : 'alert');
  return el('div', { class: `checklist-head ${kind}`, role: kind === 'fail' ? 'alert' : 'status' }, mark, el('span', {}, richText(text)));
}

/**
 * The headline of a refused (or, with `dryRun`, failed) check: what failed, not the message
 * again — the failing row says it, and the credential's problems are listed under its row.
 */
function failureHead(report, dryRun) {
  const verdict = dryRun ? 'Check failed' : 'Not added';
  const problems = report.problems?.length || 0;
  if (problems > 1) return `${verdict}: the credential has ${problems} problems, listed below.`;
  if (problems) return `${verdict}: the credential is invalid (below).`;
  const failed = (report.checks || []).find((check) => check.status === 'fail');
  const title = failed && CHECKS.find(([id]) => id === failed.id)?.[1];
  if (title && report.summary === `${title}: ${failed.message}`) return `${verdict}: “${title}” did not pass (below).`;
  return `${verdict}: ${report.summary}`;
}

/** The pending headline: the state row already says why the endpoint is not running. */
function pendingHead(name, report) {
  const state = (report.checks || []).find((check) => check.id === 'state');
  const why = state && state.message === report.summary ? '' : `: ${report.summary}`;
  return `Saved ${name} as pending${why}. hfgate finishes the checks by itself once the endpoint runs.`;
}

// -- adding ---------------------------------------------------------------------------------------

let running = false;

async function run(dryRun) {
  if (running) return;
  const text = credential.value;
  if (!text.trim()) {
    credential.focus();
    panel.replaceChildren(head('fail', 'Paste the credential JSON first.'));
    return;
  }
  running = true;
  addButton.disabled = checkButton.disabled = true;
  const list = checklist();
  let header = head('running', dryRun ? 'Checking the endpoint…' : 'Checking the endpoint before adding it…');
  const extras = el('div');
  panel.replaceChildren(header, list.node, extras);
  list.start();
  const setHead = (kind, message) => {
    const fresh = head(kind, message);
    header.replaceWith(fresh);
    header = fresh;
  };
  const wait = $('wait').checked ? WAIT_SECONDS : 0;
  const url = `/api/integrations${dryRun ? '/validate' : ''}?wait=${wait}`;
  try {
    const result = await streamChecks(url, { body: text, list, setHead, failure: dryRun ? 'Check failed' : 'Not added' });
    extras.replaceChildren(...[notes(result.report)].filter(Boolean));
    onResult(result, dryRun, setHead);
  } catch (err) {
    list.stop();
    setHead('fail', err.message);
  } finally {
    running = false;
    addButton.disabled = checkButton.disabled = false;
  }
}

/**
 * POST `body` to `url` asking for the live checklist, filling `list` as each check is decided.
 * Resolves with the `result` event ({status, report, integration}); throws an error whose
 * message says what went wrong otherwise. `setHead(kind, text)` retitles the checklist;
 * `failure` starts the message of a request refused before any check ran.
 */
async function streamChecks(url, { body, list, setHead, signal, failure = 'Not added' }) {
  const response = await request(url, {
    method: 'POST', body, headers: body ? { 'Content-Type': 'application/json' } : {}, accept: 'text/event-stream', signal,
  });
  if (!(response.headers.get('content-type') || '').includes('text/event-stream')) {
    const data = await readJson(response);
    if (data?.report) list.fill(data.report);
    throw new ApiError(response.status, data);
  }
  for await (const item of readEvents(response)) {
    if (!item.data) continue;
    const payload = JSON.parse(item.data);
    if (item.event === 'check') list.set(payload);
    else if (item.event === 'waiting') {
      list.wait(payload);
      setHead('running', `The endpoint is scaled to zero: waiting for it to wake (up to ${WAIT_SECONDS} s)…`);
    } else if (item.event === 'result') {
      list.fill(payload.report);
      return payload;
    } else if (item.event === 'error') {
      list.stop();
      throw new Error(`${failure}: ${payload.error?.message || 'the request failed'}`);
    }
  }
  throw new Error('The connection closed before the checks finished. Try again.');
}

function onResult(result, dryRun, setHead) {
  const { status, report, integration } = result;
  const name = integration?.name;
  if (status === 201) {
    setHead('ok', `Added ${name}: it passed every check and people can chat with it now.`);
    credential.value = '';
    toast(`${name} is ready`);
    refresh();
  } else if (status === 202) {
    setHead('pending', pendingHead(name, report));
    credential.value = '';
    refresh();
  } else if (status === 200) {
    setHead('ok', 'Passed every check. Nothing was saved — press “Add endpoint” to add it.');
  } else {
    setHead('fail', failureHead(report, dryRun));
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  run(false);
});
checkButton.addEventListener('click', () => run(true));
credential.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    run(false);
  }
});

// -- the stored integrations ----------------------------------------------------------------------

const listNode = $('integration-list');
const empty = $('integrations-empty');
const cards = new Map();

function meta(label, value, mono = false) {
  return el('div', {}, el('dt', {}, label), el('dd', { class: mono ? 'mono' : '', title: value }, value));
}

function card(item) {
  const reportBox = el('div', { class: 'integration-detail', hidden: true });
  const reportToggle = el('button', { type: 'button', class: 'btn small ghost', 'aria-expanded': 'false' }, 'Last report');
  reportToggle.addEventListener('click', () => {
    const open = reportBox.hidden;
    reportBox.hidden = !open;
    reportToggle.setAttribute('aria-expanded', String(open));
    if (open) {
      const list = checklist();
      list.fill(cards.get(item.id).item.report || { checks: [] });
      reportBox.replaceChildren(list.node, ...[notes(cards.get(item.id).item.report)].filter(Boolean));
    }
  });
  const actions = el('div', { class: 'integration-actions' },
    action('refresh', 'Re-check', () => recheck(cards.get(item.id).item)),
    action('key', 'Rotate key', () => rotate(cards.get(item.id).item)),
    action('pencil', 'Rename', () => rename(cards.get(item.id).item)),
    action('trash', 'Remove', () => remove(cards.get(item.id).item), 'danger-text'),
  );
  const parts = {
    node: el('article', { class: 'card integration', 'data-id': item.id }),
    reportBox, reportToggle, actions,
  };
  return parts;
}

function action(iconName, label, handler, extra = '') {
  const button = el('button', { type: 'button', class: `btn small ${extra}`, 'data-action': label.toLowerCase().replace(/\s+/g, '-') }, icon(iconName), label);
  button.addEventListener('click', handler);
  return button;
}

function paint(parts, item) {
  parts.item = item;
  parts.node.replaceChildren(
    el('div', { class: 'integration-head' }, el('h3', {}, item.name), badge(item.status)),
    parts.actions,
    el('dl', { class: 'integration-meta' },
      meta('Model', item.model_name),
      meta('Endpoint', item.endpoint, true),
      meta('Token', item.api_key, true),
      meta('Context window', `${fmtInt(item.context_window)} tokens`),
      meta('Engine', engineLabel(item.engine, item.engine_version, item.facts?.engine_flavour)),
      meta('Checked', item.validated_at ? timeAgo(item.validated_at) : 'not yet')),
    item.status_detail ? el('p', { class: 'integration-detail' }, item.status_detail) : null,
    el('div', { class: 'integration-foot' }, parts.reportToggle, wakeToggle(item)),
    parts.reportBox,
  );
}

// Wake on open: start the endpoint as soon as someone opens a chat with this model.
function wakeToggle(item) {
  const id = `wake-${item.id}`;
  const box = el('input', { type: 'checkbox', id, checked: item.wake_on_open ? '' : null });
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      await api(path(item), { method: 'PATCH', json: { wake_on_open: box.checked } });
      toast(box.checked ? `${item.name} wakes when a chat with it opens` : `Wake on open is off for ${item.name}`);
      refresh();
    } catch (err) {
      box.checked = !box.checked;
      toast(err.message, 'error');
    } finally {
      box.disabled = false;
    }
  });
  const hint = 'Start the endpoint when someone opens a chat with this model, so it is warm by the first message';
  return el('label', { class: 'wake-toggle', for: id, title: hint }, box, ' Wake on open');
}

async function refresh() {
  let items;
  try {
    items = (await api('/api/integrations')).data || [];
  } catch (err) {
    return;
  }
  listNode.removeAttribute('aria-busy');
  listNode.querySelectorAll('.skeleton').forEach((n) => n.remove());
  const seen = new Set();
  for (const item of items) {
    seen.add(item.id);
    let parts = cards.get(item.id);
    if (!parts) {
      parts = card(item);
      cards.set(item.id, parts);
    }
    const before = JSON.stringify(parts.item || null);
    if (before !== JSON.stringify(item)) paint(parts, item);
    listNode.append(parts.node);
  }
  for (const [id, parts] of cards) {
    if (!seen.has(id)) {
      parts.node.remove();
      cards.delete(id);
    }
  }
  empty.hidden = items.length > 0;
}

function path(item) {
  return `/api/integrations/${encodeURIComponent(item.id)}`;
}

async function recheck(item) {
  toast(`Checking ${item.name}…`);
  try {
    const result = await api(`${path(item)}/revalidate`, { method: 'POST' });
    toast(`${item.name}: ${result.report.summary}`, result.report.outcome === 'failed' ? 'error' : 'info', 6000);
  } catch (err) {
    toast(err.message, 'error', 6000);
  }
  refresh();
}

async function rotate(item) {
  const done = await openDialog({
    title: `Rotate the token of ${item.name}`,
    body: 'Paste the new Hugging Face token. hfgate checks it against the endpoint first: the current token stays in use unless the new one works.',
    fields: [{ name: 'api_key', label: 'New token', type: 'password', placeholder: 'hf_…', autocomplete: 'new-password' }],
    confirm: 'Check and save',
    wide: true,
    onSubmit: async (values, ctx) => {
      ctx.setExtra(null);
      try {
        return await api(path(item), { method: 'PATCH', json: { api_key: values.api_key.trim() } });
      } catch (err) {
        const report = err.body?.error?.report;
        if (report) {
          const list = checklist();
          list.fill(report, { compact: true });
          ctx.setExtra(list.node);
        }
        throw err;
      }
    },
  });
  if (done) {
    toast(`New token saved for ${item.name}`);
    refresh();
  }
}

async function rename(item) {
  const done = await openDialog({
    title: 'Rename model',
    body: 'The name is the model id people pick in the chat and programs send as "model". Programs using the old name stop working.',
    fields: [{ name: 'name', label: 'Name', value: item.name }],
    confirm: 'Rename',
    onSubmit: (values) => api(path(item), { method: 'PATCH', json: { name: values.name.trim() } }),
  });
  if (done) {
    toast(`Renamed to ${done.integration?.name || 'the new name'}`);
    refresh();
  }
}

async function remove(item) {
  const ok = await confirmDialog({
    title: `Remove ${item.name}?`,
    body: 'People and programs lose access to this model at once. The endpoint itself is not touched on Hugging Face, and past conversations are kept.',
    confirm: 'Remove',
  });
  if (!ok) return;
  try {
    await api(path(item), { method: 'DELETE' });
    toast(`${item.name} removed`);
  } catch (err) {
    toast(err.message, 'error');
  }
  refresh();
}

refresh();
setInterval(() => {
  if (!document.hidden) refresh();
}, POLL_MS);

// -- tabs: paste a credential | Hugging Face ------------------------------------------------------

const hf = initHf({ checklist, notes, head, streamChecks, waitSeconds: WAIT_SECONDS, refreshIntegrations: refresh });
const tabs = [...document.querySelectorAll('#integration-tabs [role="tab"]')];

function selectTab(tab, { focus = false } = {}) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  const hash = tab.dataset.hash ? `#${tab.dataset.hash}` : '';
  if (location.hash !== hash) history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
  if (tab.dataset.hash === 'hugging-face') hf.show();
  else hf.hide();
}

tabs.forEach((tab, index) => {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    let next = null;
    if (step) next = tabs[(index + step + tabs.length) % tabs.length];
    else if (event.key === 'Home') next = tabs[0];
    else if (event.key === 'End') next = tabs[tabs.length - 1];
    if (!next) return;
    event.preventDefault();
    selectTab(next, { focus: true });
  });
});
const tabOfHash = () => tabs.find((t) => t.dataset.hash && `#${t.dataset.hash}` === location.hash) || tabs[0];
window.addEventListener('hashchange', () => selectTab(tabOfHash()));
selectTab(tabOfHash());
