// The one-time link pages (first-run setup, invitations, resets) post a plain form; this only
// catches a mistyped repeat before the link is spent on a request, then shows it is working.
export function guardPasswordForm(prefix, busyText) {
  const form = document.getElementById(`${prefix}-form`);
  const error = document.getElementById(`${prefix}-error`);
  const submit = document.getElementById(`${prefix}-submit`);
  form?.addEventListener('submit', (event) => {
    if (form.password.value !== form.password_repeat.value) {
      event.preventDefault();
      error.textContent = 'The two passwords differ.';
      error.hidden = false;
      form.password_repeat.select();
      return;
    }
    submit.disabled = true;
    submit.textContent = busyText;
  });
}
