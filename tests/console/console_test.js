// The web console in a real headless Chromium (playwright-core), against a running
// nacre-server: node console_test.js HOST:PORT NODE_MODULES SCREENSHOT.png
"use strict";

const [addr, modules, shot] = process.argv.slice(2);
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

    await page.waitForSelector('li[data-namespace="public"]', { timeout: PATIENCE });
    await page.waitForSelector('tr[data-service="DEFAULT_GROUP@@orders"]', { timeout: PATIENCE });
    await page.waitForSelector('tr[data-service="BILLING@@payments"]', { timeout: PATIENCE });
    check("the namespace and services appear without a reload", loads === 1);
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
    await page.click(`${two} button.danger`);
    await page.click(`${two} button.danger.confirm`);
    await page.waitForSelector(two, { state: "detached", timeout: PATIENCE });
    check("deregister removes it from the page", !(await consoleInstances()).some((i) => i.ip === "10.0.0.2"));

    check(`nothing was loaded from elsewhere (${foreign.join(", ")})`, foreign.length === 0);
    check(`no script error (${errors.join("; ")})`, errors.length === 0);
    check("never reloaded", loads === 1);
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
