// The usage page.
import { initShell } from './lib/shell.js';

initShell();
