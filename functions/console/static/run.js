// One run: its chain as a timeline (sub-agent runs nested), transcript, events, conditions.
import { h, ms, age, tokens, usd, phaseBadge, TERMINAL } from "./dom.js";
import { getJSON, act } from "./api.js";

const KIND_ICON = { transition: "◇", model: "◆", tool: "▸", input: "✉" };

function flatten(node, depth, out) {
  for (const step of node.steps) {
    out.push({ step, depth, owner: node.run });
    if (step.run) {
      out.push({ child: step.run, depth: depth + 1, owner: node.run });
      flatten(step.run, depth + 1, out);
    }
  }
  return out;
}

function extent(node) {
  let first = null, last = null;
  for (const r of flatten(node, 0, [])) {
    if (!r.step || r.step.start == null) continue;
    first = first == null ? r.step.start : Math.min(first, r.step.start);
    last = Math.max(last ?? 0, r.step.end ?? r.step.start);
  }
  return first == null ? null : { kind: "run", start: first, end: last, state: "done" };
}

function span(rows, now) {
  let end = now || 0;
  for (const r of rows) if (r.step && r.step.end != null) end = Math.max(end, r.step.end);
  return end;
}

function bar(step, total) {
  if (step.start == null) return h("div", { class: "track" }, h("span", { class: "untimed" }, step.state === "running" ? "running…" : ""));
  const left = (step.start / total) * 100;
  const end = step.end ?? total;
  const width = Math.max(((end - step.start) / total) * 100, 0.4);
  const state = { error: "bar-error", "awaiting approval": "bar-wait" }[step.state] || "";
  const cls = `bar bar-${step.kind} ${state} ${step.end == null ? "bar-open" : ""}`;
  return h("div", { class: "track" }, h("span", { class: cls, style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%` }));
}

function stepLabel(step) {
  if (step.kind === "model") return [h("b", {}, `model call`), h("span", { class: "muted" }, ` · step ${step.step} · `), h("span", { class: "mono" }, step.name)];
  if (step.kind === "tool") return [h("b", { class: "mono" }, step.name), h("span", { class: "muted mono small" }, ` ${step.callId}`)];
  return [h("span", { class: "muted" }, step.name)];
}

function stateTag(step) {
  if (!step.state || step.state === "done") return null;
  return h("span", { class: `tag tag-${step.state.replace(/ /g, "-")}` }, step.state);
}

function timeline(page, info, refresh) {
  const rows = flatten(page, 0, []);
  const total = span(rows, page.now) || 1;
  const axis = span(rows, page.now) ? ms(total) : "";
  const t = page.totals;
  const lines = rows.map((r) => {
    const indent = `padding-left:${0.5 + r.depth * 1.4}rem`;
    if (r.child) {
      const c = r.child.run;
      return h("div", { class: "tl-row tl-child" },
        h("div", { class: "tl-label", style: indent }, "↳ ",
          h("a", { class: "mono", href: `#/runs/${encodeURIComponent(c.namespace)}/${encodeURIComponent(c.name)}` }, c.name),
          h("span", { class: "muted" }, ` ${c.agent} `), phaseBadge(c.phase)),
        extent(r.child) ? bar(extent(r.child), total) : h("div", { class: "track" }), h("div", { class: "num" }, ms(c.durationMs)),
        h("div", { class: "num" }, tokens(c.tokens)), h("div", { class: "num" }, usd(c.cost)));
    }
    const s = r.step;
    const buttons = s.state === "awaiting approval" ? h("span", { class: "inline-actions" },
      h("button", { class: "ok small-btn", "data-action": "approve", onclick: () => decide(r.owner, s.callId, "approve", info, refresh) }, "Approve"),
      h("button", { class: "danger small-btn", "data-action": "reject", onclick: () => decide(r.owner, s.callId, "reject", info, refresh) }, "Reject")) : null;
    return h("div", { class: `tl-row tl-${s.kind}`, "data-kind": s.kind, "data-state": s.state || "done" },
      h("div", { class: "tl-label", style: indent, title: s.kind === "tool" ? JSON.stringify(s.input) : "" },
        h("span", { class: `icon icon-${s.kind}` }, KIND_ICON[s.kind] || "·"), " ", ...stepLabel(s), " ", stateTag(s), buttons),
      bar(s, total),
      h("div", { class: "num" }, s.durationMs == null && s.start != null && page.now != null
        ? h("i", { title: "still open" }, `${ms(page.now - s.start)}…`) : ms(s.durationMs)),
      h("div", { class: "num" }, s.tokens ? h("span", { title: `in ${s.tokens.input} · out ${s.tokens.output} · cache read ${s.tokens.cacheRead}` }, tokens(s.tokens.total)) : ""),
      h("div", { class: "num" }, s.cost != null ? usd(s.cost) : ""));
  });
  return h("section", { class: "timeline" },
    h("div", { class: "tl-totals" },
      `Tree: ${t.runs} run${t.runs === 1 ? "" : "s"} · ${t.modelCalls} model call${t.modelCalls === 1 ? "" : "s"} · ${t.toolCalls} tool call${t.toolCalls === 1 ? "" : "s"} · `,
      h("b", {}, `${tokens(t.tokens)} tokens`), " · ", h("b", {}, usd(t.cost)),
      page.timed ? "" : h("span", { class: "muted" }, " · per-step times need the event log (SQLite shapes); this store keeps none")),
    h("div", { class: "tl-row tl-head" }, h("div", {}, "Step"), h("div", { class: "axis" }, h("span", {}, axis ? "0" : ""), h("span", {}, axis)),
      h("div", { class: "num" }, "Latency"), h("div", { class: "num" }, "Tokens"), h("div", { class: "num" }, "Cost")),
    ...lines);
}

