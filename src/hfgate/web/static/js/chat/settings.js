// Per-conversation settings: the system prompt (stored as the conversation's first message)
// and the temperature (kept in this browser, per conversation, and sent with each question).
// A chat not created yet keeps its settings in state.pending.
import { state } from './state.js';

const TEMPERATURE_KEY = 'hfgate.temperature.';

export function systemOf(conversation) {
  const first = conversation?.messages?.[0];
  return first?.role === 'system' ? first.content : '';
}

export function temperatureOf(conversation) {
  if (!conversation) return state.pending.temperature;
  const kept = localStorage.getItem(TEMPERATURE_KEY + conversation.id);
  return kept === null ? null : Number(kept);
}

export function keepTemperature(id, temperature) {
  if (temperature === null) localStorage.removeItem(TEMPERATURE_KEY + id);
  else localStorage.setItem(TEMPERATURE_KEY + id, String(temperature));
}

export function currentSettings() {
  const conversation = state.conversation;
  return conversation
    ? { system: systemOf(conversation), temperature: temperatureOf(conversation) }
    : { ...state.pending };
}

// What a question is sent with, besides its text.
export function sampling(conversation) {
  const temperature = temperatureOf(conversation);
  return temperature === null ? {} : { temperature };
}
