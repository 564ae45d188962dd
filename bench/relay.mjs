// The server half of the benchmark suite, all on 127.0.0.1 and bounded in time:
//   - relay throughput: wrk posts the same 20-event batch (bench/proxy/batch.mjs) to the
//     agent-track proxy (validates, enriches, signs, relays) and to nginx (a plain relay: the
//     floor), both in front of the same fast upstream (crates/server/examples/fast_upstream.rs);
//     alternating, ROUNDS rounds of SECONDS each, the best round of each kept; and, for
//     scale, wrk straight at the upstream (no relay at all); with each run, the CPU time the
//     relay's processes spent per request;
//   - collector ingest into SQLite (crates/server/examples/ingest_bench.rs);
//   - collector reads at 10,000 conversations with analysis and search on: p95 of the list,
//     filtered lists and searches (crates/server/examples/query_bench.rs).
// Needs wrk and nginx on PATH and the release binaries built (scripts/bench.sh does both).
// Writes bench/results/relay.json. Usage: node bench/relay.mjs
// BENCH_RELAY_ONLY=1 runs the relay throughput part alone (no ingest, no queries, no results
// file); BENCH_BIN_DIR points at the release binaries when they are not in target/release.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';

const run = promisify(execFile);
const CLK_TCK = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const SECONDS = Number(process.env.BENCH_RELAY_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_RELAY_ROUNDS ?? 2);
const CONNS = Number(process.env.BENCH_RELAY_CONNS ?? 32);
const INGEST_BATCHES = Number(process.env.BENCH_INGEST_BATCHES ?? 5000);
const INGEST_SENDERS = 4;
const QUERY_CONVERSATIONS = Number(process.env.BENCH_QUERY_CONVERSATIONS ?? 10_000);
const QUERY_RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 100);
const RELAY_ONLY = process.env.BENCH_RELAY_ONLY === '1';
const PORTS = { upstream: 9811, proxy: 9812, nginx: 9813 };
const log = (...a) => console.error('[relay]', ...a);

const children = [];
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  child.lastError = () => err;
  children.push(child);
  return child;
}
function stopAll() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAll(); process.exit(130); });

async function waitFor(url, what, child) {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${child.lastError()}`);
    try { await fetch(url); return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start: ${child.lastError()}`);
}

/** Parses wrk --latency output: requests/s, latency percentiles (ms), errors. */
function parseWrk(out) {
  const ms = (v) => { const m = /^([\d.]+)(us|ms|s)$/.exec(v); return m ? Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2]] : NaN; };
  const pct = (p) => { const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out); return m ? ms(m[1]) : NaN; };
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/), requests: num(/(\d+) requests in/),
    p50: pct(50), p75: pct(75), p90: pct(90), p99: pct(99),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/), socketErrors: errs ? errs.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
  };
}

async function wrk(url, batchFile) {
  const { stdout } = await run('wrk', ['-t2', `-c${CONNS}`, `-d${SECONDS}s`, '--latency', '-s', join(here, 'proxy', 'post.lua'), url],
    { env: { ...process.env, BATCH: batchFile }, timeout: (SECONDS + 30) * 1000 });
  return parseWrk(stdout);
}

async function check(url, batchFile, expect) {
  const { readFile } = await import('node:fs/promises');
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await readFile(batchFile) });
  const text = await res.text();
  if (!res.ok || !text.includes(expect)) throw new Error(`${url} answered ${res.status} ${text.slice(0, 200)}`);
}

