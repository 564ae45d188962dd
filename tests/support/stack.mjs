// Starts agent-track's servers as real processes on free loopback ports, for end-to-end tests.
import { spawn } from 'node:child_process';
import { before, after } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

export const BIN = process.env.AGENT_TRACK_SERVER ?? 'target/debug/agent-track-server';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** The scratch folders made by `scratchDir`: removed when the test file's process exits. */
const scratch = new Set();
process.on('exit', () => { for (const dir of scratch) rmSync(dir, { recursive: true, force: true }); });

/** A fresh folder under the system's temporary folder, removed when this process exits. */
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.add(dir);
  return dir;
}

/**
 * Waits until GET url answers 200, up to `ms`. `ended()`, if given, is checked between tries:
 * a server that has ended (it returns why) will never answer, so that fails at once.
 */
export async function waitHealthy(url, ms = 20_000, ended = () => null) {
  const until = Date.now() + ms;
  for (;;) {
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    const why = ended();
    if (why) throw new Error(`the server ended (${why}) before ${url} answered`);
    if (Date.now() > until) throw new Error(`${url} did not come up in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Spawns `agent-track-server args...`; output goes to `log` (an array of lines). Throws at once
 * when the binary is missing. `healthy(url)` waits for its /healthz; its error carries the log.
 */
export function server(args, env = {}, log = []) {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} does not exist: build it with "cargo build -p agent-track-server --bin agent-track-server" (scripts/test.sh does), or name another binary in AGENT_TRACK_SERVER`);
  }
  const child = spawn(BIN, args, { env: { ...process.env, AGENT_TRACK_LOG: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [child.stdout, child.stderr]) s.on('data', (d) => log.push(...d.toString().split('\n').filter(Boolean)));
  let ended = null;
  // 'error' instead of 'exit' when the process could not be started at all.
  const exited = new Promise((ok) => {
    child.on('exit', (code, signal) => { ended = signal ?? `exit code ${code}`; ok(code); });
    child.on('error', (e) => { ended ??= e.message; ok(null); });
  });
  return {
    child, log,
    async healthy(url) {
      try {
        await waitHealthy(url, undefined, () => ended);
      } catch (e) {
        // One that never came up is not left running.
        child.kill('SIGKILL');
        throw new Error(`${e.message}; agent-track-server ${args[0]} said:\n${log.join('\n')}`);
      }
    },
    stop: async () => { child.kill('SIGTERM'); await exited; },
    /** Kills it without a chance to finish anything (a crash). */
    kill: async () => { child.kill('SIGKILL'); await exited; },
  };
}

/**
 * The `dev` stack in a fresh data folder, with `args` added to its command line. Resolves
 * { base, port, apiKey, secret, dataDir, log, child, stop }.
 */
export async function devStack(args = []) {
  const port = await freePort();
  const dataDir = scratchDir('agent-track-e2e-');
  const s = server(['dev', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--www', 'www', '--pkg', 'pkg', ...args]);
  const base = `http://127.0.0.1:${port}`;
  await s.healthy(`${base}/healthz`);
  return {
    base, port, dataDir, log: s.log, child: s.child, stop: s.stop,
    apiKey: readFileSync(join(dataDir, 'api-key'), 'utf8').trim(),
    secret: readFileSync(join(dataDir, 'secret'), 'utf8').trim(),
  };
}

/** GET `path` of the read API, parsed. */
export async function api(base, key, path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text() };
}

/**
 * Polls `fn` until it returns a truthy value, up to `ms`. On timeout the error says `what`
 * was not met, followed by what `explain()` (if given) resolves with: the state seen last.
 */
export async function eventually(fn, ms = 10_000, what = 'condition', explain = null) {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > until) {
      const seen = explain ? `; seen last: ${await explain().catch((e) => `(explain failed: ${e.message})`)}` : '';
      throw new Error(`${what} not met within ${ms} ms${seen}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The "nothing lost, nothing twice" accounting of one scenario: waits (up to `ms`) until every
 * id of `tracked` is in the `seen` ids of `await read()` or counted as dropped or rejected in
 * the pages' `counts` (their stats), then returns what was stored (`result`), how many rows
 * each id has (`rowsOf`, from `result.rows`) and the table row: tracked, stored, dropped (with
 * the pages' last error codes), duplicates (events with more than one row).
 */
export async function account(name, tracked, counts, read, ms) {
  const dropped = counts.reduce((a, c) => a + c.dropped + c.rejected, 0);
  const result = await eventually(async () => {
    const s = await read();
    const seen = new Set(s.seen);
    return tracked.filter((id) => seen.has(id)).length + dropped >= tracked.length ? s : null;
  }, ms, `${name}: all events stored`, async () => {
    const seen = new Set((await read()).seen);
    const missing = tracked.filter((id) => !seen.has(id));
    return `missing ${missing.length}: ${missing.slice(0, 3).join(', ')}`;
  });
  const seen = new Set(result.seen);
  const rowsOf = {};
  for (const id of result.rows) rowsOf[id] = (rowsOf[id] ?? 0) + 1;
  const reasons = counts.map((c) => c.lastError?.code).filter(Boolean).join(', ');
  const row = {
    name, tracked: tracked.length, stored: tracked.filter((id) => seen.has(id)).length,
    dropped, reasons: dropped ? reasons : '', duplicates: tracked.filter((id) => rowsOf[id] > 1).length,
  };
  return { result, rowsOf, row };
}

/**
 * A static server for the pages: `/pkg/*` from pkg/, the paths of `files` (path -> file) from
 * their files, everything else from www/.
 */
export async function serveSite(port, files = {}) {
  const { createServer } = await import('node:http');
  const { readFile } = await import('node:fs/promises');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.includes('..')) return res.writeHead(400).end();
    const file = files[path] ?? (path.startsWith('/pkg/') ? join('pkg', path.slice(5)) : join('www', path === '/' ? 'index.html' : path.slice(1)));
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
      res.end(body);
    } catch { res.writeHead(404).end(); }
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }) };
}

