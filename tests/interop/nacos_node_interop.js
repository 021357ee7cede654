// Drives a running nacre-server with the npm Nacos client `nacos-naming` (2.6.x), which speaks
// the Nacos v1 HTTP API and takes UDP pushes on a socket of its own.
//
// Usage: node nacos_node_interop.js HOST:PORT NODE_MODULES_DIR
//
// NODE_MODULES_DIR holds nacos-naming (tests/interop/lib.sh's `nacos_node_modules` installs it).
// Two clients take part: A registers and deregisters, B subscribes. Prints one line per check
// (`ok - ...` / `not ok - ...`), lines starting with `#` as diagnostics, then `N passed, M
// failed`; exits 1 if any check failed.
//
// Two things are put between each client and its HTTP library (the client's own `httpclient`
// option; nothing else of the client is touched):
// - `clientIP`: the client sends the machine's first eth* IPv4 address (the `address`
//   package, read once when the client module loads; no option or environment variable
//   changes it), and a server pushes to clientIP:udpPort. The test rewrites it to 127.0.0.1
//   so that pushes stay on loopback; the client's UDP socket listens on every address, so
//   it receives them there as it would on the LAN address.
// - B's `instance/list` requests can be held for the push check (see there).
'use strict';

const path = require('path');
const util = require('util');

const [SERVER, MODULES] = process.argv.slice(2);
if (!SERVER || !MODULES) {
  console.error('usage: node nacos_node_interop.js HOST:PORT NODE_MODULES_DIR');
  process.exit(2);
}

// With Alibaba Cloud credentials in the environment the client signs its requests, and with
// ALIBABA_CLOUD_CREDENTIALS_URI it fetches them from that address first: neither belongs here.
for (const name of Object.keys(process.env)) {
  if (name.startsWith('ALIBABA_CLOUD_')) delete process.env[name];
}

const clientDir = path.join(MODULES, 'nacos-naming');
const { NacosNamingClient } = require(clientDir);
// The HTTP library the client itself would use (its default `httpclient`).
const urllib = require(require.resolve('urllib', { paths: [clientDir] }));
const clientVersion = require(path.join(clientDir, 'package.json')).version;

const GROUP = 'DEFAULT_GROUP';
const SERVICE = `node-interop-${process.pid}`;
const GROUPED = `${GROUP}@@${SERVICE}`;
const A1 = { ip: '127.0.0.1', port: 18081, weight: 2, metadata: { who: 'a1' } };
const A2 = { ip: '127.0.0.1', port: 18082, weight: 1, metadata: { who: 'a2' } };
const GENEROUS_MS = 15000;
const PUSH_DEADLINE_MS = 2000;

let passed = 0;
let failed = 0;

function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}

function notOk(name, why) {
  failed++;
  console.log(`not ok - ${name}`);
  for (const line of String(why).split('\n')) console.log(`#   ${line}`);
}

async function check(name, fn) {
  try {
    const note = await fn();
    ok(note ? `${name} (${note})` : name);
  } catch (err) {
    // An unmet expectation is told by its message; anything else with its stack.
    notOk(name, err instanceof Unmet ? err.message : err && err.stack ? err.stack : err);
  }
}

class Unmet extends Error {}

function expect(cond, message) {
  if (!cond) throw new Unmet(message);
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// Polls `cond` every 10 ms until it holds (answers the time it first held) or `ms` passed
// (answers null).
async function waitFor(cond, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const at = await cond();
    if (at) return typeof at === 'number' ? at : Date.now();
    if (Date.now() >= deadline) return null;
    await sleep(10);
  }
}

// The logger the client requires: keeps the push receiver's reports, shows warnings and
// errors as diagnostics, drops the rest.
function makeLogger(name) {
  const logger = {
    pushes: [],
    debug() {},
    info(format, ...args) {
      if (typeof format === 'string' && format.startsWith('[PushReceiver] received push data')) {
        logger.pushes.push({ at: Date.now(), packet: String(args[0]) });
      }
    },
    warn(...args) {
      console.log(`# ${name} warn: ${util.format(...args).split('\n')[0]}`);
    },
    error(...args) {
      console.log(`# ${name} error: ${util.format(...args).split('\n')[0]}`);
    },
  };
  return logger;
}

