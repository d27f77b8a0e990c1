// The waking panel: while no answer has come, an answer shows how long it has been waiting,
// and why (an endpoint scaled to zero is starting; or it may be). The server's own count
// follows every 5 s; the panel counts the seconds in between.
import { el } from '../lib/ui.js';
import { loadModels } from './picker.js';
import { model, state } from './state.js';

const SLOW_START_MS = 3000; // no first token by then: show the waiting state

const WAKING_HINTS = {
  waking: 'The endpoint was scaled to zero and is starting up, which usually takes a minute or two. Your answer follows as soon as it runs.',
  waiting: 'No answer yet. If the endpoint was scaled to zero it is waking up, which usually takes a minute or two; your answer follows as soon as it runs.',
};

/**
 * A model known to be asleep: say so at once. Any answer slower than a few seconds gets the
 * same progress. An idle one may be asleep: the progress shows as early, but as "waiting"
 * until the server says it is waking (it may as well answer at once).
 */
export function watchForSlowStart(run, modelId) {
  const known = model(modelId);
  const asleep = known && ['scaled_to_zero', 'waking', 'initializing'].includes(known.status);
  const maybeAsleep = asleep || known?.status === 'idle';
  setTimeout(() => {
    if (state.streaming === run && !run.gotToken && !run.waking) {
      showWaking(run, (performance.now() - run.started) / 1000, asleep ? 'waking' : 'waiting');
    }
  }, maybeAsleep ? 800 : SLOW_START_MS);
}

// The server says the endpoint is not answering yet: {reason: 'waking' | 'waiting', elapsed}.
export function onWaiting(run, info) {
  if (!run.gotToken) showWaking(run, Number(info.elapsed) || 0, info.reason === 'waking' ? 'waking' : 'waiting');
}

function showWaking(run, seconds, kind) {
  if (!run.waking) {
    const label = el('strong', { class: 'waking-time' });
    const hint = el('p');
    const node = el('div', { class: 'waking-panel', role: 'status' }, el('span', { class: 'spinner' }), el('div', {}, label, hint));
    run.waking = { node, label, hint, kind };
    run.answer.body.replaceChildren(node);
    run.timer = setInterval(() => paintWaking(run), 1000);
  }
  // Once the endpoint is known to be waking, it stays "waking" until the answer comes.
  if (run.waking.kind !== 'waking') run.waking.kind = kind;
  run.waking.hint.textContent = WAKING_HINTS[run.waking.kind];
  run.waking.base = seconds;
  run.waking.at = performance.now();
  paintWaking(run);
}

function paintWaking(run) {
  if (!run.waking) return;
  const seconds = Math.round(run.waking.base + (performance.now() - run.waking.at) / 1000);
  const what = run.waking.kind === 'waking' ? 'Waking the endpoint' : 'Waiting for the endpoint';
  run.waking.label.textContent = `${what}… ${seconds} s`;
}

/** The answer came (or ended): the panel goes, and the models' states are read again. */
export function clearWaking(run) {
  if (run.timer) clearInterval(run.timer);
  run.timer = null;
  if (run.waking) {
    run.waking.node.remove();
    run.waking = null;
    loadModels();
  }
}
