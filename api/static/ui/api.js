// The /v1 API as the viewer uses it: the key in session storage, sent as a Bearer token
// (never in a URL), problem+json errors as ApiError, downloads and Server-Sent Events
// through fetch() so that the Authorization header goes with them too.

const KEY_NAME = 'audit-trail.api-key';

export const session = {
  get key() {
    return sessionStorage.getItem(KEY_NAME);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_NAME, value);
    else sessionStorage.removeItem(KEY_NAME);
  },
};

/** An HTTP error answered by the API, with its problem details. */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = Number(headers?.get('Retry-After')) || null;
  }
}

export function url(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function headers(extra) {
  const result = new Headers(extra);
  const key = session.key;
  if (key) result.set('Authorization', `Bearer ${key}`);
  return result;
}

/** fetch() with the key; resolves to the Response, rejects with ApiError on 4xx/5xx. */
export async function request(path, params, { signal, headers: extra } = {}) {
  const response = await fetch(url(path, params), {
    headers: headers(extra),
    signal,
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
  });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    throw new ApiError(response.status, problem, response.headers);
  }
  return response;
}

/** A GET read whole; a dropped connection or a cut-off body is tried once more. */
async function read(path, params, options, as) {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await request(path, params, options);
      return await (as === 'json' ? response.json() : response.text());
    } catch (error) {
      const transient = error instanceof TypeError || error instanceof SyntaxError;
      if (!transient || attempt >= 2 || options?.signal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export function getJSON(path, params, options) {
  return read(path, params, options, 'json');
}

export function getText(path, params, options) {
  return read(path, params, options, 'text');
}

/** Save a response as a file (the Bearer header cannot ride on a plain link). */
export async function download(href, filename) {
  const response = await request(href);
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/**
 * Read a text/event-stream with fetch() (EventSource cannot send an Authorization header).
 * Yields {id, event, data} per message and {comment} per comment line, as the HTML
 * standard's parsing rules say: lines end in CR, LF or CRLF; a blank line dispatches.
 */
export async function* eventStream(path, params, { signal } = {}) {
  const response = await request(path, params, {
    signal,
    headers: { Accept: 'text/event-stream' },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let message = { id: null, event: 'message', data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let text = buffer + value;
      // a CR at the very end may be the first half of a CRLF: keep it for the next chunk
      const held = text.endsWith('\r') ? '\r' : '';
      if (held) text = text.slice(0, -1);
      const lines = text.split(/\r\n|\r|\n/);
      buffer = lines.pop() + held; // the last piece is a partial line
      for (const line of lines) {
        if (line === '') {
          if (message.data.length) {
            yield { id: message.id, event: message.event, data: message.data.join('\n') };
          }
          message = { id: message.id, event: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) {
          yield { comment: line.slice(1).trim() };
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'data') message.data.push(text);
        else if (field === 'id' && !text.includes('\0')) message.id = text;
        else if (field === 'event') message.event = text;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
