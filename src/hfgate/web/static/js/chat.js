// The chat page: model picker, streamed markdown answers, stop, regenerate, edit and resend,
// answer versions, the context meter, cold-start progress, readable errors, and the
// conversation history. The parts live in chat/; this wires them together and starts the page.
import { send } from './chat/ask.js';
import { setActionHandlers } from './chat/actions.js';
import { initComposer } from './chat/composer.js';
import { conversationIdFromPath, initHistory, newChat, openConversation } from './chat/conversations.js';
import { regenerate, startEdit } from './chat/edit.js';
import { initScroll } from './chat/messages.js';
import { initPicker, loadModels, modelsReady } from './chat/picker.js';
import { keepTemperature } from './chat/settings.js';
import { setShell, state } from './chat/state.js';
import { initTopbar, onRenamed } from './chat/topbar.js';
import { versionPager } from './chat/versions.js';
import { initShell } from './lib/shell.js';

const MODEL_POLL_MS = 5000;

initPicker();
initScroll();
initTopbar();
initComposer({ onSend: send });
initHistory();
setActionHandlers({ edit: startEdit, regenerate, pager: versionPager });

setShell(initShell({
  onOpen: (id) => {
    if (state.conversation?.id !== id) openConversation(id);
  },
  onNew: () => newChat(),
  onDeleted: (id) => {
    keepTemperature(id, null);
    if (state.conversation?.id === id) newChat();
  },
  onRenamed,
}));

async function start() {
  const id = conversationIdFromPath();
  await modelsReady();
  if (id) await openConversation(id, { push: false });
  else newChat({ push: false });
  setInterval(() => {
    if (!document.hidden) loadModels();
  }, MODEL_POLL_MS);
}

start();
