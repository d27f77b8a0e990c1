// Pages with nothing but the shell (e.g. "admins only").
import { initShell } from './lib/shell.js';

initShell();