// What the client hands its HTTP library goes through here: `clientIP` is rewritten (see the
// top of the file), requests are recorded, and `instance/list` requests and their answers can
// be held back.
function makeHttpClient(name) {
  const http = {
    requests: [],
    gate: null,
    held: 0,
    hold() {
      let open;
      const promise = new Promise(resolve => { open = resolve; });
      http.gate = { promise, open };
    },
    release() {
      if (http.gate) http.gate.open();
      http.gate = null;
    },
    async passGate() {
      while (http.gate) {
        http.held++;
        await http.gate.promise;
      }
    },
    async request(url, options = {}) {
      const data = options.data || {};
      const entry = {
        at: Date.now(),
        method: options.method,
        path: new URL(url).pathname,
        data: Object.assign({}, data),
        headers: Object.assign({}, options.headers),
      };
      http.requests.push(entry);
      if (Object.prototype.hasOwnProperty.call(data, 'clientIP')) {
        options = Object.assign({}, options, { data: Object.assign({}, data, { clientIP: '127.0.0.1' }) });
      }
      const list = entry.path.endsWith('/instance/list');
      if (list) await http.passGate();
      const res = await urllib.request(url, options);
      if (list) await http.passGate();
      entry.status = res.status;
      if (res.status !== 200) {
        console.log(`# ${name}: ${entry.method} ${entry.path} answered ${res.status}: ${res.data}`);
      }
      return res;
    },
  };
  return http;
}

function client(name) {
  const logger = makeLogger(name);
  const http = makeHttpClient(name);
  const c = new NacosNamingClient({ logger, serverList: SERVER, namespace: 'public', httpclient: http });
  c.on('error', err => console.log(`# ${name} client error: ${err && err.message}`));
  return { c, logger, http };
}

const addr = h => `${h.ip}:${h.port}`;
const addrs = hosts => hosts.map(addr).sort().join(',');

function expectHosts(hosts, want, what) {
  expect(Array.isArray(hosts), `${what}: not a list: ${util.inspect(hosts)}`);
  expect(addrs(hosts) === addrs(want), `${what}: hosts ${addrs(hosts) || '(none)'}, expected ${addrs(want)}`);
  for (const w of want) {
    const h = hosts.find(x => addr(x) === addr(w));
    const fields = {
      weight: [h.weight, w.weight],
      metadata: [JSON.stringify(h.metadata), JSON.stringify(w.metadata)],
      clusterName: [h.clusterName, 'DEFAULT'],
      serviceName: [h.serviceName, GROUPED],
      healthy: [h.healthy, true],
      enabled: [h.enabled, true],
      ephemeral: [h.ephemeral, true],
    };
    for (const [field, [got, expected]] of Object.entries(fields)) {
      expect(got === expected, `${what}: ${addr(w)} ${field} is ${util.inspect(got)}, expected ${util.inspect(expected)}`);
    }
  }
}

