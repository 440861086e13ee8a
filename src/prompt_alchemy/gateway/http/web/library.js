// Library: semantic search with the API's filters and cursor pagination; the form lives in the
// URL (#/library?q=...) so a search can be bookmarked and Back works.
import { api } from "./api.js";
import { copyText, field, formatDate, formatNumber, h, replace, select } from "./dom.js";
import { PERSONAS, PHASES, phaseLabel, providerOptions } from "./options.js";

const FILTERS = ["q", "phase", "persona", "provider", "tags", "created_since"];

export function renderLibrary(view, { params, showError }) {
  const q = h("input", { type: "search", name: "q", value: params.get("q") || "", placeholder: "What the prompt is about" });
  const phase = select("phase", [["", "Any phase"], ...PHASES], params.get("phase") || "");
  const persona = select("persona", [["", "Any persona"], ...PERSONAS], params.get("persona") || "");
  const provider = select("provider", [["", "Any provider"]], "");
  const tags = h("input", { name: "tags", value: params.get("tags") || "", placeholder: "comma,separated" });
  const since = h("input", { type: "date", name: "created_since", value: params.get("created_since") || "" });
  const results = h("section", { class: "results", "aria-label": "Search results", "data-testid": "results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of results" });
  const cursors = [null];  // cursors[i]: the cursor of page i (null: the first page)
  let page = 0;

  const form = h("form", { class: "panel", role: "search", "aria-labelledby": "library-title" },
    h("h1", { id: "library-title" }, "Library"),
    field("Search", q),
    h("div", { class: "row" }, field("Phase", phase), field("Persona", persona), field("Provider", provider),
      field("Tags", tags), field("Created since", since)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Search")));

  // the first search waits for the provider list, so a provider named in the URL filters it too
  const providersListed = providerOptions(api).then((options) => {
    const chosen = params.get("provider") || "";
    replace(provider, [["", "Any provider"], ...options].map(([value, text]) =>
      h("option", { value, selected: value === chosen }, text)));
  });

  const query = () => {
    const values = { q: q.value.trim(), phase: phase.value, persona: persona.value, provider: provider.value,
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean), limit: 10 };
    if (since.value) values.created_since = new Date(`${since.value}T00:00:00`).toISOString();
    return values;
  };

  const load = async () => {
    replace(results, h("p", { class: "hint" }, "Searching…"));
    try {
      const reply = await api.get("/api/v1/prompts/search", { ...query(), cursor: cursors[page] });
      cursors[page + 1] = reply.next_cursor;
      replace(results, reply.hits.length ? reply.hits.map(hitCard)
        : h("p", { class: "hint", "data-testid": "no-results" }, "No prompt matches."));
      replace(pager,
        h("button", { type: "button", class: "quiet", disabled: page === 0, onclick: () => { page--; load(); } }, "Previous"),
        h("span", {}, `Page ${page + 1}`),
        h("button", { type: "button", class: "quiet", disabled: !reply.next_cursor, onclick: () => { page++; load(); } }, "Next"));
    } catch (error) {
      replace(results);
      replace(pager);
      showError(error);
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = query();
    const search = new URLSearchParams();
    for (const name of FILTERS) {
      const value = name === "tags" ? values.tags.join(",") : name === "created_since" ? since.value : values[name];
      if (value) search.set(name, value);
    }
    const hash = `#/library${search.toString() ? `?${search}` : ""}`;
    if (window.location.hash === hash) { cursors.length = 1; page = 0; load(); }
    else window.location.hash = hash;  // the router renders the page again with these values
  });

  replace(view, form, results, pager);
  providersListed.then(load, (error) => { replace(results); showError(error); });
}

function hitCard(hit) {
  const record = hit.record;
  const lineage = record.lineage || {};
  const copy = h("button", { type: "button", class: "quiet", "aria-label": `Copy prompt ${record.id}` }, "Copy");
  copy.addEventListener("click", () => copyText(record.content, copy));
  return h("article", { class: "card hit", "data-testid": "hit", "data-prompt-id": record.id },
    h("header", {},
      h("h2", {}, h("a", { href: `#/prompt/${encodeURIComponent(record.id)}` },
        record.input ? `For: ${record.input}` : record.id)),
      h("p", { class: "meta" }, [lineage.phase ? phaseLabel(lineage.phase) : null, lineage.persona, lineage.provider,
        formatDate(record.created_at), hit.similarity === null ? null : `similarity ${formatNumber(hit.similarity)}`]
        .filter(Boolean).join(" · "))),
    h("pre", { class: "text clamp" }, record.content),
    record.tags.length ? h("p", { class: "tags" }, record.tags.map((t) => h("span", { class: "tag" }, t))) : null,
    h("div", { class: "actions" }, copy));
}
