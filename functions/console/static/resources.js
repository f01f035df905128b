// Agents, models and MCP servers: what exists and which runs used them.
import { h, phaseBadge } from "./dom.js";
import { getJSON } from "./api.js";

function runsCell(item) {
  const link = (n) => h("a", { class: "mono", href: `#/runs/${encodeURIComponent(item.namespace)}/${encodeURIComponent(n)}` }, n);
  return h("td", {},
    h("div", {}, h("b", {}, item.runs), " runs ", ...Object.entries(item.phases).map(([p, n]) => h("span", { class: "small" }, " ", phaseBadge(p), ` ${n}`))),
    item.recent.length ? h("div", { class: "small recent" }, ...item.recent.flatMap((n, i) => (i ? [", ", link(n)] : [link(n)]))) : null);
}

function table(title, heads, items, cells) {
  return h("section", { class: "resources" },
    h("h2", {}, title, h("span", { class: "muted" }, ` ${items.length}`)),
    items.length ? h("table", {}, h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", {}, t)))),
      h("tbody", {}, ...items.map((it) => h("tr", { "data-name": it.name }, ...cells(it), runsCell(it)))))
      : h("p", { class: "muted" }, "None."));
}

export async function resourcesPage(main) {
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  let doc;
  try { doc = await getJSON("api/catalog"); } catch (err) { main.replaceChildren(h("p", { class: "bad" }, err.message)); return () => {}; }
  const name = (it) => h("td", { class: "mono" }, h("b", {}, it.name), h("div", { class: "muted small" }, it.namespace));
  main.replaceChildren(
    h("div", { class: "head" }, h("h1", {}, "Agents & models")),
    table("Agents", ["Agent", "Model", "Tools", "Runs"], doc.agents, (a) => [
      name(a), h("td", { class: "mono" }, a.model), h("td", { class: "small" }, a.tools.join(", "))]),
    table("Models", ["Model", "Provider", "Pricing $/MTok", "Agents", "Runs"], doc.models, (m) => [
      name(m), h("td", {}, m.provider, h("div", { class: "mono small muted" }, m.model)),
      h("td", { class: "small" }, m.pricing.inputPerMTok != null ? `in ${m.pricing.inputPerMTok} · out ${m.pricing.outputPerMTok ?? 0}` : "—"),
      h("td", { class: "small" }, m.agents.join(", ") || "—")]),
    table("MCP servers", ["Server", "Transport", "Agents", "Runs"], doc.mcpServers, (s) => [
      name(s), h("td", {}, s.transport, h("div", { class: "mono small muted" }, s.where)), h("td", { class: "small" }, s.agents.join(", ") || "—")]),
  );
  return () => {};
}
