// Errors people can act on: what happened, and who can fix it (an admin gets the way there).
import { icon } from '../lib/icons.js';
import { el } from '../lib/ui.js';
import { IS_ADMIN } from './state.js';

const ERRORS = {
  context_length_exceeded: {
    title: 'This conversation no longer fits the model’s context window',
    fix: 'Start a new chat, or shorten your message.',
  },
  endpoint_paused: {
    title: 'The endpoint is paused',
    fix: 'It will not wake by itself. An admin resumes it on the endpoint’s Hugging Face page.',
  },
  upstream_auth_failed: {
    title: 'The endpoint rejected hfgate’s credential',
    fix: IS_ADMIN
      ? 'Update the endpoint’s token on the Integrations page (Rotate key).'
      : 'Ask an admin to update the endpoint’s token.',
    link: IS_ADMIN ? '/integrations' : null,
  },
  endpoint_cold_start_timeout: {
    title: 'The endpoint did not wake up in time',
    fix: 'It may still be starting: try again in a minute. If it keeps failing, an admin can check the endpoint.',
  },
  endpoint_cold_start: {
    title: 'The endpoint is still starting',
    fix: 'Try again in a minute.',
  },
  upstream_overloaded: { title: 'The endpoint is busy', fix: 'Try again in a few seconds.' },
  rate_limit_exceeded: { title: 'You have hit your rate limit', fix: 'Wait a moment, then try again.' },
  upstream_unreachable: {
    title: 'hfgate could not reach the endpoint',
    fix: IS_ADMIN ? 'Check the endpoint on the Models and Integrations pages.' : 'Ask an admin to check the endpoint.',
  },
  model_not_found: { title: 'This model is no longer available', fix: 'Pick another model at the top of the page.' },
  model_not_allowed: { title: 'You may not use this model', fix: 'Pick another model, or ask an admin for access.' },
  network: { title: 'The connection was lost', fix: 'The partial answer was kept. Check your connection and regenerate.' },
};

export function describeError(error) {
  const code = error?.code || null;
  const known = ERRORS[code] || { title: 'The answer failed', fix: 'Try again; if it keeps failing, tell an admin.' };
  return { ...known, message: error?.message || '' };
}

/** The one-line form, for the notice above the composer. */
export function errorSentence(error) {
  const info = describeError(error);
  return `${info.title}: ${error.message} ${info.fix}`;
}

export function errorPanel(error) {
  const info = describeError(error);
  const fix = el('p', { class: 'fixer' }, info.fix);
  if (info.link) fix.append(' ', el('a', { href: info.link }, 'Open Integrations →'));
  return el('div', { class: 'msg-error', role: 'alert' },
    el('span', { 'data-icon': 'alert' }, icon('alert')),
    el('div', {},
      el('strong', {}, info.title),
      info.message && info.message !== info.title ? el('p', {}, info.message) : null,
      fix));
}
