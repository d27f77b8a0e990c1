// The one-time link page (an invitation or a password reset): a plain form post; this only
// catches a mistyped repeat before the link is spent on a request.
const form = document.getElementById('invite-form');
const error = document.getElementById('invite-error');
const submit = document.getElementById('invite-submit');

form?.addEventListener('submit', (event) => {
  if (form.password.value !== form.password_repeat.value) {
    event.preventDefault();
    error.textContent = 'The two passwords differ.';
    error.hidden = false;
    form.password_repeat.select();
    return;
  }
  submit.disabled = true;
  submit.textContent = 'Signing in…';
});
