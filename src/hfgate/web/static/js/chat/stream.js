// Streaming an answer: the question goes to the chat route, the answer is painted as its
// tokens arrive (markdown, once a frame), and it ends complete, interrupted (stopped, or the
// connection dropped: what arrived is kept), failed, or refused before anything was stored.
import { ApiError, readJson, request } from '../lib/api.js';
import { renderMarkdown } from '../lib/markdown.js';
import { readEvents } from '../lib/sse.js';
import { fmtInt } from '../lib/ui.js';
import { refreshActions } from './actions.js';
import { restoreComposer, updateSendState } from './composer.js';
import { openConversation } from './conversations.js';
import { errorPanel, errorSentence } from './errors.js';
import { buildMessage, followToBottom, paintAnswer, removeMessage, scrollToBottom } from './messages.js';
import { updateMeter } from './meter.js';
import { renderEmpty, showNotice } from './notice.js';
import { loadModels } from './picker.js';
import { sampling } from './settings.js';
import { list, shell, state } from './state.js';
import { updateTopbar } from './topbar.js';
import { clearWaking, onWaiting, watchForSlowStart } from './waking.js';

/**
 * Ask for an answer: body is {content} (null: answer the last question again); question is the
 * question on the page, if any; previous, when regenerating, the versions the answer replaces.
 */
export async function streamAnswer(body, question, previous = null) {
  const modelId = state.model;
  const run = startRun(question, previous, modelId);
  watchForSlowStart(run, modelId);
  let response;
  try {
    response = await request(`/api/conversations/${encodeURIComponent(run.conversation.id)}/chat`, {
      method: 'POST', json: { ...body, model: modelId, ...sampling(run.conversation) }, signal: run.controller.signal, accept: 'text/event-stream',
    });
  } catch (err) {
    return finish(run, run.stopped ? 'interrupted' : 'error', run.stopped ? null : { code: 'network', message: err.message });
  }
  if (!response.ok) {
    // Refused before anything was stored: take the question back into the composer.
    const error = new ApiError(response.status, await readJson(response));
    return refuse(run, error, body);
  }
  await readAnswer(run, response);
  return finish(run, ...outcome(run));
}

function newAnswer(modelId, previous) {
  const answer = {
    id: null, role: 'assistant', content: '', model: modelId, status: 'streaming',
    error: null, prompt_tokens: null, completion_tokens: null,
  };
  if (previous) {
    // A new version of an answer: the earlier ones stay (a failed one is replaced).
    answer.versions = [...previous.filter((v) => v.status !== 'error'), answer];
    for (const version of answer.versions) version.versions = answer.versions;
  }
  return answer;
}

function startRun(question, previous, modelId) {
  const conversation = state.conversation;
  const answer = newAnswer(modelId, previous);
  conversation.messages.push(answer);
  list.append(buildMessage(answer));
  const run = {
    answer, question, controller: new AbortController(), conversation, stopped: false, gotToken: false,
    waking: null, timer: null, started: performance.now(), tokens: 0, promptCounted: null,
    regenerated: !!previous,
  };
  state.streaming = run;
  updateSendState();
  refreshActions();
  followToBottom();
  showNotice(null);
  return run;
}

async function readAnswer(run, response) {
  try {
    for await (const item of readEvents(response)) onEvent(run, item);
  } catch (err) {
    if (!run.stopped) run.answer.error = run.answer.error || { code: 'network', message: 'The connection dropped before the answer was complete.' };
  }
}

function onEvent(run, item) {
  if (item.comment) return;
  if (item.event === 'waiting') return onWaiting(run, JSON.parse(item.data));
  if (item.event === 'hfgate') return onStart(run, JSON.parse(item.data));
  // Read on to the end of the stream: the server stores the answer before it closes it,
  // so what the page shows next (regenerate, reload) matches what is stored.
  if (item.data === '[DONE]') return;
  let chunk;
  try { chunk = JSON.parse(item.data); } catch { return; }
  if (chunk.error) {
    run.answer.error = chunk.error;
    return;
  }
  if (chunk.usage) onUsage(run, chunk.usage);
  for (const choice of chunk.choices || []) {
    const delta = choice.delta?.content;
    if (delta) onToken(run, delta);
  }
}

