// The people page.
import { initShell } from './lib/shell.js';

initShell();
