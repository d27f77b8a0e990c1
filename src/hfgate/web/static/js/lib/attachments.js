// Images attached to a question, for models that take images: read in the browser as data
// URLs (nothing is uploaded before the question is sent), shown as thumbnails, and sent with
// the text as OpenAI content parts.
import { el, iconButton, toast } from './ui.js';

export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
export const MAX_IMAGES = 4;
// What the server takes (conversations/parts.py): the formats every vision model reads.
const TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The image URLs among OpenAI content parts. */
export function imagesOf(parts) {
  return (parts || []).filter((p) => p.type === 'image_url').map((p) => p.image_url.url);
}

/** The text of a question's content: a string, or the text parts of a list. */
export function textOf(content) {
  if (typeof content === 'string') return content;
  return (content || []).filter((p) => p.type === 'text').map((p) => p.text).join('\n\n');
}

/** Content for the chat route: the text alone, or parts when images go with it. */
export function contentWith(text, urls) {
  if (!urls.length) return text;
  const parts = text.trim() ? [{ type: 'text', text }] : [];
  return [...parts, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))];
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function megabytes(bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export class Attachments {
  constructor({ button, input, tray, onChange }) {
    Object.assign(this, { button, input, tray, onChange, items: [] });
    button.addEventListener('click', () => input.click());
    input.addEventListener('change', async () => {
      const files = [...input.files];
      input.value = ''; // the same file can be chosen again after its removal
      await this.add(files);
      button.focus();
    });
  }

  get urls() {
    return this.items.map((item) => item.url);
  }

  /** Take image files (chosen or pasted); each refusal says why, in a toast. */
  async add(files) {
    for (const file of files) {
      if (this.items.length >= MAX_IMAGES) {
        toast(`A message takes at most ${MAX_IMAGES} images.`, 'error');
        break;
      }
      if (!TYPES.has(file.type)) {
        toast(`“${file.name}” is not a PNG, JPEG, GIF or WebP image.`, 'error');
      } else if (file.size > MAX_IMAGE_BYTES) {
        toast(`“${file.name}” is ${megabytes(file.size)}: an image can be at most ${megabytes(MAX_IMAGE_BYTES)}.`, 'error');
      } else {
        this.items.push({ name: file.name || 'pasted image', url: await readAsDataUrl(file) });
        this.render();
      }
    }
  }

  set(urls) {
    this.items = urls.map((url, index) => ({ name: `image ${index + 1}`, url }));
    this.render();
  }

  render() {
    this.tray.hidden = !this.items.length;
    this.tray.replaceChildren(...this.items.map((item) => {
      const remove = iconButton('close', `Remove ${item.name}`);
      remove.addEventListener('click', () => {
        this.items = this.items.filter((other) => other !== item);
        this.render();
        this.button.focus();
      });
      return el('div', { class: 'attachment' }, el('img', { src: item.url, alt: item.name }), remove);
    }));
    this.onChange();
  }
}
