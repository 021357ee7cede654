// nacre console: reads ./api/*, listens to ./api/events, and redraws what changed. When the
// node has auth on, it logs in first: the token is kept in sessionStorage (this tab only) and
// sent as the accessToken header, never in a URL.
"use strict";

const TOKEN_KEY = "nacre.console.accessToken";

const session = {
  auth: false,       // whether the node asks for a login
  token: sessionStorage.getItem(TOKEN_KEY),
  active: false,     // whether the console (not the login form) is shown
  epoch: 0,          // bumped at every login and logout: answers of an older one are dropped
  stream: null,      // the event stream's AbortController
};

// An answer that came for a view no longer shown (a logout or login since it was asked).
class Stale extends Error {}

const state = {
  ns: null,          // the namespace shown
  svc: null,         // {group, name} shown
  instances: [],     // the last instance list read
  readAt: 0,         // when it was read (performance.now())
  history: null,     // {cluster, ip, port} whose history is shown
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

// The token, as the header every call sends (none when the node has auth off).
function headers() {
  return session.token ? { accessToken: session.token } : {};
}

async function call(method, path, body) {
  const epoch = session.epoch;
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const text = await answer.text();
  if (epoch !== session.epoch) throw new Stale();
  if (answer.status === 403) await refused(text);
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A 403: if the token is no longer good (expired, its user gone), back to the login form with
// the reason; else the caller lacks a permission, which the caller of call() shows.
async function refused(reason) {
  if (!session.auth || !session.active) return;
  const epoch = session.epoch;
  const who = await fetch("api/whoami", { headers: headers() }).catch(() => null);
  if (epoch !== session.epoch) throw new Stale();
  if (who && who.status === 403) {
    showLogin(`Logged out: ${reason}`);
    throw new Stale();
  }
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
    onclick: () => { state.ns = r.namespace; state.svc = null; state.history = null; writeHash(); refresh(); },
  }, el("span", { class: "ns-name" }, r.name || r.namespace),
  // The id beside the name when an operator named the namespace otherwise.
  ...(r.name && r.name !== r.namespace && r.namespace !== "public" ? [el("span", { class: "ns-id" }, r.namespace)] : []),
  el("span", { class: "count" }, `${r.services} svc · ${r.healthy}/${r.instances}`))));
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
      onclick: () => { state.svc = { group: r.group, name: r.name }; state.history = null; writeHash(); refresh(); },
    },
    el("td", {}, el("strong", {}, r.name)), el("td", {}, r.group),
    el("td", { class: "num" }, r.instances), el("td", { class: "num" }, r.healthy),
    el("td", { class: "num" }, r.protectThreshold));
  }));
  $("no-services").hidden = rows.length > 0;
}

async function drawInstances() {
  const epoch = session.epoch;
  const section = $("instances");
  if (!state.ns || !state.svc) { section.hidden = true; return; }
  section.hidden = false;
  $("instances-of").textContent = `${state.svc.group}@@${state.svc.name}`;
  let answer;
  try {
    answer = await call("GET", `api/instances?${query({ namespace: state.ns, group: state.svc.group, service: state.svc.name })}`);
  } catch (e) {
    if (String(e).includes(" 404 ")) { answer = { protectThreshold: 0, writable: false, instances: [] }; } else { throw e; }
  }
  if (epoch !== session.epoch) throw new Stale();
  state.instances = answer.instances;
  state.readAt = performance.now();
  // A caller who may not edit the service gets no edit control (the server refuses its edits
  // all the same).
  const writable = answer.writable !== false;
  $("instances-threshold").textContent = `(protect threshold ${answer.protectThreshold})`;
  $("read-only").hidden = writable || answer.instances.length === 0;
  $("instance-rows").replaceChildren(...answer.instances.map((i) => instanceRow(i, writable)));
  $("no-instances").hidden = answer.instances.length > 0;
  $("cluster-checks").replaceChildren(...(answer.clusters || []).map((c) => clusterRow(c, writable)));
  tick();
}

