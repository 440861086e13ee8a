// Prompt: its content, versions, lineage as a tree, feedback aggregates; edit tags, optimise.
import { api } from "./api.js";
import { copyText, field, formatDate, formatNumber, h, replace } from "./dom.js";
import { phaseLabel } from "./options.js";

export function renderPrompt(view, { args, showError }) {
  const id = args[0];
  if (!id) {
    window.location.hash = "#/library";
    return;
  }
  replace(view, h("p", { class: "hint" }, "Loading…"));
  const path = `/api/v1/prompts/${encodeURIComponent(id)}`;
  Promise.all([api.get(path, { include_history: true }), api.get(`${path}/lineage`, { direction: "both" })])
    .then(([got, lineage]) => replace(view, page(got, lineage, showError)))
    .catch((error) => { replace(view); showError(error); });
}

function page({ record, history }, lineage, showError) {
  const copy = h("button", { type: "button", class: "quiet" }, "Copy");
  copy.addEventListener("click", () => copyText(record.content, copy));
  const l = record.lineage || {};
  return h("div", { class: "prompt-page" },
    h("section", { class: "panel", "aria-labelledby": "prompt-title" },
      h("h1", { id: "prompt-title" }, record.input ? `For: ${record.input}` : "Prompt"),
      h("p", { class: "meta" }, [`id ${record.id}`, `version ${record.version}`, l.phase ? phaseLabel(l.phase) : null,
        l.chain === null || l.chain === undefined ? null : `chain ${l.chain}`,
        l.provider && `${l.provider}/${l.model}`, l.persona, formatDate(record.created_at)].filter(Boolean).join(" · ")),
      h("pre", { class: "text", "data-testid": "prompt-content" }, record.content),
      h("div", { class: "actions" }, copy)),
    h("div", { class: "columns" },
      h("section", { class: "panel", "aria-labelledby": "feedback-title" },
        h("h2", { id: "feedback-title" }, "Feedback"),
        h("dl", { class: "scores", "data-testid": "aggregates" },
          h("dt", {}, "Ratings"), h("dd", {}, String(record.rating_count)),
          h("dt", {}, "Mean rating"), h("dd", {}, record.mean_rating === null ? "—" : formatNumber(record.mean_rating, 2)),
          h("dt", {}, "Uses"), h("dd", {}, String(record.usage_count)),
          h("dt", {}, "Relevance"), h("dd", {}, record.relevance_score === null ? "—" : formatNumber(record.relevance_score)))),
      tagsEditor(record, showError),
      optimizer(record, showError)),
    h("section", { class: "panel", "aria-labelledby": "lineage-title", "data-testid": "lineage" },
      h("h2", { id: "lineage-title" }, "Lineage"), lineageTree(record, lineage)),
    h("section", { class: "panel", "aria-labelledby": "versions-title" },
      h("h2", { id: "versions-title" }, "Versions"),
      history.length ? h("ol", { class: "versions" }, history.map((v) => h("li", {},
        h("details", {}, h("summary", {}, `Version ${v.version}, ${formatDate(v.updated_at)}`),
          h("pre", { class: "text" }, v.content)))))
        : h("p", { class: "hint" }, "Only this version.")));
}

function nodeLabel(record, current) {
  const l = record.lineage || {};
  const text = `${l.phase ? phaseLabel(l.phase) : record.source}${l.chain === null || l.chain === undefined ? "" : ` · chain ${l.chain}`}` +
    ` · ${record.content.slice(0, 60)}${record.content.length > 60 ? "…" : ""}`;
  return current
    ? h("strong", { "aria-current": "true" }, text)
    : h("a", { href: `#/prompt/${encodeURIComponent(record.id)}` }, text);
}

// Ancestors as a single path down to this prompt; descendants nested under their parents.
function lineageTree(record, lineage) {
  const children = new Map();
  for (const child of lineage.descendants) {
    const parent = child.lineage?.parent_id;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(child);
  }
  const below = (id, depth) => {
    const kids = children.get(id) || [];
    if (!kids.length || depth > 64) return null;
    return h("ul", {}, kids.map((kid) => h("li", { "data-testid": "descendant" }, nodeLabel(kid, false), below(kid.id, depth + 1))));
  };
  let tree = h("li", { "data-testid": "self" }, nodeLabel(record, true), below(record.id, 0));
  for (const ancestor of [...lineage.ancestors]) {  // nearest first
    tree = h("li", { "data-testid": "ancestor" }, nodeLabel(ancestor, false), h("ul", {}, tree));
  }
  if (!lineage.ancestors.length && !lineage.descendants.length) {
    return h("p", { class: "hint" }, "No parent and no descendants.");
  }
  return h("ul", { class: "tree" }, tree);
}

function tagsEditor(record, showError) {
  const input = h("input", { name: "tags", value: record.tags.join(", ") });
  const ack = h("p", { class: "ack", role: "status", "data-testid": "tags-ack" });
  const form = h("form", { class: "panel", "aria-labelledby": "tags-title" },
    h("h2", { id: "tags-title" }, "Tags"),
    field("Tags (comma-separated)", input),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save tags")), ack);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tags = input.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      const reply = await api.patch(`/api/v1/prompts/${encodeURIComponent(record.id)}`, { tags });
      input.value = reply.record.tags.join(", ");
      ack.textContent = "Tags saved.";
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

function optimizer(record, showError) {
  const button = h("button", { type: "button" }, "Optimize");
  const out = h("div", { class: "ack", role: "status", "data-testid": "optimized" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(out, "Optimizing…");
    try {
      const reply = await api.post("/api/v1/prompts/optimize", { prompt_id: record.id });
      replace(out,
        h("p", {}, `${reply.improved ? "Improved" : "Not improved"}: best score ${formatNumber(reply.best.score)} ` +
          `after ${reply.iterations.length} iteration(s).`),
        h("pre", { class: "text" }, reply.best.prompt),
        reply.stored_id ? h("a", { href: `#/prompt/${encodeURIComponent(reply.stored_id)}` }, "Open the optimized prompt") : null);
    } catch (error) {
      replace(out);
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "panel", "aria-labelledby": "optimize-title" },
    h("h2", { id: "optimize-title" }, "Optimize"),
    h("p", { class: "hint" }, "Judge, critique and rewrite this prompt; the result is saved as its child."), button, out);
}