/** A server process that can be stopped (or killed) and started again on the same port. */
export function restartable(args, env, healthUrl) {
  const logs = [];
  let current = null;
  return {
    logs,
    async start() {
      current = server(args, env, logs);
      await current.healthy(healthUrl);
    },
    async stop() { await current?.stop(); current = null; },
    async kill() { await current?.kill(); current = null; },
    pid: () => current?.child.pid,
  };
}

/**
 * The real stack as separate processes: a collector, a chaos relay in front of it (faults on
 * demand), a proxy relaying to the relay, and a static site for the demo page on its own
 * origin (so the proxy's CORS allowlist is exercised). `siteHosts`: the host names the site is
 * reached by (mapped to 127.0.0.1 in the browser); the proxy allows each on the site's port.
 * `siteFiles`: more pages for the site (see `serveSite`).
 */
export async function separateStack({ deadlineMs = 3000, siteHosts = ['127.0.0.1'], siteFiles = {} } = {}) {
  const { randomBytes } = await import('node:crypto');
  const { chaosRelay } = await import('./chaos.mjs');
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const apiKey = `atk_${randomBytes(16).toString('hex')}`;
  const dataDir = scratchDir('agent-track-faults-');
  const [sitePort, proxyPort, collectorPort] = [await freePort(), await freePort(), await freePort()];
  // Each part's closer, in start order; stop() runs them backwards (the proxy first, so that
  // it never relays to a stopped collector), and so does a start that fails half way.
  const closers = [];
  const stop = async () => { for (const close of closers.splice(0).reverse()) await close(); };
  try {
    const site = await serveSite(sitePort, siteFiles);
    closers.push(site.close);
    const env = { AGENT_TRACK_SECRET: secret, AGENT_TRACK_API_KEY: apiKey };
    const collector = restartable(['collector', '--listen', `127.0.0.1:${collectorPort}`, '--data-dir', dataDir], env, `http://127.0.0.1:${collectorPort}/healthz`);
    closers.push(collector.stop);
    await collector.start();
    const chaos = await chaosRelay(collectorPort);
    closers.push(chaos.close);
    const proxy = restartable(['proxy', '--listen', `127.0.0.1:${proxyPort}`, '--upstream', `http://127.0.0.1:${chaos.port}/v1/ingest`,
      '--allow-origin', siteHosts.map((h) => `http://${h}:${sitePort}`).join(','), '--upstream-deadline-ms', String(deadlineMs),
      '--rate-per-minute', '1000000', '--rate-burst', '100000',
      '--event-rate-per-minute', '100000000', '--event-rate-burst', '10000000'], env, `http://127.0.0.1:${proxyPort}/healthz`);
    closers.push(proxy.stop);
    await proxy.start();
    const endpoint = `http://127.0.0.1:${proxyPort}/v1/events`;
    return {
      secret, apiKey, dataDir, collector, proxy, chaos, sitePort, endpoint, proxyBase: `http://127.0.0.1:${proxyPort}`, collectorBase: `http://127.0.0.1:${collectorPort}`,
      pageUrl: `http://127.0.0.1:${sitePort}/?endpoint=${encodeURIComponent(endpoint)}`,
      db: join(dataDir, 'agent-track.sqlite3'),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** What the collector's SQLite file holds, read independently of the collector (python3's sqlite3). */
export async function stored(dbFile) {
  const { execFileSync } = await import('node:child_process');
  const py = [
    'import sqlite3, json, sys',
    "c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)",
    "seen = [r[0] for r in c.execute('select event_id from seen_events')]",
    "rows = [r[0] for r in c.execute('select event_id from messages union all select event_id from reactions')]",
    "times = {r[0]: [r[1], r[2]] for r in c.execute('select event_id, timestamp, client_timestamp from messages')}",
    "print(json.dumps({'seen': seen, 'rows': rows, 'times': times}))",
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', py, dbFile], { maxBuffer: 1 << 30 }).toString());
}

/**
 * For a test file that drives the dev stack in Chromium: registers node:test hooks that start
 * `devStack()` and Chromium before the file's tests (and make `test-results/` for their
 * screenshots) and stop both after. Returns `{ stack, browser }`, filled in by the time the
 * tests run.
 */
export function devStackAndChromium() {
  const env = { stack: null, browser: null };
  before(async () => {
    env.stack = await devStack();
    env.browser = await launchChromium();
    mkdirSync('test-results', { recursive: true });
  });
  after(async () => {
    await env.browser?.close();
    await env.stack?.stop();
  });
  return env;
}
