// System: live instances from discovery, provider circuits, learning; refreshed every few seconds.
import { api } from "./api.js";
import { formatDate, formatNumber, h, replace } from "./dom.js";

const REFRESH_MS = 2000;

export function renderSystem(view, { showError, clearError }) {
  const body = h("div", { class: "system" }, h("p", { class: "hint" }, "Loading…"));
  const updated = h("p", { class: "meta", role: "status" });
  let timer = null;
  let stopped = false;

  const refresh = async () => {
    timer = null;
    try {
      const [health, providers, learning] = await Promise.all([
        api.health(), api.get("/api/v1/providers"), api.get("/api/v1/learning/stats")]);
      if (stopped) return;
      clearError();
      replace(body, overview(health), instances(health), providerTable(providers), learningStats(learning));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (stopped) return;
      showError(error);
      if (error.unauthorized) return;  // the key panel replaced the page: stop polling
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  };

  replace(view, h("section", { class: "panel", "aria-labelledby": "system-title" },
    h("h1", { id: "system-title" }, "System"), updated), body);
  refresh();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

// Wide tables scroll inside their own box, so the page itself never scrolls sideways on a phone.
function table(caption, headings, rows, testid) {
  return h("div", { class: "scroll" }, h("table", { "data-testid": testid },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, index) =>
      index === 0 ? h("th", { scope: "row" }, cell) : h("td", {}, cell)))))));
}

function overview(health) {
  return h("section", { class: "panel" },
    h("h2", {}, "Services"),
    h("p", { "data-testid": "health-status", class: `status-${health.status}` },
      `Overall: ${health.status}${health.missing.length ? ` (missing: ${health.missing.join(", ")})` : ""}`),
    table("Service health", ["Service", "Status", "Version", "Instances", "Message"],
      health.services.map((s) => [s.name, s.status, s.version || "—", String(s.instances.length), s.message || ""]),
      "services"));
}

function instances(health) {
  const rows = health.instances.map((instance) => {
    const requests = instance.endpoints.reduce((sum, e) => sum + e.requests, 0);
    const errors = instance.endpoints.reduce((sum, e) => sum + e.errors, 0);
    const busy = instance.endpoints.filter((e) => e.requests > 0);
    const latency = busy.length
      ? busy.reduce((sum, e) => sum + e.average_ms * e.requests, 0) / requests : null;
    return [instance.service, instance.id, instance.version, String(requests), String(errors),
      latency === null ? "—" : `${formatNumber(latency, 2)} ms`, formatDate(instance.started)];
  });
  return h("section", { class: "panel" }, h("h2", {}, "Live instances"),
    table("Instances found by discovery", ["Service", "Instance", "Version", "Requests", "Errors", "Mean latency", "Started"],
      rows, "instances"));
}

function providerTable(reply) {
  return h("section", { class: "panel" }, h("h2", {}, "Providers"),
    h("p", { class: "meta" }, `Default ${reply.default}; fallback order: ${reply.fallback_order.join(" → ") || "none"}`),
    table("Providers and their circuit breakers", ["Provider", "Available", "Circuit", "Default model"],
      reply.providers.map((p) => [p.name, p.available ? "yes" : `no${p.reason ? `: ${p.reason}` : ""}`, p.circuit,
        p.default_model || "—"]), "providers"));
}

function learningStats(stats) {
  const ratings = Object.entries(stats.rating_distribution).map(([r, n]) => `${r}: ${n}`).join(", ") || "none";
  return h("section", { class: "panel" }, h("h2", {}, "Learning"),
    h("dl", { class: "scores", "data-testid": "learning" },
      h("dt", {}, "Enabled"), h("dd", {}, stats.enabled ? "yes" : "no"),
      h("dt", {}, "Feedback events processed"), h("dd", { "data-testid": "events-processed" }, String(stats.events_processed)),
      h("dt", {}, "Pairwise preferences"), h("dd", { "data-testid": "pairwise" }, String(stats.pairwise_preferences)),
      h("dt", {}, "Ratings"), h("dd", { "data-testid": "ratings" }, ratings),
      h("dt", {}, "Duplicates"), h("dd", {}, String(stats.duplicates)),
      h("dt", {}, "Dead-lettered"), h("dd", {}, String(stats.dead_lettered)),
      h("dt", {}, "Weights version"), h("dd", { "data-testid": "weights-version" }, String(stats.weights_version))));
}
