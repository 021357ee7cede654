// Drives a running nacre-server with the npm Nacos client `nacos-naming` (2.6.x), which speaks
// the Nacos v1 HTTP API and takes UDP pushes on a socket of its own.
//
// Usage: node nacos_node_interop.js HOST:PORT NODE_MODULES_DIR
//        node nacos_node_interop.js --auth HOST:PORT NODE_MODULES_DIR   (a server with auth on)
//
// NODE_MODULES_DIR holds nacos-naming (tests/interop/lib.sh's `nacos_node_modules` installs it).
// Two clients take part: A registers and deregisters, B subscribes. Prints one line per check
// (`ok - ...` / `not ok - ...`), lines starting with `#` as diagnostics, then `N passed, M
// failed`; exits 1 if any check failed.
//
// With --auth (the users of tests/interop/lib.sh, from the environment), see authMain: the
// client has no login of its own. Given `username` and `password` it sends both as query
// parameters on every request (lib/naming/proxy.js, _callServer), which Nacos, and nacre,
// check as a login per request (nacre then keeps the right password a minute as a keyed
// digest): so configured, a writer registers and lists, a reader's registration is refused.
// The client can also carry a token that its `httpclient` option adds to every request: so
// logged in, a writer registers, lists and is pushed a change, a reader lists and its
// registration (and its beats) are refused, and a client without credentials can do nothing.
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

const ARGS = process.argv.slice(2);
const AUTH = ARGS[0] === '--auth';
if (AUTH) ARGS.shift();
const [SERVER, MODULES] = ARGS;
if (!SERVER || !MODULES) {
  console.error('usage: node nacos_node_interop.js [--auth] HOST:PORT NODE_MODULES_DIR');
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
    // What the client warned of: it logs each failed request (an Error named NacosException,
    // with the HTTP status) before it rejects with a message of its own.
    warnings: [],
    debug() {},
    info(format, ...args) {
      if (typeof format === 'string' && format.startsWith('[PushReceiver] received push data')) {
        logger.pushes.push({ at: Date.now(), packet: String(args[0]) });
      }
    },
    warn(...args) {
      logger.warnings.push(args[0]);
      console.log(`# ${name} warn: ${util.format(...args).split('\n')[0]}`);
    },
    error(...args) {
      console.log(`# ${name} error: ${util.format(...args).split('\n')[0]}`);
    },
  };
  return logger;
}

