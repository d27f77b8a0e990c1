// The "Hugging Face" tab of the integrations page (admins): connect an account's token once,
// see every Inference Endpoint of its namespaces, import one through the same live checklist
// as a pasted credential, and resume, pause or scale one to zero. The token is sent once and
// only ever comes back masked. Reading the list never wakes an endpoint (the server reads
// Hugging Face's management API, not the endpoints).
import { api } from './lib/api.js';
import { icon } from './lib/icons.js';
import { badge, STATUS } from './lib/status.js';
import { confirmDialog, el, timeAgo, toast } from './lib/ui.js';

const POLL_MS = 15000; // the list while the tab is shown (the server keeps it 10 s)
const WATCH_MS = 4000; // while an endpoint changes state: read Hugging Face itself, this often
const WATCH_AFTER_ACTION_MS = 12000; // an action is followed this long even if it looks settled
const WATCH_LIMIT_MS = 15 * 60 * 1000; // then back to the slow pace, however long HF takes
const TRANSITIONAL = new Set(['pending', 'initializing', 'updating']);
const STATE_LABEL = {
  pending: 'Pending', initializing: 'Initializing', updating: 'Updating', updateFailed: 'Update failed',
  running: 'Running', paused: 'Paused', failed: 'Failed', scaledToZero: 'Scaled to zero',
};
const ENGINES = {
  tgi: 'TGI', tgiNeuron: 'TGI (Neuron)', huggingface: 'Default container', vLLM: 'vLLM', vLLMNeuron: 'vLLM (Neuron)',
  sGLang: 'SGLang', tei: 'TEI', llamacpp: 'llama.cpp', custom: 'Custom container', hfServe: 'hfServe',
};
const PRICE = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 3 });

const keyOf = (e) => `${e.namespace}/${e.name}`;
const pathOf = (e) => `/api/hf/endpoints/${encodeURIComponent(e.namespace)}/${encodeURIComponent(e.name)}`;
const stateLabel = (state) => STATE_LABEL[state] || state || 'unknown';
const price = (e) => (typeof e.price_per_hour === 'number' ? PRICE.format(e.price_per_hour) : null);

// What each operation asks before it runs, and the states it applies to (others hide it).
const ACTIONS = {
  resume: {
    label: 'Resume',
    applies: (e) => !(e.state === 'running' || TRANSITIONAL.has(e.state)),
    ask: (e) => ({
      title: `Resume ${keyOf(e)}?`,
      body: `Hugging Face starts its replicas again${price(e) ? `, billed at ${price(e)} an hour while they run` : ' and bills them while they run'}.${e.model ? ` ${e.model} answers again once it is running.` : ''}`,
      confirm: 'Resume',
      danger: false,
    }),
  },
  pause: {
    label: 'Pause',
    applies: (e) => e.state !== 'paused',
    ask: (e) => ({
      title: `Pause ${keyOf(e)}?`,
      body: `Its replicas stop and so does billing. A paused endpoint does not wake on requests: ${e.model
        ? `people who pick ${e.model} are told it is paused until an admin resumes it (or, if its “wake on open” setting is on, until someone opens the chat with it).`
        : 'it stays off until an admin resumes it.'}`,
      confirm: 'Pause',
    }),
  },
  'scale-to-zero': {
    label: 'Scale to zero',
    applies: (e) => e.state === 'running' || e.state === 'updating',
    ask: (e) => ({
      title: `Scale ${keyOf(e)} to zero?`,
      body: 'Its replicas stop now and so does billing. The next request wakes it, which takes a minute or two; requests running right now are cut off.',
      confirm: 'Scale to zero',
    }),
  },
};

/**
 * Start the tab. `kit` is the integrations page's checklist renderer: checklist(), notes(report),
 * head(kind, text), streamChecks(url, options), waitSeconds, refreshIntegrations().
 * Returns {show, hide}: the tab reads and polls only while it is shown.
 */
