// The sign-in page.
import { readJson } from './lib/api.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

function safeNext(value) {
  return value && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : '/chat';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    error.textContent = 'Enter your email and password.';
    error.hidden = false;
    return;
  }
  submit.disabled = true;
  submit.textContent = 'Signing in…';
  error.hidden = true;
  try {
    const response = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password }),
      credentials: 'same-origin',
    });
    if (response.ok) {
      location.assign(safeNext(form.dataset.next));
      return;
    }
    const body = await readJson(response);
    error.textContent = response.status === 401
      ? 'Wrong email or password.'
      : body?.error?.message || `Sign-in failed (HTTP ${response.status}).`;
  } catch {
    error.textContent = 'Could not reach hfgate. Check your connection and try again.';
  }
  error.hidden = false;
  submit.disabled = false;
  submit.textContent = 'Sign in';
  form.password.select();
});
