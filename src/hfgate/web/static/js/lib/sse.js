// Server-sent events over fetch() (EventSource cannot POST): yields
// {event, data} for events and {comment} for ":" lines, which carry the cold-start progress.

function parse(block) {
  let event = 'message';
  const data = [];
  const comments = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) comments.push(line.slice(1).trim());
    else if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length) return { event, data: data.join('\n') };
  if (comments.length) return { comment: comments.join('\n') };
  return null;
}

export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const item = parse(block);
        if (item) yield item;
      }
    }
    const tail = parse(buffer.trim());
    if (tail) yield tail;
  } finally {
    try { reader.releaseLock(); } catch { /* the stream was cancelled */ }
  }
}
