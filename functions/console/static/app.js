// The console's router: #/runs (live list), #/runs/NS/NAME (a run), #/resources.
import { getJSON } from "./api.js";
import { runsPage } from "./runs.js";
import { runPage } from "./run.js";
import { resourcesPage } from "./resources.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
let leave = () => {};
let info = { actions: "off", why: "", timed: false };

function setLive(on) {
  live.textContent = on ? "live" : "reconnecting";
  live.classList.toggle("on", on);
}

function route() {
  leave();
  const [path, qs] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("on", a.dataset.nav === (parts[0] || "runs"));
  if (parts[0] === "runs" && parts.length === 3) {
    setLive(true);
    leave = runPage(main, parts[1], parts[2], info);
  } else if (parts[0] === "resources") {
    setLive(true);
    leave = () => {};
    resourcesPage(main);
  } else {
    const params = Object.fromEntries(new URLSearchParams(qs || ""));
    leave = runsPage(main, params, setLive);
  }
}

function theme(next) {
  document.documentElement.dataset.theme = next;
  localStorage.setItem("baton.console.theme", next);
}

document.getElementById("theme").addEventListener("click", () =>
  theme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
const saved = localStorage.getItem("baton.console.theme");
theme(saved || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));

getJSON("api/info").then((doc) => { info = doc; }).catch(() => {}).finally(() => {
  window.addEventListener("hashchange", route);
  route();
});