// Who made a change, as the timeline says: the front, then what it knows of the caller.
function byWhom(e) {
  const o = e.origin || {};
  const parts = [];
  if (o.front) parts.push(`via ${o.front}`);
  if (o.connection) parts.push(`connection ${o.connection}`);
  if (o.identity) parts.push(`by ${o.identity}`);
  if (o.addr) parts.push(`from ${o.addr}`);
  if (o.reason) parts.push(o.reason);
  if (e.member) parts.push(`on member ${e.member}`);
  return parts.join(" · ");
}

// The history of the instance picked with its "History" button, oldest first; redrawn with
// everything else, so it grows while it is open.
async function drawTimeline() {
  const epoch = session.epoch;
  const section = $("timeline");
  const h = state.history;
  if (!h || !state.ns || !state.svc) { section.hidden = true; return; }
  const t = await call("GET", `api/timeline?${query({ ...target(h) })}`);
  if (epoch !== session.epoch) throw new Stale();
  section.hidden = false;
  $("timeline-of").textContent = `${t.ip}:${t.port} (${t.cluster})`;
  const now = t.registered
    ? `registered, ${t.healthy ? "healthy" : "unhealthy"}${t.enabled ? "" : ", disabled"}`
    : "not registered";
  $("timeline-now").textContent = `— ${now}`;
  $("timeline-events").replaceChildren(...t.events.map((e) => el("li", { "data-kind": e.event.kind },
    el("span", { class: "when" }, new Date(e.at).toLocaleTimeString()),
    el("span", { class: "text" }, e.text),
    el("span", { class: "by" }, byWhom(e)))));
  $("no-timeline").hidden = t.events.length > 0;
  $("timeline-beats").textContent = t.lastBeat
    ? `Beats every ${seconds(t.beatIntervalMs)}; the last one ${new Date(t.lastBeat).toLocaleTimeString()}.`
    : "";
}

function target(i) {
  return { namespace: state.ns, group: state.svc.group, service: state.svc.name, cluster: i.cluster, ip: i.ip, port: i.port };
}

async function edit(i, change) {
  try {
    await call("PATCH", "api/instance", { ...target(i), ...change });
    showError("");
  } catch (e) {
    if (e instanceof Stale) return;
    showError(String(e.message || e));
  }
  refresh();
}

// A cluster's health check of its persistent instances (TCP, HTTP with a path, or NONE: set by
// hand), kept in the control plane; an editor for a caller who may write the service.
function clusterRow(c, writable) {
  const label = el("span", { class: "cluster-name" }, `Health check of cluster ${c.name}: `);
  const note = el("span", { class: "why" }, c.set ? "" : " (default)");
  if (!writable) {
    const what = c.checker === "HTTP" ? `HTTP ${c.path || "/"} expects ${c.expectedCode}` : c.checker;
    return el("p", { class: "cluster-check", "data-cluster": c.name }, label, el("span", { class: "checker" }, what), note);
  }
  const kind = el("select", { class: "checker", "aria-label": `health check of cluster ${c.name}` },
    ...["TCP", "HTTP", "NONE"].map((k) => el("option", { value: k }, k)));
  kind.value = c.checker;
  const path = el("input", { class: "check-path", type: "text", placeholder: "/health", value: c.path, "aria-label": `HTTP check path of cluster ${c.name}` });
  path.hidden = c.checker !== "HTTP";
  kind.addEventListener("change", () => { path.hidden = kind.value !== "HTTP"; });
  const save = el("button", {
    onclick: async () => {
      try {
        await call("PUT", "api/cluster", { namespace: state.ns, group: state.svc.group, service: state.svc.name, cluster: c.name, checker: kind.value, path: path.value });
        showError("");
      } catch (e) {
        if (e instanceof Stale) return;
        showError(String(e.message || e));
      }
      refresh();
    },
  }, "Save");
  return el("p", { class: "cluster-check", "data-cluster": c.name }, label, kind, " ", path, " ", save, note);
}