const tmp = await mkdtemp(join(tmpdir(), 'agent-track-bench-'));
await (await import('node:fs/promises')).chmod(tmp, 0o755); // nginx workers run as nobody
const result = { date: new Date().toISOString(), cores: cpus().length, seconds: SECONDS, rounds: ROUNDS, connections: CONNS, eventsPerRequest: 20 };
try {
  const bin = process.env.BENCH_BIN_DIR ?? join(root, 'target', 'release');
  const batchFile = join(tmp, 'batch.json');
  await run(process.execPath, [join(here, 'proxy', 'batch.mjs'), batchFile]);
  result.batchBytes = (await (await import('node:fs/promises')).stat(batchFile)).size;

  const upstream = start(join(bin, 'examples', 'fast_upstream'), [`127.0.0.1:${PORTS.upstream}`]);
  await waitFor(`http://127.0.0.1:${PORTS.upstream}/`, 'fast_upstream', upstream);
  const proxy = start(join(bin, 'agent-track-server'), ['proxy', '--listen', `127.0.0.1:${PORTS.proxy}`,
    '--upstream', `http://127.0.0.1:${PORTS.upstream}/v1/ingest`, '--rate-per-minute', '100000000', '--rate-burst', '100000000'],
  { AGENT_TRACK_SECRET: 'whsec_' + randomBytes(32).toString('base64'), AGENT_TRACK_LOG: 'warn' });
  await waitFor(`http://127.0.0.1:${PORTS.proxy}/healthz`, 'agent-track proxy', proxy);

  // nginx from Debian, in the foreground with its own config and prefix under /tmp: a plain
  // relay with upstream keep-alive, as one would put in front of any collector.
  const conf = `worker_processes auto;
daemon off;
pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  client_max_body_size 1m; client_body_buffer_size 128k;
  upstream collector { server 127.0.0.1:${PORTS.upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${PORTS.nginx};
    location = /v1/events {
      proxy_pass http://collector/v1/ingest;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  await writeFile(join(tmp, 'nginx.conf'), conf);
  const nginx = start('nginx', ['-p', tmp, '-c', join(tmp, 'nginx.conf')]);
  await waitFor(`http://127.0.0.1:${PORTS.nginx}/`, 'nginx', nginx);
  result.nginxVersion = (await run('nginx', ['-v'])).stderr.trim().replace('nginx version: ', '');
  result.wrkVersion = (await run('wrk', ['-v']).catch((e) => e)).stdout?.split('\n')[0]?.trim() ?? 'wrk';

  const targets = { proxy: `http://127.0.0.1:${PORTS.proxy}/v1/events`, nginx: `http://127.0.0.1:${PORTS.nginx}/v1/events`,
    upstream: `http://127.0.0.1:${PORTS.upstream}/v1/ingest` };
  await check(targets.proxy, batchFile, '"accepted":20');
  await check(targets.nginx, batchFile, '{}');
  result.runs = { proxy: [], nginx: [], upstream: [] };
  // The CPU time each relay spends per request (user + system, its own processes: the proxy;
  // nginx's master and workers), read from /proc around each wrk run: steadier than the rates,
  // which move with the other tenants' load and with the host (see BENCHMARKS §5).
  const relayPids = { proxy: [proxy.pid], nginx: [nginx.pid, ...childPids(nginx.pid)], upstream: [upstream.pid] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of ['proxy', 'nginx', 'upstream']) {
      const pids = relayPids[name];
      const before = cpuSeconds(pids);
      const w = await wrk(targets[name], batchFile);
      w.eventsPerSec = w.rps * 20;
      w.cpuUsPerRequest = w.requests > 0 ? ((cpuSeconds(pids) - before) / w.requests) * 1e6 : null;
      result.runs[name].push(w);
      log(`${name} round ${r + 1}: ${w.eventsPerSec.toFixed(0)} events/s, p50 ${w.p50} ms, p99 ${w.p99} ms, non-2xx ${w.non2xx}, ${w.cpuUsPerRequest?.toFixed(1)} µs CPU per request`);
    }
  }
  for (const name of ['proxy', 'nginx', 'upstream']) result[name] = result.runs[name].reduce((a, b) => (b.rps > a.rps ? b : a));
  result.proxyRss = rssKb(proxy.pid);
  result.nginxRss = rssKb(nginx.pid);
  stopAll();
  log(`proxy/nginx: ${(result.proxy.rps / result.nginx.rps * 100).toFixed(1)} % (best rounds)`);

  if (!RELAY_ONLY) {
    // The collector: signed batches of 20 events into SQLite, 4 concurrent senders; then the
    // same into PostgreSQL when scripts/bench.sh started a cluster (AGENT_TRACK_BENCH_DATABASE_URL).
    const ingest = async (env) => {
      const { stdout } = await run(join(bin, 'examples', 'ingest_bench'), [String(INGEST_BATCHES), String(INGEST_SENDERS)], { timeout: 300_000, env });
      const m = /ingested into \w+ (\d+) events in (\d+) batches .* in ([\d.]+) s: (\d+) events\/s, (\d+) batches\/s; batch latency p50 ([\d.]+) ms, p99 ([\d.]+) ms/.exec(stdout);
      const cpu = /CPU ([\d.]+) µs per event .*?, ([\d.]+) of (\d+) cores busy on average; with all \d+ busy at this cost: (\d+) events\/s/.exec(stdout);
      log(stdout.trim());
      return m ? { events: +m[1], batches: +m[2], seconds: +m[3], eventsPerSec: +m[4], batchesPerSec: +m[5], p50: +m[6], p99: +m[7], senders: INGEST_SENDERS,
        cpu: cpu ? { perEventUs: +cpu[1], coresBusy: +cpu[2], cores: +cpu[3], ceiling: +cpu[4] } : null }
        : { error: stdout.trim() };
    };
    const { AGENT_TRACK_BENCH_DATABASE_URL: pgUrl, ...sqliteEnv } = process.env;
    result.ingest = await ingest(sqliteEnv);
    if (pgUrl) result.ingestPg = await ingest(process.env);

    // Reads at 10,000 conversations: list, filtered lists, searches (p50/p95 over the API).
    const q = await run(join(bin, 'examples', 'query_bench'), [String(QUERY_CONVERSATIONS), String(QUERY_RUNS)], { timeout: 600_000 });
    const ing = /ingested (\d+) conversations \((\d+) events.* in ([\d.]+) s: (\d+) events\/s/.exec(q.stdout);
    result.queries = {
      conversations: QUERY_CONVERSATIONS,
      runs: QUERY_RUNS,
      ingest: ing ? { conversations: +ing[1], events: +ing[2], seconds: +ing[3], eventsPerSec: +ing[4] } : null,
      rows: [...q.stdout.matchAll(/^(.+?)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$/gm)].map((r) => ({ query: r[1].trim(), p50: +r[2], p95: +r[3], rows: +r[4] })),
    };
    log(q.stdout.trim());
  }
} finally {
  stopAll();
  await rm(tmp, { recursive: true, force: true }).catch(() => {});
}

/** The fields of /proc/PID/stat from the third (state) on; the command name before them is in
 * parentheses and may hold spaces. Field N of proc(5) is at index N - 3. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds of the given processes, all their threads. */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15
  }
  return ticks / CLK_TCK;
}

/** The child processes of a process (nginx's workers): those whose parent (field 4) it is. */
function childPids(pid) {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return Number(statFields(d)[1]) === pid; } catch { return false; } // gone meanwhile
  }).map(Number);
}

function rssKb(pid) {
  try { return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return null; }
}

if (RELAY_ONLY) process.exit(0);
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(join(here, 'results', 'relay.json'), JSON.stringify(result, null, 2) + '\n');
log('-> bench/results/relay.json');
