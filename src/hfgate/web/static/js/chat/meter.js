// The context meter: tokens used by the conversation so far, out of the model's window.
import { fmtInt } from '../lib/ui.js';
import { $, model, state } from './state.js';

export function updateMeter() {
  const window = state.meter.window || model(state.model)?.context_window || null;
  const used = state.meter.used;
  const text = $('meter-text');
  const meter = $('meter');
  text.textContent = window
    ? `${used === null ? '—' : fmtInt(used)} / ${fmtInt(window)} tokens`
    : `${used === null ? '—' : fmtInt(used)} tokens`;
  const ratio = window && used !== null ? Math.min(1, used / window) : 0;
  $('meter-fill').style.width = `${(ratio * 100).toFixed(1)}%`;
  meter.classList.toggle('high', ratio >= 0.75 && ratio < 0.95);
  meter.classList.toggle('full', ratio >= 0.95);
}

export function meterFromHistory(messages) {
  const last = [...messages].reverse().find((m) => m.role === 'assistant' && m.prompt_tokens !== null);
  state.meter.used = last ? (last.prompt_tokens || 0) + (last.completion_tokens || 0) : null;
  state.meter.window = null;
  updateMeter();
}
