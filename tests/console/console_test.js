// The web console in a real headless Chromium (playwright-core), against a running
// nacre-server, and then against one with auth on (its users: admin/admin-pw, the global
// admin, and viewer/viewer-pw, who may only read public DEFAULT_GROUP@@orders):
// node console_test.js HOST:PORT NODE_MODULES SCREENSHOT.png AUTH_HOST:PORT
"use strict";

const [addr, modules, shot, authAddr] = process.argv.slice(2);
const { chromium } = require(`${modules}/playwright-core`);
const base = `http://${addr}`;
const PATIENCE = 30000;
let passed = 0;

function check(what, ok) {
  if (!ok) throw new Error(`check failed: ${what}`);
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}

async function nacos(method, path) {
  const answer = await fetch(base + path, { method });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
  return text;
}

async function eventually(what, probe) {
  const start = Date.now();
  for (;;) {
    if (await probe()) return;
    if (Date.now() - start > PATIENCE) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const meta = (s) => encodeURIComponent(s);
const consoleInstances = async () =>
  JSON.parse(await nacos("GET", "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=orders")).instances;

// An instance's history reads as its story in the page: registered over gRPC by a real
// client (nacos-sdk-python 3.2.0, a process of its own), disabled in the page, its client lost
// (frozen with SIGSTOP until the server drops its connection: withdrawn), and back by the
// client's redo once it thaws (SIGCONT).
async function timelineStory(browser) {
  const { spawn } = require("child_process");
  const python = process.env.PROVIDER_PY;
  if (!python) throw new Error("no PROVIDER_PY: the timeline phase did not run");
  const provider = spawn(python, [`${__dirname}/grpc_provider.py`, addr, process.env.GRPC_OFFSET || "1000",
    process.env.PROVIDER_LOG || "/tmp/nacre-provider"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the provider did not register within 60 s")), 60000);
      let out = "";
      provider.stdout.on("data", (d) => {
        out += d;
        if (out.includes("REGISTERED")) { clearTimeout(timer); resolve(); }
      });
      provider.on("exit", (code) => reject(new Error(`the provider exited (${code})`)));
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 800 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${base}/console/#ns=public&svc=DEFAULT_GROUP@@story`);
    const row = 'tr[data-instance="10.0.0.9:9090"]';
    await page.waitForSelector(row, { timeout: PATIENCE });
    await page.click(`${row} button.history`);
    const entry = (kind) => `#timeline-events li[data-kind="${kind}"]`;
    await page.waitForSelector(entry("registered"), { timeout: PATIENCE });
    const registered = await page.textContent(entry("registered"));
    check(`the history opens: "${registered.trim()}"`, /registered.*via grpc.*connection/.test(registered));

    await page.click(`${row} input[type=checkbox]`);
    await page.waitForSelector(entry("disabled"), { timeout: PATIENCE });
    const disabled = await page.textContent(entry("disabled"));
    check(`disabling in the page is recorded as the console's: "${disabled.trim()}"`, /disabled.*via console/.test(disabled));

    process.kill(provider.pid, "SIGSTOP");
    await page.waitForSelector(entry("connectionClosed"), { timeout: 60000 });
    const lost = await page.textContent(entry("connectionClosed"));
    check(`the lost client's instance is withdrawn: "${lost.trim()}"`, /connection that registered it closed/.test(lost));
    await page.waitForSelector(row, { state: "detached", timeout: PATIENCE });
    check("and leaves the instance list; its history stays open", await page.isVisible("#timeline")
      && (await page.textContent("#timeline-now")).includes("not registered"));

    process.kill(provider.pid, "SIGCONT");
    await page.waitForSelector(entry("reregistered"), { timeout: 90000 });
    const back = await page.textContent(entry("reregistered"));
    check(`the thawed client's redo brings it back: "${back.trim()}"`, /registered again after its removal.*via grpc/.test(back));
    await page.waitForSelector(row, { timeout: PATIENCE });
    const kinds = await page.$$eval("#timeline-events li", (items) => items.map((i) => i.dataset.kind));
    const story = ["registered", "disabled", "connectionClosed", "reregistered"];
    let at = 0;
    for (const k of kinds) if (k === story[at]) at += 1;
    check(`the history reads as that story, in order (${kinds.join(", ")})`, at === story.length);
    const api = JSON.parse(await nacos("GET", "/nacre/v1/ns/instance/timeline?serviceName=story&ip=10.0.0.9&port=9090"));
    check("the API answers the same story, newest last",
      api.events.map((e) => e.event.kind).join() === kinds.join() && api.registered && api.enabled === false);
    check(`no script error in the history (${errors.join("; ")})`, errors.length === 0);
    await page.close();
  } finally {
    try { process.kill(provider.pid, "SIGCONT"); } catch (_) { /* gone */ }
    provider.kill("SIGKILL");
  }
}

// The phase against the server with auth.
async function withAuth(browser, server) {
  const TOKEN_KEY = "nacre.console.accessToken";
  // The v1 API as the admin, token in a header.
  const login = async (user, password) => {
    const answer = await fetch(`${server}/nacos/v1/auth/login`, {
      method: "POST", body: new URLSearchParams({ username: user, password }),
    });
    if (!answer.ok) throw new Error(`login ${user}: ${answer.status} ${await answer.text()}`);
    return (await answer.json()).accessToken;
  };
  const admin = await login("admin", "admin-pw");
  const api = async (method, path) => {
    const answer = await fetch(server + path, { method, headers: { accessToken: admin } });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
    return text;
  };
  const register = (service, ip) =>
    api("POST", `/nacos/v1/ns/instance?serviceName=${service}&ip=${ip}&port=8080&ephemeral=false`);
  const stored = async (ip) => {
    const list = JSON.parse(await api("GET", "/nacos/v1/ns/instance/list?serviceName=orders&healthyOnly=false"));
    return list.hosts.find((h) => h.ip === ip);
  };
  await register("orders", "10.0.2.1");
  await register("secret", "10.0.2.9");

  // A fresh context per user: a session of its own, as a new tab would have.
  const context = await browser.newContext({ viewport: { width: 1440, height: 600 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const urls = [];
  const unsent = [];
  page.on("request", (r) => {
    urls.push(r.url());
    const path = new URL(r.url()).pathname;
    const open = ["/console/api/login", "/console/api/whoami"].includes(path);
    if (path.startsWith("/console/api/") && !open && !r.headers()["accesstoken"]) unsent.push(`${r.method()} ${r.url()}`);
  });

  const mode = await (await fetch(`${server}/console/api/whoami`)).text();
  if (mode.includes('"auth":false')) {
    throw new Error("the server started with --users-file serves its console without auth (src/server/fronts.rs must give the console the server's Access: Console::access)");
  }
  await page.goto(`${server}/console/`);
  await page.waitForSelector("#login-form", { state: "visible", timeout: PATIENCE });
  check("with auth on, the page shows the login form and nothing else", await page.isHidden("#console"));
  // Beside the screenshot: the login form, and later a read-only user's view.
  await page.screenshot({ path: shot.replace(/\.png$/, "") + "-login.png" });

  await page.fill("#username", "admin");
  await page.fill("#password", "not-the-password");
  await page.click("#login-button");
  await page.waitForSelector("#login-message:not([hidden])", { timeout: PATIENCE });
  const refusal = await page.textContent("#login-message");
  check(`a wrong password is refused and said (${refusal})`, /^Login failed: /.test(refusal) && await page.isHidden("#console"));

  // The read-write user: logs in, sees services live, edits.
  await page.fill("#password", "admin-pw");
  await page.click("#login-button");
  await page.waitForSelector("#live.on", { timeout: PATIENCE });
  check("the admin logs in and the event stream is live", (await page.textContent("#user")) === "signed in as admin");
  await page.waitForSelector('tr[data-service="DEFAULT_GROUP@@secret"]', { timeout: PATIENCE });
  await page.click('tr[data-service="DEFAULT_GROUP@@orders"]');
  await page.waitForSelector('tr[data-instance="10.0.2.1:8080"]', { timeout: PATIENCE });
  await register("orders", "10.0.2.2");
  await page.waitForSelector('tr[data-instance="10.0.2.2:8080"]', { timeout: PATIENCE });
  check("the admin sees every service, and a new instance appears live", await page.isVisible('tr[data-service="DEFAULT_GROUP@@orders"]'));
  const row = 'tr[data-instance="10.0.2.1:8080"]';
  await page.fill(`${row} input.weight`, "4");
  await page.click(`${row} button:has-text("Save")`);
  await eventually("the admin's weight to be stored", async () => (await stored("10.0.2.1")).weight === 4);
  check("the admin's edit is stored", true);
  const kept = await page.evaluate((key) => ({
    session: sessionStorage.getItem(key), local: localStorage.length, cookies: document.cookie,
  }), TOKEN_KEY);
  check("the token is in sessionStorage, not in localStorage or a cookie", !!kept.session && kept.local === 0 && kept.cookies === "");

  await page.click("#logout");
  await page.waitForSelector("#login-form", { state: "visible", timeout: PATIENCE });
  const forgotten = await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY);
  check("logout returns to the form and forgets the token", forgotten === null && await page.isHidden("#console"));

  // The read-only user: its services only, live, and no edit control.
  await page.fill("#username", "viewer");
  await page.fill("#password", "viewer-pw");
  await page.click("#login-button");
  await page.waitForSelector("#live.on", { timeout: PATIENCE });
  check("the viewer logs in", (await page.textContent("#user")) === "signed in as viewer");
  await page.waitForSelector('tr[data-service="DEFAULT_GROUP@@orders"]', { timeout: PATIENCE });
  const count = await page.textContent('li[data-namespace="public"] .count');
  check(`the viewer's namespace counts only what it may read (${count})`, count === "1 svc · 2/2");
  check("the viewer does not see the service it may not read", (await page.$$('tr[data-service="DEFAULT_GROUP@@secret"]')).length === 0);
  // A change it may not read, then one it may: once the second shows, the first did not.
  await register("secret", "10.0.2.10");
  await register("orders", "10.0.2.3");
  await page.waitForFunction(() => /1 svc · 3\/3/.test(document.querySelector('li[data-namespace="public"] .count').textContent), null, { timeout: PATIENCE });
  check("the viewer's page follows its service live and still lacks the other", (await page.$$('tr[data-service="DEFAULT_GROUP@@secret"]')).length === 0);
  await page.click('tr[data-service="DEFAULT_GROUP@@orders"]');
  await page.waitForSelector('tr[data-instance="10.0.2.3:8080"]', { timeout: PATIENCE });
  const controls = await page.$$("#instance-rows input, #instance-rows button:not(.history)");
  check(`the viewer has no edit control (${controls.length}) and is told it reads only`, controls.length === 0 && await page.isVisible("#read-only"));
  // Reading a history needs read permission only.
  await page.click('tr[data-instance="10.0.2.3:8080"] button.history');
  await page.waitForSelector('#timeline-events li[data-kind="registered"]', { timeout: PATIENCE });
  check("the viewer reads an instance's history", true);
  const weight = await page.textContent(`${row} td.weight-cell`);
  check(`the viewer sees the weight (${weight})`, weight === "4");
  await page.screenshot({ path: shot.replace(/\.png$/, "") + "-read-only.png" });

  // Forced edits from the page, with its own token: refused, nothing changed.
  const forced = await page.evaluate(async (key) => {
    const token = sessionStorage.getItem(key);
    const target = { namespace: "public", group: "DEFAULT_GROUP", service: "orders", cluster: "DEFAULT", ip: "10.0.2.1", port: 8080 };
    const patch = await fetch("api/instance", {
      method: "PATCH", headers: { accessToken: token, "content-type": "application/json" },
      body: JSON.stringify({ ...target, weight: 7, enabled: false }),
    });
    const remove = await fetch(`api/instance?${new URLSearchParams(target)}`, { method: "DELETE", headers: { accessToken: token } });
    return { patch: patch.status, why: await patch.text(), remove: remove.status };
  }, TOKEN_KEY);
  check(`the viewer's forced edit and deregistration get 403 (${forced.why})`, forced.patch === 403 && forced.remove === 403);
  const after = await stored("10.0.2.1");
  check("and the instance is unchanged (read over the v1 API as the admin)", after && after.weight === 4 && after.enabled === true);

  // A token that is no longer good: the next call brings the form back with the reason.
  await page.evaluate(() => { session.token = "no-longer-good"; });
  await register("orders", "10.0.2.4");
  await page.waitForSelector("#login-form", { state: "visible", timeout: PATIENCE });
  const said = await page.textContent("#login-message");
  check(`an invalid token returns to the login form with a message (${said})`, /^Logged out: /.test(said));

  check(`no URL carried a token (${urls.filter((u) => /accessToken|eyJ/.test(u)).join(", ")})`, !urls.some((u) => /accessToken|eyJ/.test(u)));
  check(`every API call sent the token header (${unsent.join(", ")})`, unsent.length === 0);
  check(`nothing was loaded from elsewhere`, urls.every((u) => u.startsWith(server)));
  check(`no script error (${errors.join("; ")})`, errors.length === 0);
  await context.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let beating = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 600 } });
    const foreign = [];
    page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    let loads = 0;
    page.on("load", () => { loads += 1; });

    await page.goto(`${base}/console/`);
    await page.waitForSelector("#live.on", { timeout: PATIENCE });
    check("the page loads and its event stream is live", true);
    check("an empty registry says so", await page.isVisible("#no-namespaces"));

    // A provider that keeps beating, one that stops after registering (unhealthy after
    // 1 s), and another service.
    await nacos("POST", `/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080&metadata=${meta("version=1.4.2,zone=eu-1")}`);
    beating = setInterval(() => {
      nacos("PUT", "/nacos/v1/ns/instance/beat?serviceName=orders&ip=10.0.0.1&port=8080").catch(() => {});
    }, 500);
    await nacos("POST", `/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.2&port=8080&metadata=${meta("preserved.heart.beat.timeout=1000,preserved.ip.delete.timeout=600000,version=1.4.2,zone=eu-2")}`);
    await nacos("POST", "/nacos/v1/ns/instance?serviceName=payments&groupName=BILLING&ip=10.0.1.7&port=9090&weight=2&clusterName=EAST");

    // A namespace created through the namespace API (the server runs a control plane): listed
    // by its name though it holds no service.
    await nacos("POST", "/nacos/v1/console/namespaces?customNamespaceId=team-web&namespaceName=Team%20Web");
    await page.waitForSelector('li[data-namespace="public"]', { timeout: PATIENCE });
    await page.waitForSelector('tr[data-service="DEFAULT_GROUP@@orders"]', { timeout: PATIENCE });
    await page.waitForSelector('tr[data-service="BILLING@@payments"]', { timeout: PATIENCE });
    check("the namespace and services appear without a reload", loads === 1);
    await page.waitForSelector('li[data-namespace="team-web"]', { timeout: PATIENCE });
    const teamName = await page.textContent('li[data-namespace="team-web"] .ns-name');
    const teamId = await page.textContent('li[data-namespace="team-web"] .ns-id');
    check(`a created namespace is listed by its name, its id beside it (${teamName}, ${teamId})`,
      teamName === "Team Web" && teamId === "team-web");
    const ordersRow = await page.textContent('tr[data-service="DEFAULT_GROUP@@orders"]');
    check(`the services view counts instances (${ordersRow.trim()})`, /orders\s*DEFAULT_GROUP\s*2/.test(ordersRow));

    await page.click('tr[data-service="DEFAULT_GROUP@@orders"]');
    const one = 'tr[data-instance="10.0.0.1:8080"]';
    const two = 'tr[data-instance="10.0.0.2:8080"]';
    await page.waitForSelector(two, { timeout: PATIENCE });
    check("the instances view lists both", await page.isVisible(one));
    const metaText = await page.textContent(`${one} td:nth-child(7)`);
    check("metadata is shown", metaText.includes("zone=eu-1"));

    await page.waitForFunction((sel) => {
      const row = document.querySelector(sel);
      return row && row.querySelector(".badge.unhealthy")
        && /^no beat for [0-9.]+ s; the limit is 1 s$/.test(row.querySelector(".why").textContent);
    }, two, { timeout: PATIENCE });
    const why = await page.textContent(`${two} .why`);
    check(`the silent instance turns unhealthy live and says why: "${why}"`, loads === 1);
    check("the beating one stays healthy", await page.isVisible(`${one} .badge.healthy`));
    const age = await page.textContent(`${one} td.age`);
    check(`the age of the last beat is shown (${age})`, /^[0-9.]+ s ago$/.test(age));
    await page.waitForTimeout(300);
    await page.screenshot({ path: shot });
    check(`screenshot saved to ${shot}`, true);

    // Edits through the page.
    await page.fill(`${one} input.weight`, "3");
    await page.click(`${one} button:has-text("Save")`);
    await eventually("the weight to be 3", async () => JSON.parse(await nacos("GET", "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080")).weight === 3);
    check("the weight set in the page is stored", true);
    await page.click(`${one} input[type=checkbox]`);
    await eventually("10.0.0.1 to be disabled", async () => (await consoleInstances()).some((i) => i.ip === "10.0.0.1" && !i.enabled));
    await page.waitForSelector(`${one} .badge.disabled`, { timeout: PATIENCE });
    check("disabling in the page disables it, and the page shows it", true);
    await page.waitForSelector(`${one} .weight-cell .override-mark`, { timeout: PATIENCE });
    await page.waitForSelector(`${one} .enabled-cell .override-mark`, { timeout: PATIENCE });
    check("the page marks the weight and enabled flag an operator set", (await page.$$(`${two} .override-mark`)).length === 0);
    // The client registers again, with its own weight and enabled flag: the edits hold.
    await nacos("POST", `/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080&weight=1&enabled=true&metadata=${meta("version=1.4.2,zone=eu-1")}`);
    await page.waitForTimeout(300);
    const held = (await consoleInstances()).find((i) => i.ip === "10.0.0.1");
    check(`the page's edits hold over the client's re-registration (weight ${held.weight}, enabled ${held.enabled})`,
      held.weight === 3 && held.enabled === false && held.overridden && held.overridden.weight && held.overridden.enabled);
    await page.waitForSelector(`${one} .badge.disabled`, { timeout: PATIENCE });
    // A cluster's health check, set in the page and kept in the control plane.
    const checkOf = 'p.cluster-check[data-cluster="DEFAULT"]';
    await page.waitForSelector(`${checkOf} select.checker`, { timeout: PATIENCE });
    const defaultNote = await page.textContent(`${checkOf} .why`);
    await page.selectOption(`${checkOf} select.checker`, "HTTP");
    await page.fill(`${checkOf} input.check-path`, "/health");
    await page.click(`${checkOf} button`);
    const clusterOf = async () => JSON.parse(await nacos("GET", "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=orders")).clusters.find((c) => c.name === "DEFAULT");
    await eventually("DEFAULT to be checked over HTTP /health", async () => {
      const c = await clusterOf();
      return c && c.checker === "HTTP" && c.path === "/health" && c.set;
    });
    await page.waitForFunction((sel) => document.querySelector(`${sel} select.checker`).value === "HTTP" && !document.querySelector(`${sel} input.check-path`).hidden, checkOf, { timeout: PATIENCE });
    check(`the page sets a cluster's health check (HTTP /health; before, TCP${defaultNote})`, defaultNote.includes("default"));
    await page.selectOption(`${checkOf} select.checker`, "NONE");
    await page.click(`${checkOf} button`);
    await eventually("DEFAULT to be checked by hand (NONE)", async () => (await clusterOf()).checker === "NONE");
    await page.waitForFunction((sel) => document.querySelector(`${sel} select.checker`).value === "NONE", checkOf, { timeout: PATIENCE });
    check("and back to NONE (health set by hand)", true);
    // The first click arms the button; a redraw of the table (a change pushed meanwhile) keeps
    // it armed, so the second confirms.
    await page.click(`${two} button.danger`);
    await page.evaluate(() => drawInstances());
    await page.click(`${two} button.danger.confirm`);
    await page.waitForSelector(two, { state: "detached", timeout: PATIENCE });
    check("deregister removes it from the page", !(await consoleInstances()).some((i) => i.ip === "10.0.0.2"));

    check(`nothing was loaded from elsewhere (${foreign.join(", ")})`, foreign.length === 0);
    check(`no script error (${errors.join("; ")})`, errors.length === 0);
    check("never reloaded", loads === 1);
    check("without auth the page shows no login and no logout", await page.isHidden("#login") && await page.isHidden("#logout"));
    await page.close();

    await timelineStory(browser);
    if (!authAddr) throw new Error("no AUTH_HOST:PORT: the auth phase did not run");
    await withAuth(browser, `http://${authAddr}`);
    console.log(`${passed} passed, 0 failed`);
  } finally {
    if (beating) clearInterval(beating);
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, 1 failed`);
  process.exit(1);
});
