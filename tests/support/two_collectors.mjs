// Two collector processes sharing one PostgreSQL database behind one proxy (`--upstream` with
// both, round-robin with failover), for the e2e tests; and what that database holds, read
// with psql independently of the collectors.
//
// The PostgreSQL cluster: the one of AGENT_TRACK_TEST_DATABASE_URL when set (scripts/test.sh
// starts one with scripts/postgres.sh and passes its URL), else a throwaway cluster started
// here with scripts/postgres.sh (installed beforehand with `bash scripts/postgres.sh install`)
// and stopped at the end; when that fails, the tests are skipped, saying why. With
// AGENT_TRACK_TEST_POSTGRES=required (scripts/test.sh) the URL must be given and the cluster
// reachable: otherwise the tests fail, never skip. Each test run gets a fresh database of its
// own in that cluster, dropped at the end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, restartable, scratchDir, serveSite } from './stack.mjs';

/** scripts/postgres.sh of this repository, wherever the tests run from. */
const POSTGRES_SH = fileURLToPath(new URL('../../scripts/postgres.sh', import.meta.url));

/** A PostgreSQL client program: from the newest /usr/lib/postgresql/<major>/bin, else PATH. */
function pgProgram(name) {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => b - a) : [];
  for (const major of majors) {
    const path = join(root, major, 'bin', name);
    if (existsSync(path)) return path;
  }
  return name;
}

/**
 * Runs psql on `url` with the statements `sql` (stop at the first error); returns stdout. A
 * failure says what psql said, never the command line (the URL may hold a password).
 */
export function psql(url, ...sql) {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url, ...sql.flatMap((s) => ['-c', s])];
  try {
    return execFileSync(pgProgram('psql'), args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    throw new Error(`psql failed (exit ${e.status ?? e.code}): ${e.stderr?.toString().trim() || 'no output'}`);
  }
}

/**
 * A PostgreSQL cluster for this test file: `{ adminUrl, stop }`, or `{ skip: reason }` when
 * none can be had and AGENT_TRACK_TEST_POSTGRES is not `required` (then it throws).
 */
export async function testPostgres() {
  const required = process.env.AGENT_TRACK_TEST_POSTGRES === 'required';
  const given = process.env.AGENT_TRACK_TEST_DATABASE_URL?.trim();
  if (given) return { adminUrl: given, stop: async () => {} };
  // The convention of the collector's Rust tests (tests/collector_support): required means the
  // caller started the cluster and passes its URL.
  if (required) throw new Error('AGENT_TRACK_TEST_POSTGRES=required but AGENT_TRACK_TEST_DATABASE_URL is not set (scripts/postgres.sh start prints it)');
  // No cluster given: start a throwaway one (its folder is removed again by `stop`).
  const dir = mkdtempSync(join(tmpdir(), 'agent-track-pg-'));
  const started = spawnSync('bash', [POSTGRES_SH, 'start', dir], { encoding: 'utf8' });
  const stop = async () => { spawnSync('bash', [POSTGRES_SH, 'stop', dir], { stdio: 'ignore' }); };
  if (started.status !== 0) {
    await stop();
    const reason = `PostgreSQL could not be started (bash scripts/postgres.sh start): ${started.stderr.trim().split('\n').slice(-3).join(' / ')}`;
    return { skip: `${reason}; run 'bash scripts/postgres.sh install' first, or set AGENT_TRACK_TEST_DATABASE_URL` };
  }
  return { adminUrl: started.stdout.trim(), stop };
}

/** The URL of database `name` on the server of `url` (same user, host, port and query). */
function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh database `e2e_<random>` in the cluster of `adminUrl`: `{ url, name, drop }`;
 * `drop()` removes it, closing the connections left (collectors killed mid-run).
 */