async function main() {
  console.log(`# nacos-naming ${clientVersion} against ${SERVER}, service ${GROUPED}`);
  const a = client('A');
  const b = client('B');
  await Promise.all([a.c.ready(), b.c.ready()]);

  await check('getServerStatus() answers UP', async () => {
    // Retried: the server may still be starting.
    let last;
    const at = await waitFor(async () => (last = await a.c.getServerStatus()) === 'UP', GENEROUS_MS);
    expect(at, `getServerStatus() answered ${last}`);
  });

  // B's listener: every host list it is given, with the time.
  const seen = [];
  const latest = () => (seen.length ? seen[seen.length - 1] : null);
  const bSees = want => () => {
    const last = latest();
    return last && addrs(last.hosts) === addrs(want) ? last.at : false;
  };

  await check('A registers, B subscribes and its listener sees the instance', async () => {
    await a.c.registerInstance(SERVICE, A1, GROUP);
    b.c.subscribe({ serviceName: SERVICE, groupName: GROUP }, hosts => seen.push({ at: Date.now(), hosts }));
    const at = await waitFor(bSees([A1]), GENEROUS_MS);
    expect(at, `B's listener saw ${util.inspect(seen.map(s => addrs(s.hosts)))}, expected ${addr(A1)}`);
    const first = b.http.requests.find(r => r.path.endsWith('/instance/list'));
    expect(first && Number(first.data.udpPort) > 0, `B's list request carried no UDP port: ${util.inspect(first)}`);
    return `B listens for pushes on UDP ${first.data.udpPort}`;
  });

  await check(`B is pushed A's second instance within ${PUSH_DEADLINE_MS} ms`, async () => {
    // Without a push, B learns of the change at its next pull of instance/list: 1 s after it
    // subscribed, then every `cacheMillis` of the last answer (nacre answers 3000 while it
    // does not push; Nacos 10000 to a client it pushes to). A 3 s period lands a pull inside
    // any 2 s window two times in three, so left alone this check could pass without any
    // push. B's instance/list requests, and the answers to any already under way, are
    // therefore held from before A registers until the window has closed: inside it only a
    // UDP push can reach B's listener. B's UDP socket is not touched.
    const pushesBefore = b.logger.pushes.length;
    const heldBefore = b.http.held;
    b.http.hold();
    let registered;
    let at;
    try {
      await a.c.registerInstance(SERVICE, A2, GROUP);
      registered = Date.now();
      at = await waitFor(bSees([A1, A2]), PUSH_DEADLINE_MS);
    } finally {
      b.http.release();
    }
    const pushes = b.logger.pushes.slice(pushesBefore);
    const pushNote = pushes.length
      ? `${pushes.length} UDP push(es), the first ${pushes[0].at - registered} ms after the register`
      : 'no UDP push';
    if (pushes.length) console.log(`# B's first push: ${pushes[0].packet.slice(0, 600)}`);
    if (at) return `${Math.max(0, at - registered)} ms; ${pushNote}`;
    // Say whether B sees it at all (by its pull, now let through), to tell a missing push
    // from a push the client could not use.
    const late = await waitFor(bSees([A1, A2]), GENEROUS_MS);
    throw new Unmet(
      [
        `B's listener did not see ${addrs([A1, A2])} within ${PUSH_DEADLINE_MS} ms of the register`,
        `B got ${pushNote}`,
        late
          ? `B saw it ${late - registered} ms after the register, by a pull (${heldBefore === b.http.held ? 'none' : b.http.held - heldBefore} instance/list request(s) or answer(s) held in the window)`
          : `B had not seen it ${GENEROUS_MS} ms later either; last seen ${util.inspect(latest() && addrs(latest().hosts))}`,
      ].join('\n')
    );
  });

  await check('getAllInstances and selectInstances answer what was registered', async () => {
    // Wait until both are there (the push check above may have failed), then ask.
    await waitFor(bSees([A1, A2]), GENEROUS_MS);
    // Subscribing reads (B: cached, pulled once, then kept up to date) and direct reads (A).
    expectHosts(await b.c.getAllInstances(SERVICE, GROUP), [A1, A2], 'B getAllInstances');
    expectHosts(await b.c.selectInstances(SERVICE, GROUP), [A1, A2], 'B selectInstances healthy');
    expectHosts(await a.c.getAllInstances(SERVICE, GROUP, 'DEFAULT', false), [A1, A2], 'A getAllInstances DEFAULT, not subscribing');
    expectHosts(await a.c.selectInstances(SERVICE, GROUP, '', true, false), [A1, A2], 'A selectInstances healthy, not subscribing');
    const unhealthy = await a.c.selectInstances(SERVICE, GROUP, '', false, false);
    expect(Array.isArray(unhealthy) && unhealthy.length === 0, `A selectInstances unhealthy: ${util.inspect(unhealthy)}`);
    const other = await a.c.getAllInstances(SERVICE, GROUP, 'OTHER', false);
    expect(Array.isArray(other) && other.length === 0, `A getAllInstances OTHER cluster: ${util.inspect(other)}`);
  });

  await check("A deregisters its second instance and B's listener sees it go", async () => {
    // The client ignores an answer (pulled or pushed) with no hosts at all, so the first
    // instance stays: removing the last one would never reach a listener.
    await a.c.deregisterInstance(SERVICE, A2, GROUP);
    const deregistered = Date.now();
    const at = await waitFor(bSees([A1]), GENEROUS_MS);
    expect(at, `B's listener last saw ${util.inspect(latest() && addrs(latest().hosts))}, expected ${addr(A1)}`);
    expectHosts(await a.c.getAllInstances(SERVICE, GROUP, '', false), [A1], 'A getAllInstances after the deregistration');
    return `${Math.max(0, at - deregistered)} ms`;
  });

  const ua = a.http.requests.find(r => r.path.endsWith('/instance'));
  if (ua) console.log(`# A's register: User-Agent ${ua.headers['User-Agent']}, Client-Version ${ua.headers['Client-Version']}`);
  const clientIPs = new Set(b.http.requests.filter(r => 'clientIP' in r.data).map(r => r.data.clientIP));
  console.log(`# clientIP the client would have sent: ${[...clientIPs].join(', ') || '(none)'} (sent as 127.0.0.1)`);

  try {
    await a.c.deregisterInstance(SERVICE, A1, GROUP);
  } catch (err) {
    console.log(`# cleanup: ${err.message}`);
  }
  await Promise.all([a.c.close(), b.c.close()]);
}

main()
  .catch(err => notOk('the test itself ran through', err && err.stack ? err.stack : err))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    // The clients' beat loop sleeps out its interval after close: leave without waiting.
    process.exit(failed ? 1 : 0);
  });
