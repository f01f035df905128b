// The console's JSON API (same origin, relative to /console/).
const TOKEN_KEY = "baton.console.token";

export async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
  return body;
}

export async function act(run, verb, body, info) {
  const headers = { "Content-Type": "application/json" };
  if (info.actions === "token") {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      token = window.prompt("This action needs the ingress token (BATON_INGRESS_TOKEN):") || "";
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
    }
    headers.Authorization = `Bearer ${token}`;
  }
  const path = `api/runs/${encodeURIComponent(run.namespace)}/${encodeURIComponent(run.name)}/${verb}`;
  const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  const doc = await res.json().catch(() => ({}));
  if (res.status === 401) sessionStorage.removeItem(TOKEN_KEY);
  if (!res.ok) throw new Error(doc.message || `${res.status} ${res.statusText}`);
  return doc;
}