export function freshDatabase(adminUrl) {
  const name = `e2e_${randomBytes(8).toString('hex')}`;
  psql(adminUrl, `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * What the database holds, read with psql: `seen` (seen_events' event ids), `rows` (the event
 * ids of messages and reactions, one per row) and `deliveries` (webhook-id -> rows, for
 * the ids in `webhookIds`).
 */
export function storedPg(url, webhookIds = []) {
  const ids = webhookIds.map((id) => `'${id.replaceAll("'", "''")}'`).join(',');
  const sql = `SELECT json_build_object(
    'seen', (SELECT coalesce(json_agg(event_id), '[]') FROM seen_events),
    'rows', (SELECT coalesce(json_agg(event_id), '[]') FROM (SELECT event_id FROM messages UNION ALL SELECT event_id FROM reactions) r),
    'deliveries', (SELECT coalesce(json_object_agg(webhook_id, n), '{}') FROM
      (SELECT webhook_id, count(*) AS n FROM deliveries WHERE webhook_id IN (${ids || "''"}) GROUP BY webhook_id) d))`;
  return JSON.parse(psql(url, sql));
}

/**
 * Runs `sql` (statements ending in `;`) in a psql session on `url` that stays open, inside a
 * transaction: `BEGIN; <sql>` (a lock, say), held until `release()` commits and ends it.
 * Resolves once the statements ran.
 */
export async function holdTransaction(url, sql) {
  const child = spawn(pgProgram('psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((ok) => child.on('exit', ok));
  child.stdin.write(`BEGIN;\n${sql}\nSELECT 'held';\n`);
  const until = Date.now() + 10_000;
  while (!out.includes('held')) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill();
      throw new Error(`psql could not run the statements: ${err.trim() || 'no answer in 10 s'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async release() {
      child.stdin.end('COMMIT;\n');
      const code = await exited;
      if (code !== 0) throw new Error(`psql ended with ${code}: ${err.trim()}`);
    },
  };
}

/** Standard Webhooks v1 headers for `body` (bytes or text), signed with the `whsec_` secret. */
export function signedHeaders(secret, id, body, timestamp = Math.floor(Date.now() / 1000)) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${mac}` };
}

/**
 * Two collectors (`collectors[0]`, `collectors[1]`), each with its own data folder, both on
 * the PostgreSQL database `databaseUrl`, started at the same time (the migrations run once,
 * under the database's advisory lock); a proxy with `--upstream <collector 1>,<collector 2>`;
 * and the static site of the demo page on its own origin. The secret and API key are random,
 * as in separateStack. `applicationNames[i]`: collector i's connections' application_name.
 */
export async function twoCollectorStack({ databaseUrl, deadlineMs = 3000 }) {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const apiKey = `atk_${randomBytes(16).toString('hex')}`;
  const [sitePort, proxyPort, ...collectorPorts] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const site = await serveSite(sitePort);
  const env = { AGENT_TRACK_SECRET: secret, AGENT_TRACK_API_KEY: apiKey };
  const collectorBases = collectorPorts.map((p) => `http://127.0.0.1:${p}`);
  const dataDirs = collectorPorts.map(() => scratchDir('agent-track-two-'));
  // Each collector's connections carry an application_name of their own, so that a test can
  // tell them apart in pg_stat_activity.
  const applicationNames = collectorPorts.map((_, i) => `agent-track-e2e-collector-${i + 1}`);
  const collectors = collectorPorts.map((port, i) => {
    const url = new URL(databaseUrl);
    url.searchParams.set('application_name', applicationNames[i]);
    return restartable(['collector', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDirs[i]],
      { ...env, AGENT_TRACK_DATABASE_URL: url.toString() }, `http://127.0.0.1:${port}/healthz`);
  });
  const upstreams = collectorBases.map((b) => `${b}/v1/ingest`);
  const proxy = restartable(['proxy', '--listen', `127.0.0.1:${proxyPort}`, '--upstream', upstreams.join(','),
    '--allow-origin', `http://127.0.0.1:${sitePort}`, '--upstream-deadline-ms', String(deadlineMs),
    '--rate-per-minute', '1000000', '--rate-burst', '100000',
    '--event-rate-per-minute', '100000000', '--event-rate-burst', '10000000'],
  // The proxy signs; it never needs the database.
  { AGENT_TRACK_SECRET: secret }, `http://127.0.0.1:${proxyPort}/healthz`);
  const stop = async () => {
    await proxy.stop();
    await Promise.all(collectors.map((c) => c.stop()));
    await site.close();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  };
  // A start that fails half way stops what did start, so that nothing keeps the test running.
  try {
    await Promise.all(collectors.map((c) => c.start()));
    await proxy.start();
  } catch (e) {
    await stop();
    throw e;
  }
  const proxyBase = `http://127.0.0.1:${proxyPort}`;
  const endpoint = `${proxyBase}/v1/events`;
  return {
    secret, apiKey, collectors, collectorBases, applicationNames, proxy, proxyBase, endpoint,
    pageUrl: `http://127.0.0.1:${sitePort}/?endpoint=${encodeURIComponent(endpoint)}`,
    /** The proxy's attempts and failures at collector `i` (0 or 1), from its /metrics. */
    async upstreamCounts(i) {
      const text = await (await fetch(`${proxyBase}/metrics`)).text();
      const port = `127.0.0.1:${collectorPorts[i]}/`;
      const value = (metric) => {
        const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(port));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
      };
      return { attempts: value('agent_track_proxy_upstream_attempts_total'), failures: value('agent_track_proxy_upstream_failures_total') };
    },
    stop,
  };
}
