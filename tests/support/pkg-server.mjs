// A static file server on 127.0.0.1 with an endpoint that answers like the proxy, for the
// package tests. Pages and batches share one origin, so no CORS is involved.
//
//   GET  /...          a file from the first mount whose prefix matches (wasm as application/wasm)
//   POST /v1/events    decoded (content-encoding: gzip or none), recorded, answered
//                      200 {"requestId":"t","accepted":N}, N = the events in the body
//
// Batch bodies are read in either shape the module may send: v1 `{"events":[...]}` and v2
// `{"v":2, ..., "events":[...]}` (a batch-level context beside the events); events are
// counted by `eventId`.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  // instantiateStreaming needs this type; anything else costs a console warning and a
  // slower fallback in the glue.
  '.wasm': 'application/wasm',
};

/**
 * Serves `mounts` ([[urlPrefix, directory], ...], first match wins). Resolves
 * { base, batches, requests, close }: `batches` holds { encoding, version, eventIds, events,
 * body } per POST, `requests` every "METHOD path" served.
 */
export function servePackageApp(mounts) {
  const batches = [];
  const requests = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(`${req.method} ${path}`);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    if (req.method === 'POST' && path === '/v1/events') return answerBatch(req, res, raw, batches);
    if (req.method !== 'GET') return reply(res, 405, 'text/plain', 'GET or POST /v1/events');
    const file = resolveFile(mounts, path);
    if (!file) return reply(res, 404, 'text/plain', 'not found');
    try {
      reply(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', await readFile(file));
    } catch {
      reply(res, 404, 'text/plain', 'not found');
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    base: `http://127.0.0.1:${server.address().port}`,
    batches,
    requests,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

function answerBatch(req, res, raw, batches) {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let body;
  try {
    body = JSON.parse((encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
  } catch (e) {
    return reply(res, 400, 'application/json', JSON.stringify({ requestId: 't', code: 'unreadable', message: String(e) }));
  }
  const events = Array.isArray(body?.events) ? body.events : [];
  const eventIds = events.map((e) => e?.eventId).filter((id) => typeof id === 'string');
  batches.push({ encoding, version: body?.v ?? 1, eventIds, events, body });
  reply(res, 200, 'application/json', JSON.stringify({ requestId: 't', accepted: eventIds.length }));
}

/** The file for `path` under the first matching mount, never outside it; index.html for a folder. */
function resolveFile(mounts, path) {
  for (const [prefix, dir] of mounts) {
    if (!path.startsWith(prefix)) continue;
    const rel = normalize(path.slice(prefix.length)).replace(/^([/\\])+/, '');
    if (rel.split(sep).includes('..')) return null;
    return join(dir, rel.endsWith('/') || rel === '' || rel === '.' ? join(rel, 'index.html') : rel);
  }
  return null;
}

function reply(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
