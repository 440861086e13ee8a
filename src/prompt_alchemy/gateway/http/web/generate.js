// Generate: the form, each phase's candidates filling in live (token events as they stream, else
// the candidate progress events), then the comparison with choose and rate (feedback).
import { ApiError, api } from "./api.js";
import { diffView } from "./diff.js";
import { field, formatNumber, h, replace, select } from "./dom.js";
import { PERSONAS, PHASES, phaseLabel, providerOptions } from "./options.js";

const SESSION_STORAGE = "prompt-alchemy.session";

function sessionId() {
  let id = sessionStorage.getItem(SESSION_STORAGE);
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    sessionStorage.setItem(SESSION_STORAGE, id);
  }
  return id;
}

export function renderGenerate(view, { showError, clearError }) {
  const idea = h("textarea", { name: "input", rows: 4, required: true, maxlength: 20000,
    placeholder: "A rough idea, e.g. a code reviewer that explains its reasoning" });
  const persona = select("persona", PERSONAS, "generic");
  const target = h("input", { name: "target_model", placeholder: "e.g. claude-sonnet-4, gpt-4o" });
  const phaseBoxes = PHASES.map(([value, text]) => h("input", { type: "checkbox", name: "phases", value, checked: true,
    "aria-label": text }));
  const count = h("input", { type: "number", name: "count", min: 1, max: 10, value: "3", required: true });
  const provider = select("provider", [["", "Server default"]], "");
  const judge = h("input", { type: "checkbox", name: "judge" });
  const submit = h("button", { type: "submit" }, "Generate");
  const cancel = h("button", { type: "button", class: "quiet", disabled: true }, "Cancel");
  const status = h("p", { class: "status", "data-testid": "status", role: "status" }, "");
  const live = h("section", { class: "live", "aria-label": "Live output", "data-testid": "live" });
  const result = h("section", { class: "result", "aria-label": "Result" });
  let controller = null;

  const form = h("form", { class: "panel generate-form", "aria-labelledby": "generate-title" },
    h("h1", { id: "generate-title" }, "Generate prompts"),
    field("Idea", idea),
    h("div", { class: "row" },
      field("Persona", persona),
      field("Target model", target),
      field("Candidates per phase", count),
      field("Provider", provider)),
    h("fieldset", { class: "phases" }, h("legend", {}, "Phases"),
      PHASES.map(([, text], index) => h("label", { class: "check" }, phaseBoxes[index], text))),
    h("label", { class: "check" }, judge, "Ask an LLM judge to score the candidates"),
    h("div", { class: "actions" }, submit, cancel));

  providerOptions(api).then((options) => {
    replace(provider, [["", "Server default"], ...options].map(([value, text]) => h("option", { value }, text)));
  }).catch(showError);

  cancel.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const phases = phaseBoxes.filter((box) => box.checked).map((box) => box.value);
    if (!phases.length) {
      showError(new Error("Choose at least one phase."));
      return;
    }
    const body = { input: idea.value.trim(), phases, count: Number(count.value), persona: persona.value,
      judge: judge.checked };
    if (target.value.trim()) body.target_model = target.value.trim();
    if (provider.value) body.provider = provider.value;
    clearError();
    replace(result);
    const board = new LiveBoard(live, status);
    controller = new AbortController();
    submit.disabled = true;
    cancel.disabled = false;
    try {
      await api.generateStream(body, (name, data) => {
        if (name === "progress") board.progress(data);
        else if (name === "token") board.token(data);
        else if (name === "result") {
          board.done(data);
          replace(result, comparison(data, showError));
        } else if (name === "error") {
          const error = new ApiError(data.code || 500, data);
          board.failed(error);
          showError(error);
        }
      }, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") status.textContent = "Cancelled.";
      else { board.failed({ message: error.message }); showError(error); }
    } finally {
      submit.disabled = false;
      cancel.disabled = true;
      controller = null;
    }
  });

  replace(view, form, status, live, result);
  idea.focus();
  return () => controller?.abort();
}