const OVERRIDE_TITLE = "set by an operator: kept over the client's own registrations";

// The instance whose "Deregister" was clicked once, and until when a second click confirms.
let confirming = { key: null, until: 0 };

function instanceRow(i, writable) {
  const addr = `${i.ip}:${i.port}`;
  const health = el("span", { class: `badge ${i.healthy ? "healthy" : "unhealthy"}` }, i.healthy ? "healthy" : "unhealthy");
  const cell = el("td", { class: "health" }, health);
  if (!i.enabled) cell.append(el("span", { class: "badge disabled" }, "disabled"));
  cell.append(el("span", { class: "why" }));
  // What an operator's override sets is marked: it holds over the client's registrations.
  const over = i.overridden || { enabled: false, weight: false, metadata: [] };
  const mark = (on) => on ? [el("span", { class: "override-mark", title: OVERRIDE_TITLE }, "operator")] : [];
  const meta = el("td", { class: "meta-cell" }, ...Object.entries(i.metadata).map(([k, v]) =>
    el("span", over.metadata.includes(k) ? { class: "meta overridden", title: OVERRIDE_TITLE } : { class: "meta" }, `${k}=${v}`)));
  if (!writable) {
    return el("tr", { "data-instance": addr, class: "read-only" },
      el("td", { class: "addr" }, addr), el("td", {}, i.cluster),
      el("td", { class: "weight-cell" }, i.weight, ...mark(over.weight)),
      el("td", { class: "enabled-cell" }, i.enabled ? "yes" : "no", ...mark(over.enabled)), cell,
      el("td", { class: "age" }), meta, el("td", {}, historyButton(i)));
  }
  const weight = el("input", { class: "weight", type: "number", min: "0", max: "10000", step: "any", value: i.weight, "aria-label": `weight of ${addr}` });
  const save = el("button", { onclick: () => edit(i, { weight: Number(weight.value) }) }, "Save");
  const enabled = el("input", { type: "checkbox", "aria-label": `enabled ${addr}`, onchange: () => edit(i, { enabled: enabled.checked }) });
  enabled.checked = i.enabled;
  const remove = el("button", { class: "danger" }, "Deregister");
  // "Sure?" is kept by instance, not on the button: a redraw of the table between the two
  // clicks (a change pushed meanwhile) keeps it for its 4 s.
  const key = `${i.cluster}/${addr}`;
  const armed = () => confirming.key === key && performance.now() < confirming.until;
  const show = () => {
    remove.classList.toggle("confirm", armed());
    remove.textContent = armed() ? "Sure?" : "Deregister";
  };
  show();
  if (armed()) setTimeout(show, confirming.until - performance.now() + 10);
  remove.addEventListener("click", async () => {
    if (!armed()) {
      confirming = { key, until: performance.now() + 4000 };
      show();
      setTimeout(show, 4010);
      return;
    }
    confirming = { key: null, until: 0 };
    try {
      await call("DELETE", `api/instance?${query(target(i))}`);
      showError("");
    } catch (e) {
      if (e instanceof Stale) return;
      showError(String(e.message || e));
    }
    refresh();
  });
  return el("tr", { "data-instance": addr },
    el("td", { class: "addr" }, addr), el("td", {}, i.cluster),
    el("td", { class: "weight-cell" }, weight, " ", save, ...mark(over.weight)),
    el("td", { class: "enabled-cell" }, enabled, ...mark(over.enabled)), cell,
    el("td", { class: "age" }), meta, el("td", {}, remove, " ", historyButton(i)));
}

