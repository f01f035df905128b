// Small DOM helpers: every text goes in as text, never as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(2)} s`;
  const m = Math.floor(value / 60000);
  return `${m}m ${Math.round((value % 60000) / 1000)}s`;
}

export function age(iso) {
  if (!iso) return "—";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function tokens(n) {
  if (!n) return "0";
  return n >= 10000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString("en-US");
}

export function usd(cost) {
  const v = Number(cost || 0);
  if (!v) return "$0";
  return v < 0.01 ? `$${v.toFixed(6).replace(/0+$/, "")}` : `$${v.toFixed(4)}`;
}

export function phaseBadge(phase) {
  return h("span", { class: `phase phase-${(phase || "Pending").toLowerCase()}` }, phase || "Pending");
}

export const TERMINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
