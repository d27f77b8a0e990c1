// The settings page.
import { initShell } from './lib/shell.js';

initShell();
