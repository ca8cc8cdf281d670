// Talking to the Chiffon server: the REST API (with the access token when the server asks for
// one) and the live event stream over a WebSocket, reconnecting by itself.

const TOKEN_KEY = "chiffon.token";

/** An error answer from the API: `{"error": {"code", "message"}}` plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// One question at a time: every call that meets a 401 while the dialog is open waits for the
// same answer instead of opening its own.
let asking = null;

function askForToken(rejected) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  const error = document.getElementById("token-error");
  error.hidden = !rejected;
  error.textContent = rejected ? "That token was not accepted. Check it and try again." : "";
  input.value = "";
  asking = new Promise((resolve) => {
    const done = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      dialog.close();
      document.getElementById("token-form").removeEventListener("submit", done);
      asking = null;
      resolve(value);
      live.restart();
    };
    document.getElementById("token-form").addEventListener("submit", done);
    // Escape would leave the page without a token; keep asking.
    dialog.addEventListener("cancel", (event) => event.preventDefault(), { once: true });
  });
  dialog.showModal();
  input.focus();
  return asking;
}

/**
 * Calls the API. `path` is under /api/v1. Resolves with the parsed JSON body; rejects with an
 * ApiError for an error answer, or an Error when the server cannot be reached.
 */
export async function api(path, { method = "GET", body } = {}) {
  for (;;) {
    const headers = { Accept: "application/json" };
    // State changes are JSON only, even without a body: the server refuses any other type, so
    // a cross-site form or "simple" request cannot approve anything.
    if (body !== undefined || method !== "GET") headers["Content-Type"] = "application/json";
    const saved = token();
    if (saved) headers.Authorization = `Bearer ${saved}`;
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw new Error(`Chiffon's server did not answer (${cause.message}). Is \`chiffon serve\` running?`);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (response.status === 401) {
      if (saved) sessionStorage.removeItem(TOKEN_KEY);
      await askForToken(Boolean(saved));
      continue;
    }
    if (!response.ok) {
      const error = json && json.error ? json.error : { code: `http_${response.status}`, message: text || response.statusText };
      throw new ApiError(response.status, error.code, error.message);
    }
    return json;
  }
}

/** True when the server does not have this route yet (an older Chiffon). */
export function isUnknownRoute(error) {
  return error instanceof ApiError && error.status === 404 && error.code === "unknown_route";
}

// ---- live events --------------------------------------------------------------------------

/**
 * The live event stream: one WebSocket for the page. Listeners get every event; `onReconnect`
 * listeners are told when events may have been missed (a reconnect, or the server's `lagged`),
 * so they re-read what they show over REST.
 */
class Live {
  constructor() {
    this.listeners = new Set();
    this.reconnectListeners = new Set();
    this.socket = null;
    this.retry = 500;
    this.everConnected = false;
    this.statusEl = null;
  }

  start() {
    this.statusEl = document.getElementById("live-state");
    this.connect();
  }

  restart() {
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
    this.connect();
  }

  setState(state, text) {
    if (!this.statusEl) return;
    this.statusEl.dataset.state = state;
    this.statusEl.textContent = text;
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const saved = token();
    const query = saved ? `?access_token=${encodeURIComponent(saved)}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws${query}`);
    this.socket = socket;
    this.setState("connecting", "Connecting…");
    socket.onopen = () => {
      this.retry = 500;
      this.setState("live", "Live");
      if (this.everConnected) this.reconnectListeners.forEach((f) => f());
      this.everConnected = true;
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === "lagged") {
        this.reconnectListeners.forEach((f) => f());
        return;
      }
      this.listeners.forEach((f) => f(event));
    };
    socket.onclose = () => {
      this.setState("offline", "Reconnecting…");
      // A refused upgrade (401) looks like a close: check the token with a plain call.
      if (!this.everConnected) api("/status").catch(() => {});
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onReconnect(listener) {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  get connected() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }
}

export const live = new Live();
