// The first-run setup page.
import { guardPasswordForm } from './lib/password_form.js';

guardPasswordForm('setup', 'Setting up…');
