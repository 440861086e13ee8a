// The only door to the server: the public /api/v1 (and /health), with the bearer key the user
// typed (kept in sessionStorage: gone when the tab closes, never in a URL or localStorage).

const KEY_STORAGE = "prompt-alchemy.api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// An answer that was not a success, with the server's ErrorBody when it sent one.
export class ApiError extends Error {
  constructor(status, body) {
    super(readableMessage(status, body));
    this.status = status;
    this.body = body;
  }

  get unauthorized() {
    return this.status === 401;
  }
}

// The server's own message (it names the problem: the field, the provider, the limit), as a
// sentence; what only the status can say is added for the statuses a user can act on.
function readableMessage(status, body) {
  if (status === 0) return `The server could not be reached (${body?.message || "network error"}).`;
  const fields = (body?.details?.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
  const message = body?.message || fields || `the server answered ${status}`;
  if (status === 401) return `The server refused the request: ${message}. Enter a valid API key.`;
  const sentence = message[0].toUpperCase() + message.slice(1);
  if (status === 429) return `${sentence}.${body?.details?.retry_after ? ` Try again in ${Math.ceil(body.details.retry_after)} s.` : ""}`;
  return sentence;
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { message: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

async function send(method, path, { query, body, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
  }
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: error.message });
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

export const api = {
  get: (path, query, signal) => send("GET", path, { query, signal }),
  post: (path, body) => send("POST", path, { body }),
  patch: (path, body) => send("PATCH", path, { body }),

  // /health answers 503 with the same report when a service is missing: that is data, not a failure.
  async health() {
    const response = await fetch("/health", { headers: headers() });
    if (response.ok || response.status === 503) return response.json();
    throw await errorFrom(response);
  },

  // POST /api/v1/prompts/generate as server-sent events. ``on(event, data)`` gets every event
  // (progress, token, result, error) as it arrives; resolves when the stream ends.
  async generateStream(body, on, signal) {
    let response;
    try {
      response = await fetch("/api/v1/prompts/generate", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, { message: error.message });
    }
    if (!response.ok) throw await errorFrom(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseFrame(frame);
        if (event) on(event.name, event.data);
      }
    }
  },
};

function parseFrame(frame) {
  let name = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}