function transcript(items) {
  if (!items.length) return h("p", { class: "muted pad" }, "No transcript yet: the run has not reached its first step.");
  const cut = (it) => (it.cut ? h("div", { class: "muted small" }, `… ${it.cut} more characters not shown`) : null);
  return h("section", { class: "transcript" }, ...items.map((it) => {
    if (it.kind === "assistant") {
      return h("article", { class: "msg msg-assistant" },
        h("header", {}, h("b", {}, "assistant"), h("span", { class: "muted" }, ` · step ${it.step} · ${it.model} · ${it.stopReason}`)),
        ...it.blocks.map((b) => {
          if (b.type === "thinking") return h("details", { class: "thinking" }, h("summary", {}, "thinking"), h("pre", {}, b.text), cut(b));
          if (b.type === "tool_use") return h("div", { class: "tool-use" }, h("div", {}, "calls ", h("b", { class: "mono" }, b.name), h("span", { class: "muted mono small" }, ` ${b.id}`)), h("pre", {}, b.text), cut(b));
          return h("div", { class: "text" }, h("p", {}, b.text), cut(b));
        }));
    }
    if (it.kind === "tool_result") {
      return h("article", { class: `msg msg-tool ${it.isError ? "msg-error" : ""}` },
        h("header", {}, h("b", {}, `tool result`), h("span", { class: "muted" }, ` · ${it.name} · `), h("span", { class: "mono small muted" }, it.callId), it.isError ? h("span", { class: "tag tag-error" }, "error") : null),
        h("pre", {}, it.text), cut(it));
    }
    if (it.kind === "system") {
      return h("details", { class: "msg msg-system" }, h("summary", {}, h("b", {}, "system prompt")), h("pre", {}, it.text), cut(it));
    }
    return h("article", { class: "msg msg-user" }, h("header", {}, h("b", {}, "user"), it.step ? h("span", { class: "muted" }, ` · step ${it.step}`) : null), h("p", {}, it.text), cut(it));
  }));
}

function events(list) {
  if (!list.length) return h("p", { class: "muted pad" }, "No event log on this store: the timeline comes from the journal and status.");
  return h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ...["#", "At", "Step", "Type", "Detail", "Id"].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...list.map((e) => h("tr", {},
      h("td", { class: "num muted" }, e.seq), h("td", { class: "num" }, e.at == null ? "—" : `+${ms(e.at)}`),
      h("td", { class: "num" }, e.step ?? "–"), h("td", { class: "mono" }, e.type), h("td", {}, e.detail), h("td", { class: "mono small muted" }, e.id)))));
}

function conditions(page) {
  const rows = page.conditions.map((c) => h("tr", {},
    h("td", {}, h("b", {}, c.type)), h("td", { class: c.status === "True" ? "ok-text" : "warn" }, c.status),
    h("td", { class: "mono" }, c.reason), h("td", {}, c.message), h("td", { class: "muted", title: c.lastTransitionTime }, age(c.lastTransitionTime) + " ago")));
  return h("table", { class: "conditions" }, h("thead", {}, h("tr", {}, ...["Type", "Status", "Reason", "Message", "Changed"].map((t) => h("th", {}, t)))), h("tbody", {}, ...rows));
}

async function decide(run, callId, verb, info, refresh) {
  try { await act(run, verb, { calls: callId ? [callId] : [] }, info); notice(`${verb === "approve" ? "Approved" : "Rejected"} ${callId || "all"}`); }
  catch (err) { notice(err.message, true); }
  refresh();
}

