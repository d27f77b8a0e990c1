// The audit page.
import { initShell } from './lib/shell.js';

initShell();
