// Model and endpoint statuses: one label and one plain-language hint each.
import { el } from './ui.js';

export const STATUS = {
  ready: { label: 'Ready', hint: 'Answering requests.' },
  idle: { label: 'Idle', hint: 'No recent traffic: it may have scaled to zero, so the next message may need to wake it.' },
  scaled_to_zero: { label: 'Scaled to zero', hint: 'Asleep to save cost: the first message wakes it, which takes a minute or two.' },
  waking: { label: 'Waking', hint: 'Starting up: answers follow as soon as it runs.' },
  initializing: { label: 'Initializing', hint: 'A replica is starting (the engine is loading the model): answers follow as soon as it runs.' },
  paused: { label: 'Paused', hint: 'Paused on Hugging Face: it will not wake by itself. An admin resumes it (Integrations → Hugging Face, or on its endpoint page).' },
  unreachable: { label: 'Unreachable', hint: 'hfgate cannot reach the endpoint right now.' },
  auth_failed: { label: 'Auth failed', hint: "The endpoint rejected hfgate's token: an admin must update it on the Integrations page." },
  pending: { label: 'Pending', hint: 'Added while the endpoint was asleep: validation finishes when it runs.' },
  failed: { label: 'Failed', hint: 'The last check failed.' },
  deleted: { label: 'Deleted', hint: 'Its endpoint was deleted on Hugging Face: remove it here, or import it again.' },
};

export function statusLabel(status) {
  return (STATUS[status] || { label: status || 'Unknown' }).label;
}

export function badge(status) {
  return el('span', { class: `badge ${status || ''}`, 'data-status': status || '' }, statusLabel(status));
}

// ``flavour`` names the server behind the "openai" engine (vllm, sglang) when it is known.
export function engineLabel(engine, version, flavour = null) {
  const names = { tgi: 'TGI', vllm: 'vLLM', sglang: 'SGLang', tei: 'TEI', llamacpp: 'llama.cpp', openai: 'OpenAI-compatible' };
  const name = names[flavour] || names[engine] || engine || '—';
  return version ? `${name} ${version}` : name;
}