// What the client hands its HTTP library goes through here: `clientIP` is rewritten (see the
// top of the file), requests are recorded, `instance/list` requests and their answers can be
// held back, and once `token` is set it is sent as `accessToken` with every request.
function makeHttpClient(name) {
  const http = {
    requests: [],
    token: null,
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
      if (http.token) {
        options = Object.assign({}, options, { data: Object.assign({}, options.data, { accessToken: http.token }) });
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

function client(name, options = {}) {
  const logger = makeLogger(name);
  const http = makeHttpClient(name);
  const c = new NacosNamingClient(Object.assign({ logger, serverList: SERVER, namespace: 'public', httpclient: http }, options));
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

// Logs `username` in (POST /nacos/v1/auth/login, as the Nacos Java and Python clients do);
// answers the token.
async function login(username, password) {
  const res = await urllib.request(`http://${SERVER}/nacos/v1/auth/login`, {
    method: 'POST',
    data: { username, password },
    dataType: 'json',
  });
  expect(res.status === 200 && typeof res.data.accessToken === 'string',
    `login of ${username}: ${res.status} ${util.inspect(res.data)}`);
  return res.data.accessToken;
}

// `promise` must reject, the client having been answered 403 (its own rejection names the API
// only; the status is in the error it warned of just before).
async function expectRefused(what, c, promise) {
  const warned = c.logger.warnings.length;
  let error = null;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  expect(error, `${what} was not refused`);
  const statuses = c.logger.warnings.slice(warned).map(w => w && w.status);
  console.log(`# ${what}: rejected with "${error.message}"; warned of HTTP ${statuses.join(', ')}`);
  expect(statuses.includes(403), `${what}: the client was answered ${statuses.join(', ') || 'nothing'}, expected 403`);
}

async function authMain() {
  const service = `node-auth-${process.pid}`;
  const W1 = { ip: '127.0.0.1', port: 18091, weight: 1, metadata: {} };
  const W2 = { ip: '127.0.0.1', port: 18092, weight: 1, metadata: {} };
  const R1 = { ip: '127.0.0.1', port: 18099, weight: 1, metadata: {} };
  const N1 = { ip: '127.0.0.1', port: 18098, weight: 1, metadata: {} };
  const P1 = { ip: '127.0.0.1', port: 18097, weight: 1, metadata: {} };
  const Q1 = { ip: '127.0.0.1', port: 18096, weight: 1, metadata: {} };
  const env = name => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set (tests/interop/lib.sh sets it)`);
    return v;
  };
  console.log(`# nacos-naming ${clientVersion} against ${SERVER} with auth, service ${GROUP}@@${service}`);

  // The client's own credentials: sent as query parameters on every request, no login.
  const plain = client('writer by options', { username: env('NACRE_WRITER'), password: env('NACRE_WRITER_PASSWORD') });
  const plainReader = client('reader by options', { username: env('NACRE_READER'), password: env('NACRE_READER_PASSWORD') });
  const writer = client('writer');
  const reader = client('reader');
  const nobody = client('nobody');
  await Promise.all([plain, plainReader, writer, reader, nobody].map(x => x.c.ready()));
  writer.http.token = await login(env('NACRE_WRITER'), env('NACRE_WRITER_PASSWORD'));
  reader.http.token = await login(env('NACRE_READER'), env('NACRE_READER_PASSWORD'));
  const writerSees = async () => addrs(await writer.c.getAllInstances(service, GROUP, '', false));
  // What the server holds, asked directly with the writer's token: the client answers an empty
  // list with what it had before.
  const serverHolds = async () => {
    const res = await urllib.request(`http://${SERVER}/nacos/v1/ns/instance/list`, {
      data: { serviceName: service, groupName: GROUP, accessToken: writer.http.token },
      dataType: 'json',
    });
    expect(res.status === 200, `instance/list answered ${res.status}`);
    return addrs(res.data.hosts);
  };

  await check('username/password options (sent with every request, no login): the writer registers and lists, the reader is refused', async () => {
    await plain.c.registerInstance(service, P1, GROUP);
    const sent = plain.http.requests.find(r => r.path.endsWith('/instance'));
    expect(sent && sent.data.username === env('NACRE_WRITER') && sent.data.password === env('NACRE_WRITER_PASSWORD'),
      `the request carried ${util.inspect(sent && sent.data)}`);
    expect(await serverHolds() === addr(P1), `the server holds ${await serverHolds()}`);
    expect(addrs(await plain.c.getAllInstances(service, GROUP, '', false)) === addr(P1), 'the writer by options lists its instance');
    await expectRefused('a register by the reader with the username/password options', plainReader,
      plainReader.c.registerInstance(service, Q1, GROUP));
    expect(await serverHolds() === addr(P1), `the server holds ${await serverHolds()}`);
    await plain.c.deregisterInstance(service, P1, GROUP);
    expect(await serverHolds() === '', `the server holds ${await serverHolds()}`);
  });

  const seen = [];
  const latest = () => (seen.length ? seen[seen.length - 1] : null);
  const writerSeesInListener = want => () => {
    const last = latest();
    return last && addrs(last.hosts) === addrs(want) ? last.at : false;
  };

  await check('writer (token): register, list, subscribe and be pushed a second instance', async () => {
    await writer.c.registerInstance(service, W1, GROUP);
    expect(await writerSees() === addr(W1), `listed ${await writerSees()}`);
    writer.c.subscribe({ serviceName: service, groupName: GROUP }, hosts => seen.push({ at: Date.now(), hosts }));
    expect(await waitFor(writerSeesInListener([W1]), GENEROUS_MS), `the listener saw ${util.inspect(seen.map(x => addrs(x.hosts)))}`);
    const pushes = writer.logger.pushes.length;
    await writer.c.registerInstance(service, W2, GROUP);
    expect(await waitFor(writerSeesInListener([W1, W2]), GENEROUS_MS),
      `the listener saw ${util.inspect(seen.map(x => addrs(x.hosts)))}`);
    return `${writer.logger.pushes.length - pushes} UDP push(es) meanwhile`;
  });

  await check('reader (token): getAllInstances lists the writer\'s instances', async () => {
    const hosts = await reader.c.getAllInstances(service, GROUP, '', false);
    expect(addrs(hosts) === addrs([W1, W2]), `listed ${addrs(hosts)}`);
  });

  await check('reader (token): a registration is refused, and so are its beats', async () => {
    await expectRefused('the reader\'s register', reader, reader.c.registerInstance(service, R1, GROUP));
    // The client beats for an instance from the moment it registers it (every 5 s), and a
    // beat for an unknown instance would register it: each must be refused.
    const beat = () => reader.http.requests.find(r => r.path.endsWith('/instance/beat') && r.status !== undefined);
    expect(await waitFor(() => Boolean(beat()), GENEROUS_MS), 'the reader sent no beat');
    expect(beat().status === 403, `the reader's beat was answered ${beat().status}`);
    expect(await serverHolds() === addrs([W1, W2]), `the server holds ${await serverHolds()}`);
  });

  await check('no credentials: a query and a registration are refused', async () => {
    await expectRefused('a query without credentials', nobody, nobody.c.getAllInstances(service, GROUP, '', false));
    await expectRefused('a register without credentials', nobody, nobody.c.registerInstance(service, N1, GROUP));
    expect(await serverHolds() === addrs([W1, W2]), `the server holds ${await serverHolds()}`);
  });

  await check('writer (token): deregister one, and the listener sees it go', async () => {
    await writer.c.deregisterInstance(service, W2, GROUP);
    expect(await waitFor(writerSeesInListener([W1]), GENEROUS_MS), `the listener saw ${util.inspect(seen.map(x => addrs(x.hosts)))}`);
    await writer.c.deregisterInstance(service, W1, GROUP);
    expect(await serverHolds() === '', `the server holds ${await serverHolds()}`);
  });

  await Promise.all([plain, plainReader, writer, reader, nobody].map(x => x.c.close()));
}

(AUTH ? authMain() : main())
  .catch(err => notOk('the test itself ran through', err && err.stack ? err.stack : err))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    // The clients' beat loop sleeps out its interval after close: leave without waiting.
    process.exit(failed ? 1 : 0);
  });