// The live view: one column per phase, one card per chain, text appended as it streams.
class LiveBoard {
  constructor(container, status) {
    this.container = container;
    this.status = status;
    this.phases = new Map();
    this.cards = new Map();
    this.attempt = 1;
    replace(container, h("h2", {}, "Live"));
    status.textContent = "Starting…";
  }

  phase(phase) {
    let column = this.phases.get(phase);
    if (!column) {
      column = h("div", { class: "cards" });
      this.container.append(h("section", { class: "phase", "data-phase": phase },
        h("h3", {}, phaseLabel(phase)), column));
      this.phases.set(phase, column);
    }
    return column;
  }

  card(phase, chain) {
    const key = `${phase}/${chain}`;
    let card = this.cards.get(key);
    if (!card) {
      const text = h("pre", { class: "text" });
      const meta = h("p", { class: "meta" }, `chain ${chain}: waiting…`);
      const element = h("article", { class: "card live-card", "data-testid": "live-candidate",
        "data-phase": phase, "data-chain": String(chain), "data-state": "waiting" }, meta, text);
      this.phase(phase).append(element);
      card = { element, text, meta };
      this.cards.set(key, card);
    }
    return card;
  }

  progress(event) {
    // a generation resent to another engine replica (its first one was lost) starts over
    if ((event.attempt || 1) > this.attempt) {
      this.attempt = event.attempt;
      this.phases.clear();
      this.cards.clear();
      replace(this.container, h("h2", {}, `Live (attempt ${event.attempt}: resent after an engine was lost)`));
    }
    if (event.message) this.status.textContent = event.message;
    if (event.kind === "phase_started" && event.phase) {
      for (const chain of event.data?.chains || []) this.card(event.phase, chain);
    } else if (event.kind === "candidate" && event.phase !== null && event.chain !== null) {
      const card = this.card(event.phase, event.chain);
      card.text.textContent = event.data?.content ?? card.text.textContent;
      card.meta.textContent = `chain ${event.chain}: ${event.data?.provider}/${event.data?.model}`;
      card.element.dataset.state = "candidate";
    } else if (event.kind === "failed") {
      this.failed(event);
    }
  }

  token(event) {
    if (!event.phase || event.chain === null || event.chain === undefined) return;  // not a candidate's text
    const card = this.card(event.phase, event.chain);
    if (card.element.dataset.state === "waiting") {
      card.element.dataset.state = "streaming";
      card.meta.textContent = `chain ${event.chain}: streaming…`;
    }
    if (card.element.dataset.state === "streaming") card.text.textContent += event.delta;
  }

  done(reply) {
    const warnings = reply.warnings?.length ? ` Warnings: ${reply.warnings.join("; ")}` : "";
    this.status.textContent = `Done: ${reply.prompts.length} prompt(s) in ${Math.round(reply.duration_ms)} ms` +
      `${reply.offline ? " (offline provider)" : ""}.${warnings}`;
  }

  failed(error) {
    this.status.textContent = `Failed: ${error.message || "generation failed"}`;
  }
}

function previousOf(prompt, prompts) {
  const parent = prompt.parent_id && prompts.find((p) => p.id === prompt.parent_id);
  if (parent) return parent;
  const order = PHASES.map(([value]) => value);
  const earlier = prompts.filter((p) => p.chain === prompt.chain && order.indexOf(p.phase) < order.indexOf(prompt.phase));
  return earlier.sort((x, y) => order.indexOf(y.phase) - order.indexOf(x.phase))[0] || null;
}

