// The run list: live over server-sent events, filters in the URL, counts by phase.
import { h, ms, age, tokens, usd, phaseBadge } from "./dom.js";

const PHASES = ["Pending", "Running", "AwaitingApproval", "Serving", "Succeeded", "Failed", "Cancelled"];
const FIELDS = ["namespace", "agent", "label", "q"];

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

function row(run) {
  const link = `#/runs/${encodeURIComponent(run.namespace)}/${encodeURIComponent(run.name)}`;
  const took = run.durationMs ?? (run.startedAt ? Date.now() - Date.parse(run.startedAt) : null);
  return h(
    "tr",
    { "data-uid": run.uid, "data-name": run.name, "data-phase": run.phase },
    h("td", { class: "mono" }, h("a", { href: link }, run.name),
      run.parent ? h("span", { class: "muted small" }, ` ← ${run.parent}`) : null),
    h("td", { class: "phase-cell" }, phaseBadge(run.phase),
      run.awaitingApproval.length ? h("span", { class: "small warn" }, ` ${run.awaitingApproval.length} to approve`) : null),
    h("td", { class: "mono muted" }, run.namespace),
    h("td", {}, run.agent),
    h("td", { class: "num" }, run.step),
    h("td", { class: "num" }, tokens(run.tokens)),
    h("td", { class: "num" }, usd(run.cost)),
    h("td", { class: "num" }, ms(took)),
    h("td", { class: "num muted", title: run.createdAt }, age(run.createdAt)),
    h("td", { class: "reason small" }, run.reason ? `${run.reason}: ${run.message}` : ""),
  );
}

export function runsPage(main, params, setLive) {
  const state = { runs: new Map(), counts: {}, total: 0 };
  const tbody = h("tbody");
  const chips = h("div", { class: "chips" });
  const empty = h("p", { class: "muted pad empty" }, "No runs yet. Apply an AgentRun (baton run config/samples/tools.yaml) and it appears here.");
  const inputs = {};
  const go = (next) => { location.hash = `#/runs?${query(next)}`; };
  const form = h("form", { class: "filters", onsubmit: (e) => {
      e.preventDefault();
      const next = { ...params };
      for (const f of FIELDS) next[f] = inputs[f].value.trim();
      next.children = inputs.children.checked ? "1" : "";
      go(next);
    } },
    ...FIELDS.map((f) => {
      const label = { namespace: "namespace", agent: "agent", label: "label k=v", q: "search name" }[f];
      inputs[f] = h("input", { name: f, placeholder: label, value: params[f] || "", "aria-label": label });
      return inputs[f];
    }),
    h("label", { class: "check" },
      (inputs.children = h("input", { type: "checkbox", checked: params.children === "1" })), " sub-agent runs"),
    h("button", { type: "submit" }, "Filter"),
  );

  function drawChips() {
    chips.replaceChildren();
    const all = Object.values(state.counts).reduce((a, b) => a + b, 0);
    const chip = (phase, n) => h("a", {
      class: `chip ${params.phase === phase || (!phase && !params.phase) ? "on" : ""} ${phase ? "phase-" + phase.toLowerCase() : ""}`,
      href: `#/runs?${query({ ...params, phase })}`, "data-phase": phase || "all",
    }, h("span", {}, phase || "All"), h("b", { class: "count" }, n));
    chips.append(chip("", all), ...PHASES.map((p) => chip(p, state.counts[p] || 0)));
  }

  function drawRows() {
    const rows = [...state.runs.values()].sort((a, b) =>
      (b.createdAt + b.name).localeCompare(a.createdAt + a.name));
    tbody.replaceChildren(...rows.map(row));
    empty.hidden = rows.length > 0;
    const total = params.phase ? state.counts[params.phase] || 0
      : Object.values(state.counts).reduce((x, y) => x + y, 0);
    const shown = main.querySelector("#total");
    if (shown) shown.textContent = rows.length < total ? `newest ${rows.length} of ${total}` : `${total} runs`;
  }

  main.replaceChildren(
    h("div", { class: "head" }, h("h1", {}, "Runs"), h("span", { class: "muted", id: "total" })),
    chips, form,
    h("div", { class: "table-wrap" }, h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ...["Name", "Phase", "Namespace", "Agent", "Step", "Tokens", "Cost", "Duration", "Age", "Reason"]
        .map((t) => h("th", { class: ["Step", "Tokens", "Cost", "Duration", "Age"].includes(t) ? "num" : "" }, t)))),
      tbody)),
    empty,
  );

  const source = new EventSource(`api/runs/stream?${query(params)}`);
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  source.addEventListener("snapshot", (e) => {
    const doc = JSON.parse(e.data);
    state.runs = new Map(doc.runs.map((r) => [r.uid, r]));
    state.counts = doc.counts;
    drawChips();
    drawRows();
  });
  source.addEventListener("change", (e) => {
    const doc = JSON.parse(e.data);
    state.counts = doc.counts;
    if (doc.match) state.runs.set(doc.run.uid, doc.run);
    else state.runs.delete(doc.run.uid);
    drawChips();
    drawRows();
    const tr = tbody.querySelector(`tr[data-uid="${CSS.escape(doc.run.uid)}"]`);
    if (tr) tr.classList.add("flash");
  });
  source.addEventListener("reset", () => { source.close(); runsPage(main, params, setLive); });
  const tick = setInterval(drawRows, 5000); // ages and running durations move on
  return () => { source.close(); clearInterval(tick); };
}
