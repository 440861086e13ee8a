// The shell: hash routing between the four pages, the API-key panel and readable error notices.
import { apiKey, setApiKey } from "./api.js";
import { field, h, replace } from "./dom.js";
import { renderGenerate } from "./generate.js";
import { renderLibrary } from "./library.js";
import { renderPrompt } from "./prompt.js";
import { renderSystem } from "./system.js";

const PAGES = {
  generate: renderGenerate,
  library: renderLibrary,
  prompt: renderPrompt,
  system: renderSystem,
};

const view = document.getElementById("view");
const notice = document.getElementById("notice");
let cleanup = null;

function route() {
  const [path, query = ""] = window.location.hash.replace(/^#\/?/, "").split("?");
  const [page, ...rest] = path.split("/");
  return { page: PAGES[page] ? page : "generate", args: rest.map(decodeURIComponent), params: new URLSearchParams(query) };
}

// Shown in place of the page: with a refused key, no data of the page stays on screen.
function keyPanel(message) {
  const input = h("input", { type: "password", name: "api-key", autocomplete: "off", required: true,
    value: apiKey() });
  const form = h("form", { class: "panel key-panel", "aria-labelledby": "key-title" },
    h("h1", { id: "key-title" }, "API key"),
    message ? h("p", { class: "error", role: "alert", "data-testid": "auth-error" }, message) : null,
    h("p", {}, "This server asks for an API key. It is kept in this tab only (session storage) and sent as a bearer token."),
    field("API key", input),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Use this key"),
      h("button", { type: "button", class: "quiet", onclick: () => { setApiKey(""); input.value = ""; } }, "Forget key")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    show();
  });
  queueMicrotask(() => input.focus());
  return form;
}

export function showError(error) {
  if (error?.name === "AbortError") return;
  if (error?.unauthorized) {
    if (cleanup) cleanup();
    cleanup = null;
    replace(view, keyPanel(error.message));
    return;
  }
  replace(notice, h("div", { class: "notice" },
    h("span", { "data-testid": "error-message" }, error?.message || String(error)),
    h("button", { type: "button", class: "quiet", "aria-label": "Dismiss", onclick: () => replace(notice) }, "×")));
}

export function clearError() {
  replace(notice);
}

function show() {
  if (cleanup) cleanup();
  cleanup = null;
  clearError();
  const { page, args, params } = route();
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  replace(view);
  const result = PAGES[page](view, { args, params, showError, clearError });
  if (typeof result === "function") cleanup = result;
  // a page that focused its first control keeps it; otherwise the new page is where focus lands
  if (!view.contains(document.activeElement)) view.focus({ preventScroll: true });
}

document.getElementById("key-button").addEventListener("click", () => {
  if (cleanup) cleanup();
  cleanup = null;
  replace(view, keyPanel(""));
});
window.addEventListener("hashchange", show);
show();
