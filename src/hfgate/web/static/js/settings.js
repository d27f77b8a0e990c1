// The settings page: each model's serving settings (context policy, capabilities, wake on open,
// hourly price) and the running server's facts (read-only).
import { api, ApiError } from './lib/api.js';
import { initShell } from './lib/shell.js';
import { el, toast } from './lib/ui.js';

const $ = (id) => document.getElementById(id);
const CAPABILITIES = { vision: 'Images', tools: 'Tools', json_schema: 'JSON schemas' };
// Default: the caller's key or header decides, strict when neither says.
const POLICIES = [['', 'Default'], ['trim', 'Trim old turns'], ['strict', 'Strict: refuse']];

initShell();

function select(id, label, options, value) {
  const node = el('select', { id, name: id },
    ...options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
  return el('label', { class: 'field' }, el('span', {}, label), node);
}

function capabilityField(item, name) {
  const override = item.capability_overrides?.[name];
  const detected = item.capabilities?.[name];
  const value = override === undefined ? '' : String(override);
  // With an override in place the detected value is not known here: say only "as detected".
  const auto = override === undefined ? `As detected (${detected ? 'on' : 'off'})` : 'As detected';
  return select(`cap-${item.id}-${name}`, CAPABILITIES[name], [['', auto], ['true', 'On'], ['false', 'Off']], value);
}

function card(item) {
  const price = el('input', {
    type: 'number', id: `price-${item.id}`, min: '0', step: '0.01', inputmode: 'decimal',
    placeholder: 'not set', value: item.price_per_hour ?? '',
  });
  const wake = el('input', { type: 'checkbox', id: `wake-${item.id}`, checked: !!item.wake_on_open });
  const save = el('button', { class: 'btn primary', type: 'submit' }, 'Save');
  const form = el('form', { class: 'card model-setting', 'data-model': item.name, 'aria-label': `Settings of ${item.name}` },
    el('h3', {}, item.name, el('span', { class: 'muted small' }, ` · ${item.engine || 'engine unknown'}`)),
    el('div', { class: 'model-setting-grid' },
      select(`policy-${item.id}`, 'Context policy', POLICIES, item.context_policy || ''),
      ...Object.keys(CAPABILITIES).map((name) => capabilityField(item, name)),
      el('label', { class: 'field' }, el('span', {}, 'Price per hour (USD)'), price)),
    el('div', { class: 'model-setting-foot' },
      el('label', { class: 'check-line' }, wake, 'Wake on open: opening a chat with this model starts its endpoint'),
      save));
  form.addEventListener('submit', (event) => { event.preventDefault(); saveModel(item, form, save); });
  return form;
}

function changes(item, form) {
  const capabilities = {};
  for (const name of Object.keys(CAPABILITIES)) {
    const value = form.elements[`cap-${item.id}-${name}`].value;
    if (value) capabilities[name] = value === 'true';
  }
  return {
    context_policy: form.elements[`policy-${item.id}`].value || null,
    capabilities,
    wake_on_open: form.elements[`wake-${item.id}`].checked,
  };
}

/** The price goes alone: a server without it (400) still saves the rest, and says so. */
async function savePrice(item, form) {
  const raw = form.elements[`price-${item.id}`].value.trim();
  const price = raw === '' ? null : Number(raw);
  if ((item.price_per_hour ?? null) === price) return null;
  try {
    await api(`/api/integrations/${item.id}`, { method: 'PATCH', json: { price_per_hour: price } });
    return null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 400 && err.param === 'price_per_hour' && /cannot change/.test(err.message)) {
      return 'this server does not take an hourly price yet';
    }
    throw err;
  }
}

async function saveModel(item, form, button) {
  button.disabled = true;
  try {
    await api(`/api/integrations/${item.id}`, { method: 'PATCH', json: changes(item, form) });
    const note = await savePrice(item, form);
    toast(note ? `Saved ${item.name}, but ${note}` : `Saved ${item.name}`, note ? 'error' : 'info');
    loadModels();
  } catch (err) {
    toast(err.message, 'error', 6000);
  } finally {
    button.disabled = false;
  }
}

async function loadModels() {
  const box = $('model-settings');
  try {
    const items = ((await api('/api/integrations')).data || []).filter((item) => item.state !== 'failed');
    box.replaceChildren(...items.map(card));
    $('models-empty').hidden = items.length > 0;
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    box.removeAttribute('aria-busy');
  }
}

const FACTS = [
  ['version', 'Version'],
  ['database', 'Database'],
  ['redis', 'Redis', (r) => (r.state === 'off' ? 'off' : `${r.state}: ${r.detail}`)],
  ['processes', 'Processes'],
  ['data_folder', 'Data folder'],
  ['encryption_keys', 'Token encryption'],
  ['cold_start_timeout_s', 'Cold-start wait', (s) => `${Math.round(s)} s`],
  ['max_body_bytes', 'Largest request', (b) => `${(b / 1048576).toFixed(0)} MiB`],
  ['allow_hosts', 'Allowed private hosts', (h) => (h.length ? h.join(', ') : 'none')],
  ['python', 'Python'],
];

async function loadFacts() {
  const box = $('server-facts');
  try {
    const facts = await api('/api/settings');
    box.replaceChildren(...FACTS.map(([key, label, show]) =>
      el('div', { 'data-fact': key }, el('dt', {}, label), el('dd', {}, show ? show(facts[key]) : String(facts[key])))));
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    box.removeAttribute('aria-busy');
  }
}

loadModels();
loadFacts();
