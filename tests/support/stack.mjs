// Starts agent-track's servers as real processes on free loopback ports, for end-to-end tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Waits until GET url answers 200, up to `ms`. */
export async function waitHealthy(url, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    if (Date.now() > until) throw new Error(`${url} did not come up in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Spawns `agent-track-server args...`; output goes to `log` (an array of lines). */
export function server(args, env = {}) {
  const log = [];
  const child = spawn(BIN, args, { env: { ...process.env, AGENT_TRACK_LOG: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [child.stdout, child.stderr]) s.on('data', (d) => log.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise((ok) => child.on('exit', ok));
  return { child, log, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/** The `dev` stack in a fresh data folder. Resolves { base, apiKey, secret, dataDir, log, stop }. */
export async function devStack() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'agent-track-e2e-'));
  const s = server(['dev', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--www', 'www', '--pkg', 'pkg']);
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(`${base}/healthz`);
  return {
    base, dataDir, log: s.log, stop: s.stop,
    apiKey: readFileSync(join(dataDir, 'api-key'), 'utf8').trim(),
    secret: readFileSync(join(dataDir, 'secret'), 'utf8').trim(),
  };
}

/** GET `path` of the read API, parsed. */
export async function api(base, key, path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text() };
}

/** Polls `fn` until it returns a truthy value, up to `ms`. */
export async function eventually(fn, ms = 10_000, what = 'condition') {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > until) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