function historyButton(i) {
  return el("button", {
    class: "history",
    onclick: () => { state.history = { cluster: i.cluster, ip: i.ip, port: i.port }; refresh(); },
  }, "History");
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
  if (pending || !session.active) return;
  pending = setTimeout(async () => {
    pending = null;
    if (!session.active) return;
    if (running) { refresh(); return; }
    running = true;
    try {
      await drawNamespaces();
      await drawServices();
      await drawInstances();
      await drawTimeline();
      await drawPreviewPanel();
      writeHash();
    } catch (e) {
      if (!(e instanceof Stale)) showError(String(e.message || e));
    } finally {
      running = false;
    }
  }, 200);
}

// The event stream, read with fetch() so that it carries the token as a header (an
// EventSource cannot): server-sent events, parsed here; when the stream ends or breaks it is
// opened again after the server's retry time, as an EventSource would.
function listen() {
  const live = $("live");
  const controller = new AbortController();
  session.stream = controller;
  let retry = 1000;
  const current = () => session.stream === controller;
  const again = () => {
    if (!current()) return;
    live.className = "live off";
    live.textContent = "reconnecting…";
    setTimeout(() => { if (current()) open(); }, retry);
  };
  const dispatch = (type) => {
    if (type === "hello") { live.className = "live on"; live.textContent = "live"; refresh(); }
    if (type === "change" || type === "resync") refresh();
  };
  async function open() {
    try {
      const answer = await fetch("api/events", { headers: headers(), signal: controller.signal, cache: "no-store" });
      if (answer.status === 403) {
        await refused(await answer.text());
        throw new Error("refused");
      }
      if (!answer.ok || !answer.body) throw new Error(`${answer.status}`);
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let type = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, cut).replace(/\r$/, "");
          buffer = buffer.slice(cut + 1);
          if (line === "") { if (type) dispatch(type); type = ""; continue; }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = text;
          else if (field === "data" && !type) type = "message";
          else if (field === "retry" && /^[0-9]+$/.test(text)) retry = Number(text);
        }
      }
    } catch (e) {
      // Ended, broken, refused or aborted: again() tells which goes on.
    }
    again();
  }
  open();
}

function stopListening() {
  const stream = session.stream;
  session.stream = null;
  if (stream) stream.abort();
}

// The login form instead of the console: the token is forgotten, with `message` said above
// the form.
function showLogin(message) {
  session.epoch += 1;
  members = null;
  session.active = false;
  session.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopListening();
  Object.assign(state, { ns: null, svc: null, instances: [], readAt: 0 });
  history.replaceState(null, "", "#");
  $("namespace-list").replaceChildren();
  $("service-rows").replaceChildren();
  $("instance-rows").replaceChildren();
  $("instances").hidden = true;
  showError("");
  $("console").hidden = true;
  $("user").hidden = true;
  $("logout").hidden = true;
  $("live").hidden = true;
  const said = $("login-message");
  said.textContent = message || "";
  said.className = "login-message";
  said.hidden = !message;
  $("login").hidden = false;
  $("username").focus();
}

function showConsole(username) {
  session.epoch += 1;
  members = null;
  session.active = true;
  $("login").hidden = true;
  $("console").hidden = false;
  $("user").textContent = username ? `signed in as ${username}` : "";
  $("user").hidden = !username;
  $("logout").hidden = !session.auth;
  const live = $("live");
  live.hidden = false;
  live.className = "live off";
  live.textContent = "connecting…";
  readHash();
  refresh();
  listen();
}

// Asks the node whether it wants a login and whose the token is; shows the console or the
// login form.
// The failure preview of a member's stop (a cluster member only): what moves, when the
// survivors notice, when the instances whose beats stop turn unhealthy and go.
let members = null; // read once per login: {me, members}, or {members: []} when not allowed
async function drawPreviewPanel() {
  if (!members) {
    try {
      members = await call("GET", "api/members");
    } catch (e) {
      if (e instanceof Stale) throw e;
      members = { members: [] }; // a caller who may not read everything sees no preview
    }
  }
  const m = members;
  const section = $("preview");
  section.hidden = !m.members || m.members.length < 2;
  if (section.hidden) return;
  $("preview-me").textContent = `(computed by ${m.me})`;
  const select = $("preview-member");
  if (select.options.length !== m.members.length) {
    select.replaceChildren(...m.members.map((id) => el("option", { value: id }, id)));
  }
}

