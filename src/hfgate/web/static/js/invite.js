// The one-time link page: an invitation or a password reset.
import { guardPasswordForm } from './lib/password_form.js';

guardPasswordForm('invite', 'Signing in…');