// The finished generation: a phase's candidates side by side, best first.
function comparison(reply, showError) {
  const order = PHASES.map(([value]) => value);
  const phases = [...new Set(reply.prompts.map((p) => p.phase))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const chooser = select("compare-phase", phases.map((phase) => [phase, phaseLabel(phase)]), phases[phases.length - 1]);
  const grid = h("div", { class: "cards compare" });
  const section = h("section", { class: "panel", "data-testid": "comparison", "aria-labelledby": "compare-title" },
    h("div", { class: "row head" }, h("h2", { id: "compare-title" }, "Compare candidates"),
      phases.length > 1 ? field("Phase", chooser) : null),
    grid);
  const show = () => {
    const shown = reply.prompts.filter((p) => p.phase === chooser.value)
      .sort((a, b) => b.scores.combined - a.scores.combined);
    replace(grid, shown.map((prompt) => candidateCard(prompt, shown, reply, showError)));
  };
  chooser.addEventListener("change", show);
  show();
  return section;
}

function candidateCard(prompt, shown, reply, showError) {
  const previous = previousOf(prompt, reply.prompts);
  const others = shown.filter((p) => p !== prompt && p.id);
  const ack = h("p", { class: "ack", role: "status", "data-testid": "feedback-ack" });
  const isBest = reply.best && reply.best.id === prompt.id && reply.best.chain === prompt.chain && reply.best.phase === prompt.phase;
  const disabled = !prompt.id;
  const send = async (body, done) => {
    try {
      const answers = [];
      for (const event of body) answers.push(await api.post(`/api/v1/prompts/${encodeURIComponent(prompt.id)}/feedback`, event));
      ack.textContent = done(answers);
    } catch (error) {
      showError(error);
    }
  };
  const choose = h("button", { type: "button", disabled: disabled || !others.length,
    onclick: () => send(others.map((other) => ({ chosen_over: other.id, helpful: true, session_id: sessionId() })),
      (answers) => `Chosen over ${answers.length} other candidate${answers.length === 1 ? "" : "s"}: recorded.`) },
  "Choose this one");
  const stars = [1, 2, 3, 4, 5].map((value) => h("label", { class: "star" },
    h("input", { type: "radio", name: `rating-${prompt.phase}-${prompt.chain}`, value: String(value) }), String(value)));
  const comment = h("textarea", { name: "comment", rows: 2, maxlength: 4000 });
  const rate = h("form", { class: "rate" },
    h("fieldset", {}, h("legend", {}, "Rating (1–5)"), stars),
    field("Comment (optional)", comment),
    h("button", { type: "submit", disabled }, "Send rating"));
  rate.addEventListener("submit", (event) => {
    event.preventDefault();
    const checked = rate.querySelector("input[type=radio]:checked");
    if (!checked) {
      showError(new Error("Pick a rating from 1 to 5 first."));
      return;
    }
    const body = { rating: Number(checked.value), session_id: sessionId() };
    if (comment.value.trim()) body.comment = comment.value.trim();
    send([body], () => `Rating ${checked.value} recorded. Thank you.`);
  });
  const scores = prompt.scores;
  return h("article", { class: `card${isBest ? " best" : ""}`, "data-testid": "candidate", "data-prompt-id": prompt.id || "" },
    h("header", {},
      h("h3", {}, `${phaseLabel(prompt.phase)}, chain ${prompt.chain}`, isBest ? h("span", { class: "badge" }, "best") : null),
      h("p", { class: "meta" }, `${prompt.provider}/${prompt.model}`)),
    h("dl", { class: "scores" },
      h("dt", {}, "Score"), h("dd", { "data-testid": "score" }, formatNumber(scores.combined)),
      h("dt", {}, "Ranker"), h("dd", {}, formatNumber(scores.ranker)),
      h("dt", {}, "Judge"), h("dd", {}, scores.judge === null || scores.judge === undefined ? "—" : formatNumber(scores.judge))),
    prompt.judge_reason ? h("p", { class: "reason" }, h("strong", {}, "Judge: "), prompt.judge_reason) : null,
    h("pre", { class: "text" }, prompt.content),
    previous ? h("details", {}, h("summary", {}, `Changes from ${phaseLabel(previous.phase)}`),
      diffView(previous.content, prompt.content)) : null,
    h("div", { class: "actions" }, choose,
      prompt.id ? h("a", { href: `#/prompt/${encodeURIComponent(prompt.id)}` }, "Open prompt") : h("span", { class: "hint" }, "not saved")),
    rate, ack);
}