/** [status, error] once the stream has ended. */
function outcome(run) {
  const error = run.answer.error;
  if (error && error.code !== 'network') return ['error', error];
  if (run.stopped) return ['interrupted'];
  if (error) return ['interrupted', error];
  return ['complete'];
}

function onStart(run, info) {
  run.answer.id = info.assistant_message_id;
  run.answer.node.dataset.id = info.assistant_message_id;
  if (run.question) {
    run.question.id = info.user_message_id;
    run.question.node.dataset.id = info.user_message_id;
  }
  if (info.model) run.answer.model = info.model;
  if (info.context_window) state.meter.window = info.context_window;
  if (info.prompt_tokens_counted) state.meter.used = run.promptCounted = info.prompt_tokens_counted;
  updateMeter();
  if (info.trimmed) {
    const n = info.trimmed;
    showNotice(`${n} older message${n === 1 ? ' was' : 's were'} left out so this conversation fits the model’s ${fmtInt(info.context_window)}-token context window.`, 'warn');
  }
  if (info.title && run.conversation.title !== info.title) {
    run.conversation.title = info.title;
    shell.upsert({ id: run.conversation.id, title: info.title, model: info.model, updated_at: new Date().toISOString() });
    updateTopbar();
  }
}

let paintPending = false;
function onToken(run, delta) {
  if (!run.gotToken) {
    run.gotToken = true;
    clearWaking(run);
  }
  run.answer.content += delta;
  run.tokens += 1; // one text event per token, as the server counts a cut-short answer
  if (paintPending) return;
  paintPending = true;
  requestAnimationFrame(() => {
    paintPending = false;
    renderMarkdown(run.answer.body, run.answer.content);
    scrollToBottom();
  });
}

function onUsage(run, usage) {
  run.answer.prompt_tokens = usage.prompt_tokens ?? null;
  run.answer.completion_tokens = usage.completion_tokens ?? null;
  state.meter.used = (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
  updateMeter();
}

function finish(run, status, error = null) {
  clearWaking(run);
  settle(run, status, error);
  if (state.streaming === run) state.streaming = null;
  updateSendState();
  refreshActions();
  scrollToBottom();
  shell.refresh();
  readBackIfUnkept(run, status);
  if (status === 'error') loadModels();
}

function settle(run, status, error) {
  const answer = run.answer;
  answer.status = status;
  answer.error = error;
  if (status !== 'complete') keepTokens(run);
  if (status === 'interrupted' && !answer.content && !answer.id) {
    // Stopped before the server had started the turn: nothing to show for it.
    removeMessage(answer);
  } else {
    paintAnswer(answer);
    if (status === 'interrupted' && error) answer.extra.replaceChildren(errorPanel(error));
  }
}

function readBackIfUnkept(run, status) {
  // A new version stopped before its first word is not kept: show the stored versions again.
  const answer = run.answer;
  const unkept = run.regenerated && !answer.content && status !== 'error';
  if ((unkept || !answer.id) && state.conversation === run.conversation) {
    // The ids never arrived (stopped very early): read back what the server stored.
    setTimeout(() => {
      if (!state.streaming && state.conversation === run.conversation) openConversation(run.conversation.id, { push: false });
    }, 600);
  }
}

// The engine's count never came (or came as the lifecycle's estimate): keep what is known,
// the same numbers the server stores for an answer cut short.
function keepTokens(run) {
  const answer = run.answer;
  answer.completion_tokens = Math.max(answer.completion_tokens || 0, run.tokens) || null;
  answer.prompt_tokens = answer.prompt_tokens || run.promptCounted;
}

function refuse(run, error, body) {
  clearWaking(run);
  removeMessage(run.answer);
  if (run.regenerated) {
    // Refused before anything was stored: the versions on the server are unchanged.
    if (state.streaming === run) state.streaming = null;
    const sentence = errorSentence(error);
    openConversation(run.conversation.id, { push: false })
      .then(() => showNotice(sentence, 'warn'));
    return;
  }
  if (run.question && body.content !== null) {
    removeMessage(run.question);
    restoreComposer(body.content);
  }
  if (state.streaming === run) state.streaming = null;
  showNotice(errorSentence(error), 'warn');
  updateSendState();
  refreshActions();
  renderEmpty();
}
