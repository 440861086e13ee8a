// Building elements without HTML strings: every text goes through textContent, so nothing a
// prompt, a server message or a URL contains can become markup (the CSP forbids inline code too).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" || name === "checked" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

// A labelled control: the label names it by id (so its accessible name is the label alone, not
// the options of a select) and clicking the label focuses it.
let fields = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++fields}`;
  return h("div", { class: "field" }, h("label", { class: "label", for: control.id }, label), control,
    hint ? h("small", { class: "hint" }, hint) : null);
}

export function select(name, options, chosen) {
  return h("select", { name },
    options.map(([value, text]) => h("option", { value, selected: value === chosen }, text)));
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatNumber(value, digits = 3) {
  return typeof value === "number" ? String(Number(value.toFixed(digits))) : "—";
}

export async function copyText(text, button) {
  const before = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = before; }, 1500);
}
