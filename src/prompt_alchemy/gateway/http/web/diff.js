// A word-level diff (longest common subsequence), enough to show how a phase rewrote the one before.
import { h } from "./dom.js";

const MAX_CELLS = 2_000_000;

function tokens(text) {
  return text.match(/\s+|[^\s]+/g) || [];
}

// [{op: "same" | "add" | "del", text}], merged into runs; null when the texts are too long to compare.
export function wordDiff(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) return null;
  const width = b.length + 1;
  const table = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * width + j] = a[i] === b[j]
        ? table[(i + 1) * width + j + 1] + 1
        : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  const runs = [];
  const push = (op, text) => {
    const last = runs[runs.length - 1];
    if (last && last.op === op) last.text += text;
    else runs.push({ op, text });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push("same", a[i]); i++; j++; }
    else if (table[(i + 1) * width + j] >= table[i * width + j + 1]) push("del", a[i++]);
    else push("add", b[j++]);
  }
  while (i < a.length) push("del", a[i++]);
  while (j < b.length) push("add", b[j++]);
  return runs;
}

export function diffView(before, after) {
  const runs = wordDiff(before, after);
  if (runs === null) return h("p", { class: "hint" }, "Too long to compare word by word.");
  return h("pre", { class: "diff", "data-testid": "diff" },
    runs.map(({ op, text }) => (op === "same" ? text : h(op === "add" ? "ins" : "del", {}, text))));
}
