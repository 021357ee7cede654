// nacre console: reads ./api/*, listens to ./api/events, and redraws what changed.
"use strict";

const state = {
  ns: null,          // the namespace shown
  svc: null,         // {group, name} shown
  instances: [],     // the last instance list read
  readAt: 0,         // when it was read (performance.now())
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const query = (params) => new URLSearchParams(params).toString();

// "17 s", or "1.5 s" under ten seconds, as the server says it.
function seconds(ms) {
  const s = ms / 1000;
  return s < 10 && ms % 1000 !== 0 ? `${s.toFixed(1)} s` : `${Math.floor(s)} s`;
}

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  state.ns = h.get("ns");
  const svc = h.get("svc");
  if (svc && svc.includes("@@")) {
    const [group, name] = svc.split("@@");
    state.svc = { group, name };
  } else {
    state.svc = null;
  }
}

function writeHash() {
  const h = new URLSearchParams();
  if (state.ns) h.set("ns", state.ns);
  if (state.svc) h.set("svc", `${state.svc.group}@@${state.svc.name}`);
  history.replaceState(null, "", `#${h.toString()}`);
}

async function drawNamespaces() {
  const rows = await call("GET", "api/namespaces");
  if (!state.ns && rows.length) state.ns = rows[0].namespace;
  const list = $("namespace-list");
  list.replaceChildren(...rows.map((r) => el("li", {
    class: r.namespace === state.ns ? "selected" : "",
    "data-namespace": r.namespace,
    onclick: () => { state.ns = r.namespace; state.svc = null; writeHash(); refresh(); },
  }, el("span", {}, r.namespace), el("span", { class: "count" }, `${r.services} svc · ${r.healthy}/${r.instances}`))));
  $("no-namespaces").hidden = rows.length > 0;
}

async function drawServices() {
  $("services-where").textContent = state.ns ? `in ${state.ns}` : "";
  if (!state.ns) { $("service-rows").replaceChildren(); return; }
  const rows = await call("GET", `api/services?${query({ namespace: state.ns })}`);
  $("service-rows").replaceChildren(...rows.map((r) => {
    const selected = state.svc && state.svc.group === r.group && state.svc.name === r.name;
    return el("tr", {
      class: selected ? "selected" : "",
      "data-service": `${r.group}@@${r.name}`,
      onclick: () => { state.svc = { group: r.group, name: r.name }; writeHash(); refresh(); },
    },
    el("td", {}, el("strong", {}, r.name)), el("td", {}, r.group),
    el("td", { class: "num" }, r.instances), el("td", { class: "num" }, r.healthy),
    el("td", { class: "num" }, r.protectThreshold));
  }));
  $("no-services").hidden = rows.length > 0;
}

async function drawInstances() {
  const section = $("instances");
  if (!state.ns || !state.svc) { section.hidden = true; return; }
  section.hidden = false;
  $("instances-of").textContent = `${state.svc.group}@@${state.svc.name}`;
  let answer;
  try {
    answer = await call("GET", `api/instances?${query({ namespace: state.ns, group: state.svc.group, service: state.svc.name })}`);
  } catch (e) {
    if (String(e).includes(" 404 ")) { answer = { protectThreshold: 0, instances: [] }; } else { throw e; }
  }
  state.instances = answer.instances;
  state.readAt = performance.now();
  $("instances-threshold").textContent = `(protect threshold ${answer.protectThreshold})`;
  $("instance-rows").replaceChildren(...answer.instances.map(instanceRow));
  $("no-instances").hidden = answer.instances.length > 0;
  tick();
}

function target(i) {
  return { namespace: state.ns, group: state.svc.group, service: state.svc.name, cluster: i.cluster, ip: i.ip, port: i.port };
}

async function edit(i, change) {
  try {
    await call("PATCH", "api/instance", { ...target(i), ...change });
    showError("");
  } catch (e) { showError(String(e.message || e)); }
  refresh();
}

function instanceRow(i) {
  const addr = `${i.ip}:${i.port}`;
  const weight = el("input", { class: "weight", type: "number", min: "0", max: "10000", step: "any", value: i.weight, "aria-label": `weight of ${addr}` });
  const save = el("button", { onclick: () => edit(i, { weight: Number(weight.value) }) }, "Save");
  const enabled = el("input", { type: "checkbox", "aria-label": `enabled ${addr}`, onchange: () => edit(i, { enabled: enabled.checked }) });
  enabled.checked = i.enabled;
  const health = el("span", { class: `badge ${i.healthy ? "healthy" : "unhealthy"}` }, i.healthy ? "healthy" : "unhealthy");
  const cell = el("td", { class: "health" }, health);
  if (!i.enabled) cell.append(el("span", { class: "badge disabled" }, "disabled"));
  cell.append(el("span", { class: "why" }));
  const remove = el("button", { class: "danger" }, "Deregister");
  remove.addEventListener("click", async () => {
    if (!remove.classList.contains("confirm")) {
      remove.classList.add("confirm");
      remove.textContent = "Sure?";
      setTimeout(() => { remove.classList.remove("confirm"); remove.textContent = "Deregister"; }, 4000);
      return;
    }
    try {
      await call("DELETE", `api/instance?${query(target(i))}`);
      showError("");
    } catch (e) { showError(String(e.message || e)); }
    refresh();
  });
  const meta = el("td", { class: "meta-cell" }, ...Object.entries(i.metadata).map(([k, v]) => el("span", { class: "meta" }, `${k}=${v}`)));
  return el("tr", { "data-instance": addr },
    el("td", { class: "addr" }, addr), el("td", {}, i.cluster),
    el("td", { class: "weight-cell" }, weight, " ", save), el("td", {}, enabled), cell,
    el("td", { class: "age" }), meta, el("td", {}, remove));
}

// Between reads, the age of each last beat counts up here; the reason for an unhealthy
// ephemeral instance is said with it.
function tick() {
  const elapsed = performance.now() - state.readAt;
  const rows = $("instance-rows").children;
  state.instances.forEach((i, n) => {
    const row = rows[n];
    if (!row) return;
    const age = i.lastBeatMsAgo === null ? null : i.lastBeatMsAgo + elapsed;
    row.querySelector(".age").textContent = age === null ? "persistent" : `${seconds(Math.round(age / 100) * 100)} ago`;
    let why = i.why || "";
    if (!i.healthy && i.ephemeral && age !== null) {
      why = `no beat for ${seconds(Math.floor(age / 100) * 100)}; the limit is ${seconds(i.unhealthyAfterMs)}`;
    }
    row.querySelector(".why").textContent = why;
  });
}

let pending = null;
let running = false;
// Reads what is shown again, at most every 200 ms.
function refresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    if (running) { refresh(); return; }
    running = true;
    try {
      await drawNamespaces();
      await drawServices();
      await drawInstances();
      writeHash();
    } catch (e) {
      showError(String(e.message || e));
    } finally {
      running = false;
    }
  }, 200);
}

function listen() {
  const live = $("live");
  const events = new EventSource("api/events");
  events.addEventListener("hello", () => { live.className = "live on"; live.textContent = "live"; refresh(); });
  events.addEventListener("change", () => refresh());
  events.addEventListener("resync", () => refresh());
  events.onerror = () => { live.className = "live off"; live.textContent = "reconnecting…"; };
}

window.addEventListener("hashchange", () => { readHash(); refresh(); });
readHash();
refresh();
listen();
setInterval(tick, 500);
