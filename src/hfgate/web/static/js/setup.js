// The first-run setup page: a plain form post; this only catches a mistyped repeat early.
const form = document.getElementById('setup-form');
const error = document.getElementById('setup-error');
const submit = document.getElementById('setup-submit');

form?.addEventListener('submit', (event) => {
  if (form.password.value !== form.password_repeat.value) {
    event.preventDefault();
    error.textContent = 'The two passwords differ.';
    error.hidden = false;
    form.password_repeat.select();
    return;
  }
  submit.disabled = true;
  submit.textContent = 'Setting up…';
});