export function initHf(kit) {
  const $ = (id) => document.getElementById(id);
  const connectForm = $('hf-connect-form');
  const tokenField = $('hf-token');
  const namespaceField = $('hf-namespace');
  const connectButton = $('hf-connect');
  const connectError = $('hf-connect-error');
  const accountList = $('hf-accounts');
  const errorList = $('hf-errors');
  const table = $('hf-table');
  const tbody = $('hf-rows');
  const empty = $('hf-empty');
  const updated = $('hf-updated');
  const refreshButton = $('hf-refresh');

  const rows = new Map(); // "namespace/name" → {node, item, busy}
  let accounts = null;
  let shown = false;
  let started = false;
  let timer = null;
  let epoch = 0; // bumped by every change made here: a read started before it is stale
  let watchUntil = 0; // follow changes quickly until then (while something is transitional)
  let watchLimit = 0;
  let errorsShown = '';
  let reasons = 0;

  // -- accounts ----------------------------------------------------------------------------------

  async function loadAccounts() {
    try {
      accounts = (await api('/api/hf/accounts')).data || [];
    } catch (err) {
      accountList.replaceChildren(el('li', { class: 'form-error' }, `Could not read the accounts: ${err.message}`));
      return;
    }
    accountList.removeAttribute('aria-busy');
    if (!accounts.length) {
      accountList.replaceChildren(el('li', { class: 'hf-none muted small' }, 'No account connected yet.'));
      return;
    }
    accountList.replaceChildren(...accounts.map((account) => el('li', { class: 'hf-account', 'data-id': account.id },
      el('div', { class: 'hf-account-main' },
        el('strong', {}, account.user),
        el('span', { class: 'hf-namespaces' }, account.namespaces.map((ns) => el('span', { class: 'chip' }, ns)))),
      el('div', { class: 'hf-account-meta muted small' },
        el('span', { class: 'visually-hidden' }, 'Token: '), el('code', {}, account.token), ` · connected ${timeAgo(account.created_at)}`),
      el('button', {
        type: 'button', class: 'btn small danger-text', 'data-action': 'disconnect', 'aria-label': `Disconnect ${account.user}`,
        onclick: () => disconnect(account),
      }, icon('trash'), 'Disconnect'))));
  }

  async function disconnect(account) {
    const ok = await confirmDialog({
      title: `Disconnect ${account.user}?`,
      body: `hfgate forgets this token and no longer lists the endpoints of ${account.namespaces.join(', ')}. Models already imported keep working with their own copy of the token; their status comes from probing the endpoint again. Nothing changes on Hugging Face.`,
      confirm: 'Disconnect',
    });
    if (!ok) return;
    try {
      await api(`/api/hf/accounts/${encodeURIComponent(account.id)}`, { method: 'DELETE' });
      toast(`${account.user} disconnected`);
    } catch (err) {
      toast(err.message, 'error', 6000);
    }
    epoch += 1;
    await loadAccounts();
    loadEndpoints({ refresh: true });
  }

  function showConnectError(message) {
    connectError.textContent = message || '';
    connectError.hidden = !message;
  }

  connectForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = tokenField.value.trim();
    const namespace = namespaceField.value.trim();
    if (!token) {
      showConnectError('Paste a Hugging Face token first.');
      tokenField.focus();
      return;
    }
    showConnectError('');
    connectButton.disabled = true;
    connectButton.setAttribute('aria-busy', 'true');
    try {
      const account = await api('/api/hf/accounts', { method: 'POST', json: namespace ? { token, namespace } : { token } });
      tokenField.value = '';
      namespaceField.value = '';
      toast(`Connected ${account.user}: ${account.namespaces.join(', ')}`);
      epoch += 1;
      await loadAccounts();
      await loadEndpoints({ refresh: true });
    } catch (err) {
      showConnectError(err.message);
      (err.param === 'namespace' ? namespaceField : tokenField).focus();
    } finally {
      connectButton.disabled = false;
      connectButton.removeAttribute('aria-busy');
    }
  });

  // -- the endpoints -----------------------------------------------------------------------------

  async function loadEndpoints({ refresh = false } = {}) {
    const mine = epoch;
    let body;
    try {
      body = await api(`/api/hf/endpoints${refresh ? '?refresh=true' : ''}`);
    } catch (err) {
      if (mine === epoch) updated.textContent = `Could not refresh: ${err.message}`;
      return;
    }
    if (mine !== epoch) return; // a change made meanwhile: the next read shows it
    render(body);
  }

  function render(body) {
    const items = body.endpoints || [];
    renderErrors(body.errors || []);
    const seen = new Set();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      let row = rows.get(key);
      if (!row) {
        row = { node: el('tr', { 'data-endpoint': key }), item: null, busy: false };
        rows.set(key, row);
      }
      if (JSON.stringify(row.item) !== JSON.stringify(item)) {
        row.item = item;
        paint(row);
      }
      tbody.append(row.node); // keeps the server's order
    }
    for (const [key, row] of rows) {
      if (!seen.has(key)) {
        row.node.remove();
        rows.delete(key);
      }
    }
    table.hidden = items.length === 0;
    empty.hidden = items.length > 0;
    if (!items.length) {
      const text = accounts && !accounts.length
        ? 'Connect an account above to list its Inference Endpoints.'
        : body.errors?.length ? 'No namespace could be read just now: see above.' : 'The connected namespaces have no Inference Endpoints yet.';
      empty.replaceChildren(el('p', {}, text));
    }
    const watching = isWatching();
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}${watching ? ` · following the change every ${WATCH_MS / 1000} s` : ''}`;
  }

  function renderErrors(errors) {
    const text = JSON.stringify(errors);
    if (text === errorsShown) return; // unchanged: do not announce it again
    errorsShown = text;
    errorList.hidden = errors.length === 0;
    errorList.setAttribute('role', 'alert');
    errorList.replaceChildren(...errors.map((e) => el('li', {}, icon('alert'),
      el('span', {}, el('strong', {}, e.namespace), `: ${e.message}`))));
  }

  function sub(text, attrs = {}) {
    return text ? el('span', { class: 'sub', ...attrs }, text) : null;
  }

  function paint(row) {
    const e = row.item;
    const key = keyOf(e);
    const had = row.node.contains(document.activeElement) ? document.activeElement.dataset.action || '' : null;
    row.node.dataset.state = e.state;
    row.node.dataset.status = e.status;
    const instance = [e.instance_type, e.instance_size].filter(Boolean).join(' · ') || e.accelerator || '—';
    row.node.replaceChildren(
      el('th', { scope: 'row' }, el('span', { class: 'hf-name' }, `${e.namespace}/`, el('wbr'), e.name), sub(e.repository)),
      el('td', {}, statusCell(e)),
      el('td', {}, ENGINES[e.engine] || e.engine || '—', e.supported ? null : sub(e.task)),
      el('td', {}, instance, sub([e.vendor, e.region].filter(Boolean).join(' · '))),
      el('td', { class: 'num' }, price(e) || '—'),
      el('td', {}, scaleToZero(e)),
      el('td', { class: 'hf-model' }, modelCell(row, key)),
      el('td', { class: 'actions' }, el('div', { class: 'hf-actions' },
        Object.entries(ACTIONS).filter(([, spec]) => spec.applies(e)).map(([action, spec]) => el('button', {
          type: 'button', class: 'btn small', 'data-action': action, 'aria-label': `${spec.label} ${key}`,
          disabled: row.busy, onclick: () => act(row, action),
        }, spec.label)))),
    );
    // Focus stays in the row: on the same button if it is still there, else the next one.
    const wanted = row.busy ? null : row.refocus ?? had;
    if (wanted !== null && wanted !== undefined) {
      row.refocus = null;
      const target = row.node.querySelector(`[data-action="${wanted}"]:not(:disabled)`)
        || row.node.querySelector('.hf-actions button:not(:disabled)')
        || row.node.querySelector('.hf-model a, .hf-model button:not(:disabled)');
      target?.focus();
    }
  }

  function statusCell(e) {
    const node = badge(e.status);
    node.title = e.status_detail || STATUS[e.status]?.hint || '';
    let line = null;
    if (TRANSITIONAL.has(e.state)) {
      line = sub([el('span', { class: 'spinner', 'aria-hidden': 'true' }), `${stateLabel(e.state)}…`], { class: 'sub hf-state' });
    } else if (e.status === 'failed') {
      line = sub(e.message || stateLabel(e.state), { class: 'sub hf-state' });
    } else if (e.state === 'running' && e.target_replica) {
      line = sub(`${e.ready_replica ?? 0}/${e.target_replica} replicas`);
    }
    return [node, line];
  }

  function scaleToZero(e) {
    const minutes = e.scale_to_zero_timeout;
    if (!minutes || (e.min_replica ?? 0) > 0) return el('span', { class: 'muted' }, 'Off');
    return minutes % 60 === 0 ? `after ${minutes / 60} h` : `after ${minutes} min`;
  }

  function modelCell(row, key) {
    const e = row.item;
    if (e.model) {
      return el('a', { href: `/chat?model=${encodeURIComponent(e.model)}`, title: `Chat with ${e.model}` }, e.model);
    }
    if (e.supported) {
      return el('button', {
        type: 'button', class: 'btn small primary', 'data-action': 'import', 'aria-label': `Import ${key}`,
        disabled: row.busy, onclick: () => importDialog(row),
      }, 'Import');
    }
    reasons += 1;
    const reason = (e.unsupported_reason || 'hfgate cannot serve this endpoint').replace(`${key} `, '');
    const id = `hf-why-${reasons}`;
    return [
      el('button', { type: 'button', class: 'btn small', disabled: true, title: e.unsupported_reason, 'aria-describedby': id }, 'Import'),
      el('span', { class: 'sub hf-why', id }, reason.charAt(0).toUpperCase() + reason.slice(1)),
    ];
  }

  // -- import all ------------------------------------------------------------------------------

  async function importAll() {
    const ask = 'Import every endpoint hfgate can serve that is not imported yet? Each goes through'
      + ' the same checks as one imported by hand; endpoints that are asleep are added as pending.';
    if (!(await confirmDialog({ title: 'Import all endpoints', body: ask, confirm: 'Import all', danger: false }))) return;
    const button = $('hf-import-all');
    button.disabled = true;
    try {
      const done = await api('/api/hf/endpoints/import-all', { method: 'POST' });
      epoch += 1;
      const n = (list) => list.length;
      const failed = done.failed.map((f) => `${f.endpoint}: ${f.message}`).join('; ');
      toast(`Imported ${n(done.imported)}, skipped ${n(done.skipped)}`
        + (n(done.failed) ? `, could not import ${n(done.failed)} (${failed})` : ''),
        n(done.failed) ? 'error' : 'info', n(done.failed) ? 9000 : 4000);
      kit.refreshIntegrations();
      await loadEndpoints({ refresh: true });
    } catch (err) {
      toast(err.message, 'error', 6000);
    } finally {
      button.disabled = false;
    }
  }

  // -- resume, pause, scale to zero ------------------------------------------------------------

  async function act(row, action) {
    const spec = ACTIONS[action];
    const before = row.item;
    if (!(await confirmDialog(spec.ask(before)))) return;
    row.refocus = action;
    row.busy = true;
    paint(row);
    try {
      const view = await api(`${pathOf(before)}/${action}`, { method: 'POST' });
      epoch += 1;
      // The answer has no price (it reads one record, not the price list): keep the one known.
      row.item = { ...before, ...view, price_per_hour: view.price_per_hour ?? before.price_per_hour };
      toast(`${keyOf(before)}: ${stateLabel(view.state).toLowerCase()}`);
      follow(WATCH_AFTER_ACTION_MS);
      if (view.model) kit.refreshIntegrations();
    } catch (err) {
      toast(err.message, 'error', 6000);
    } finally {
      row.busy = false;
      paint(row);
    }
  }

  // -- import ------------------------------------------------------------------------------------

  function importDialog(row) {
    const e = row.item;
    const key = keyOf(e);
    const controller = new AbortController();
    let running = false;
    let done = false;
    const field = (label, input, hint) => el('label', {}, label, input, hint ? el('span', { class: 'muted small hf-hint' }, hint) : null);
    const nameInput = el('input', { type: 'text', name: 'name', placeholder: e.repository, autocomplete: 'off', spellcheck: 'false' });
    const contextInput = el('input', {
      type: 'number', name: 'context_window', min: 1, step: 1, inputmode: 'numeric', value: e.context_window ?? '',
      required: e.context_window == null, placeholder: 'e.g. 4096',
    });
    const tokenInput = el('input', { type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false', placeholder: 'hf_…' });
    const wait = el('input', { type: 'checkbox', name: 'wait', checked: true });
    const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
    const panel = el('div', { class: 'checklist-panel hf-import-panel', 'aria-live': 'polite', hidden: true });
    const submit = el('button', { type: 'submit', class: 'btn primary' }, 'Import');
    const close = el('button', { type: 'button', class: 'btn' }, 'Cancel');
    const inputs = [nameInput, contextInput, tokenInput, wait];
    const titleId = `hf-import-title-${Date.now()}`;
    const form = el('form', { method: 'dialog', novalidate: true, autocomplete: 'off' },
      el('h2', { id: titleId }, `Import ${key}`),
      el('p', {}, `hfgate builds the credential from the endpoint's record (${e.repository || 'its model'}) and runs the same checks as a pasted one before anyone can use it.`),
      el('div', { class: 'hf-import-fields' },
        field('Name in hfgate (optional)', nameInput, 'The model id people pick in the chat; the repository by default.'),
        field('Context window (tokens)', contextInput, e.context_window == null
          ? "The endpoint's settings do not say it: give it."
          : "From the endpoint's settings.")),
      el('details', { class: 'hf-more' },
        el('summary', {}, 'Use another token to call the endpoint'),
        field('Inference token (optional)', tokenInput, "By default the account's token calls the endpoint too.")),
      el('label', { class: 'check-line' }, wait, el('span', {}, 'If the endpoint is scaled to zero, wait up to 2 minutes for it to wake')),
      error, panel,
      el('div', { class: 'dialog-actions' }, close, submit));
    const dialog = el('dialog', { class: 'dialog wide hf-import', 'aria-labelledby': titleId }, form);
    const setError = (message) => {
      error.textContent = message || '';
      error.hidden = !message;
    };

    close.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      if (running) controller.abort();
      dialog.remove();
      // Back to the row: its model link once imported, else the Import button.
      const node = rows.get(key)?.node;
      (node?.querySelector('.hf-model a, .hf-model button:not(:disabled)') || node?.querySelector('button:not(:disabled)'))?.focus();
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (done) {
        dialog.close();
        return;
      }
      if (running) return;
      const options = {};
      const name = nameInput.value.trim();
      if (name) options.name = name;
      const context = contextInput.value.trim();
      if (context) {
        const n = Number(context);
        if (!Number.isInteger(n) || n <= 0) {
          setError('The context window is a whole number of tokens, e.g. 4096.');
          contextInput.focus();
          return;
        }
        if (n !== e.context_window) options.context_window = n;
      } else if (e.context_window == null) {
        setError("Give the context window: the endpoint's settings do not say it.");
        contextInput.focus();
        return;
      }
      const token = tokenInput.value.trim();
      if (token) options.api_key = token;
      setError('');
      running = true;
      submit.disabled = true;
      for (const input of inputs) input.disabled = true;

      const list = kit.checklist();
      const extras = el('div');
      let header = kit.head('running', 'Checking the endpoint before importing it…');
      panel.hidden = false;
      panel.replaceChildren(header, list.node, extras);
      list.start();
      const setHead = (kind, message) => {
        const fresh = kit.head(kind, message);
        header.replaceWith(fresh);
        header = fresh;
      };
      const url = `${pathOf(e)}/import?wait=${wait.checked ? kit.waitSeconds : 0}`;
      const body = Object.keys(options).length ? JSON.stringify(options) : undefined;
      try {
        const result = await kit.streamChecks(url, { body, list, setHead, signal: controller.signal, failure: 'Not imported' });
        extras.replaceChildren(...[kit.notes(result.report)].filter(Boolean));
        const model = result.integration?.name;
        if (result.status === 201 || result.status === 202) {
          done = true;
          tokenInput.value = '';
          if (result.status === 201) {
            setHead('ok', `Imported ${model}: it passed every check and people can chat with it now.`);
            toast(`${model} is ready`);
          } else {
            setHead('pending', `Saved ${model} as pending: ${result.report.summary}. hfgate finishes the checks by itself once the endpoint runs.`);
          }
          submit.textContent = 'Done';
          close.hidden = true;
          epoch += 1;
          kit.refreshIntegrations();
          await loadEndpoints({ refresh: true });
        } else {
          setHead('fail', `Not imported: ${result.report.summary}`);
        }
      } catch (err) {
        if (err.name === 'AbortError') return;
        list.stop();
        setHead('fail', err.message);
      } finally {
        running = false;
        submit.disabled = false;
        for (const input of inputs) input.disabled = done;
        if (done && dialog.open) submit.focus();
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    (e.context_window == null ? contextInput : nameInput).focus();
  }

  // -- polling -----------------------------------------------------------------------------------

  function transitional() {
    return [...rows.values()].some((row) => TRANSITIONAL.has(row.item?.state));
  }

  function isWatching() {
    const now = Date.now();
    if (now < watchUntil) return true;
    if (!transitional()) {
      watchLimit = 0;
      return false;
    }
    if (!watchLimit) watchLimit = now + WATCH_LIMIT_MS; // already changing when first seen
    return now < watchLimit;
  }

  /** Read Hugging Face every few seconds for at least `ms`, and while a state is changing. */
  function follow(ms) {
    watchUntil = Date.now() + ms;
    watchLimit = Date.now() + WATCH_LIMIT_MS;
    schedule(WATCH_MS);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (!shown) return;
    timer = setTimeout(tick, ms ?? (isWatching() ? WATCH_MS : POLL_MS));
  }

  async function tick() {
    if (!document.hidden) await loadEndpoints({ refresh: isWatching() });
    schedule();
  }

  refreshButton.addEventListener('click', async () => {
    refreshButton.disabled = true;
    try {
      await Promise.all([loadAccounts(), loadEndpoints({ refresh: true })]);
    } finally {
      refreshButton.disabled = false;
    }
    schedule();
  });
  $('hf-import-all').addEventListener('click', importAll);

  return {
    async show() {
      if (shown) return;
      shown = true;
      if (!started) {
        started = true;
        await loadAccounts();
        await loadEndpoints();
      }
      schedule();
    },
    hide() {
      shown = false;
      clearTimeout(timer);
      timer = null;
    },
  };
}