function notice(text, bad = false) {
  const el = h("div", { class: `notice ${bad ? "notice-bad" : ""}`, role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

function actionsBar(page, info, refresh) {
  const run = page.run;
  if (info.actions === "off") return h("div", { class: "actions muted small", title: info.why }, "read-only: ", info.why);
  const items = [];
  if (run.awaitingApproval.length) {
    items.push(h("button", { class: "ok", "data-action": "approve-all", onclick: () => decide(run, "", "approve", info, refresh) }, `Approve ${run.awaitingApproval.length}`));
    items.push(h("button", { class: "danger", "data-action": "reject-all", onclick: () => decide(run, "", "reject", info, refresh) }, "Reject"));
  }
  if (run.phase === "Serving") {
    const input = h("input", { placeholder: "send input to this session", "aria-label": "input", class: "send-input" });
    items.push(h("form", { class: "send", onsubmit: async (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      try { await act(run, "input", { text: input.value }, info); input.value = ""; notice("Input sent"); }
      catch (err) { notice(err.message, true); }
      refresh();
    } }, input, h("button", { type: "submit" }, "Send")));
  }
  if (!TERMINAL.has(run.phase)) {
    items.push(h("button", { class: "ghost danger-text", "data-action": "cancel", onclick: async () => {
      if (!window.confirm(`Cancel ${run.name}?`)) return;
      try { await act(run, "cancel", {}, info); notice("Cancellation requested"); } catch (err) { notice(err.message, true); }
      refresh();
    } }, "Cancel run"));
  }
  return h("div", { class: "actions" }, ...items);
}

export function runPage(main, namespace, name, info) {
  let tab = "timeline";
  let timer = null;
  let stopped = false;
  const refresh = () => load();
  async function load() {
    let page;
    try { page = await getJSON(`api/runs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`); }
    catch (err) { main.replaceChildren(h("p", { class: "pad bad" }, err.message), h("a", { href: "#/runs" }, "← all runs")); return; }
    if (stopped) return;
    draw(page);
    clearTimeout(timer);
    if (!settled(page)) timer = setTimeout(load, 1000);
  }
  // The phase is written a moment before run.finished is logged: a page loaded in between
  // keeps polling until that event shows (for at most 10 more loads, should it never come).
  let afterEnd = 0;
  function settled(page) {
    const done = TERMINAL.has(page.run.phase) && !flatten(page, 0, []).some((r) => r.child && !TERMINAL.has(r.child.run.phase));
    if (!done) return false;
    afterEnd += 1;
    return page.events.some((e) => e.type === "run.finished") || afterEnd > 10;
  }
  function draw(page) {
    const r = page.run;
    const tabs = { timeline: "Timeline", transcript: "Transcript", events: "Events", conditions: "Conditions" };
    const body = { timeline: () => timeline(page, info, refresh), transcript: () => transcript(page.transcript), events: () => events(page.events), conditions: () => conditions(page) }[tab]();
    const scroll = window.scrollY;
    main.replaceChildren(...[
      h("a", { href: "#/runs", class: "muted small" }, "← runs"),
      h("div", { class: "head" }, h("h1", { class: "mono" }, r.name), phaseBadge(r.phase), actionsBar(page, info, refresh)),
      h("div", { class: "meta" },
        h("span", {}, "namespace ", h("b", { class: "mono" }, r.namespace)), h("span", {}, "agent ", h("b", {}, r.agent)),
        h("span", {}, "model ", h("b", { class: "mono" }, page.model || "—")), h("span", {}, "mode ", h("b", {}, r.mode)),
        r.parent ? h("span", {}, "parent ", h("a", { class: "mono", href: `#/runs/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.parent)}` }, r.parent)) : null,
        h("span", {}, "uid ", h("span", { class: "mono small" }, r.uid)), h("span", { title: r.createdAt }, `created ${age(r.createdAt)} ago`)),
      h("div", { class: "cards" },
        card("Duration", ms(r.durationMs ?? (r.startedAt ? Date.now() - Date.parse(r.startedAt) : null))),
        card("Steps", r.step), card("Tokens (tree)", tokens(page.totals.tokens)), card("Cost (tree)", usd(page.totals.cost)),
        card("Tool calls (tree)", page.totals.toolCalls), card("Runs in tree", page.totals.runs)),
      h("div", { class: "task" }, h("div", { class: "label" }, "Task"), h("p", {}, page.task || "—")),
      page.error ? h("div", { class: "outcome outcome-bad" }, h("b", {}, page.error.reason || "Error"), ": ", page.error.message || "")
        : page.result ? h("div", { class: "outcome" }, h("div", { class: "label" }, "Result"), h("p", {}, page.result)) : null,
      h("nav", { class: "tabs" }, ...Object.entries(tabs).map(([k, v]) => h("button", {
        class: k === tab ? "on" : "", "data-tab": k, onclick: () => { tab = k; draw(page); } }, v))),
      body,
    ].filter(Boolean));
    window.scrollTo(0, scroll);
  }
  load();
  return () => { stopped = true; clearTimeout(timer); };
}

function card(label, value) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}