const clock = (at) => new Date(at.epochMs).toLocaleTimeString();

async function runPreview() {
  const out = $("preview-result");
  try {
    const p = await call("GET", `api/preview?${query({ stop: $("preview-member").value })}`);
    const t = p.totals;
    const d = p.detection;
    const rows = p.services.filter((s) => s.moved).slice(0, 50).map((s) => el("tr", {},
      el("td", {}, `${s.service.group}@@${s.service.name}`), el("td", {}, s.oldOwner), el("td", {}, s.newOwner),
      el("td", { class: "num" }, s.instances),
      el("td", {}, s.firstChangeIfBeatsStop ? clock(s.firstChangeIfBeatsStop) : "—")));
    const worst = t.ifBeatsStop;
    out.replaceChildren(
      el("p", { class: "preview-detection" }, d
        ? `Noticed at ${clock(d.expected)} (between ${clock(d.earliest)} and ${clock(d.latest)}).`
        : "A planned change: in force at once."),
      el("p", { class: "preview-totals" },
        `${t.servicesMoved} of ${t.services} services change owner (${t.instancesMoved} instances). ` +
        `If their clients' beats stop: ${worst.unhealthy} turn unhealthy and ${worst.removed} are removed` +
        (worst.firstChange ? `, from ${clock(worst.firstChange)} to ${clock(worst.lastChange)}` : "") +
        `; ${worst.servicesPushed} services pushed.`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Service"), el("th", {}, "Owner now"),
        el("th", {}, "Owner after"), el("th", { class: "num" }, "Instances"), el("th", {}, "First change"))),
      el("tbody", {}, ...rows)));
    showError("");
  } catch (e) {
    if (e instanceof Stale) return;
    showError(String(e.message || e));
  }
}

$("preview-run").addEventListener("click", runPreview);

$("timeline-close").addEventListener("click", () => { state.history = null; $("timeline").hidden = true; });

async function start() {
  let answer;
  try {
    answer = await fetch("api/whoami", { headers: headers() });
  } catch (e) {
    showError(`the node does not answer: ${e.message || e}`);
    setTimeout(start, 2000);
    return;
  }
  const text = await answer.text();
  if (answer.status === 403) {
    session.auth = true;
    showLogin(session.token ? `Logged out: ${text}` : "");
    return;
  }
  if (!answer.ok) {
    showError(`GET api/whoami: ${answer.status} ${text}`);
    setTimeout(start, 2000);
    return;
  }
  showError("");
  const who = JSON.parse(text);
  session.auth = who.auth === true;
  showConsole(session.auth ? who.username : null);
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const said = $("login-message");
  const button = $("login-button");
  button.disabled = true;
  try {
    const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const answer = await fetch("api/login", { method: "POST", body });
    const text = await answer.text();
    if (!answer.ok) {
      said.textContent = `Login failed: ${text || answer.status}`;
      said.className = "login-message";
      said.hidden = false;
      return;
    }
    const login = JSON.parse(text);
    session.token = login.accessToken;
    sessionStorage.setItem(TOKEN_KEY, session.token);
    $("password").value = "";
    said.hidden = true;
    await start();
  } catch (err) {
    said.textContent = `Login failed: ${err.message || err}`;
    said.className = "login-message";
    said.hidden = false;
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  showLogin("Logged out.");
  $("login-message").className = "login-message info";
});

window.addEventListener("hashchange", () => { readHash(); refresh(); });
start();
setInterval(tick, 500);
