// The loopback server of the SDK comparison: serves the repository's files (the page, the
// bundles, pkg/) and receives every SDK's collection requests under /ingest/<sdk>/..., answering
// each the way its own backend does (Amplitude wants {"code":200}, Mixpanel "1", ...), so
// that every SDK believes its events were delivered and drops them from its queue.
//
// Every request is recorded: method, path, body bytes as received, the size of the request
// line and headers, the payload's size with its compression undone, and the ids of the events
// it carried (decoded from each SDK's encoding: Content-Encoding, gzip, base64, form fields,
// Pendo's zlib "jzb"), so that a benchmark can check that an SDK really sent what it was
// given, and count bytes and requests per event.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { gunzipSync, inflateSync, inflateRawSync, brotliDecompressSync } from 'node:zlib';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css' };

// Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };

/** What each SDK's backend answers to an accepted request. */
function answer(sdk, path, events) {
  switch (sdk) {
    case 'agent-track': return ['application/json', JSON.stringify({ requestId: 'bench', accepted: events, rejected: [] })];
    case 'amplitude': return ['application/json', JSON.stringify({ code: 200, events_ingested: events, payload_size_bytes: 0, server_upload_time: Date.now() })];
    case 'mixpanel': return path.includes('verbose=1') ? ['application/json', '{"status":1,"error":null}'] : ['text/plain', '1'];
    case 'posthog': return ['application/json', '{"status":1}'];
    case 'segment': return ['application/json', '{"success":true}'];
    case 'pendo': return ['application/json', '{}'];
    default: return ['text/plain', 'ok'];
  }
}

/** The body with its Content-Encoding undone (agent-track gzips its batches with CompressionStream). */
export function decodeBody(body, encoding = '') {
  const steps = { gzip: gunzipSync, 'x-gzip': gunzipSync, deflate: (b) => { try { return inflateSync(b); } catch { return inflateRawSync(b); } }, br: brotliDecompressSync };
  let out = body;
  // Listed in the order applied: undo the last first.
  for (const e of encoding.split(',').map((x) => x.trim().toLowerCase()).filter((x) => x && x !== 'identity').reverse()) {
    try { out = steps[e]?.(out) ?? out; } catch { return body; }
  }
  return out;
}

/**
 * The payload's size with its compression undone: the decoded body (a gzip body without the
 * header too, as PostHog sends it) plus a zlib `jzb` query parameter inflated (Pendo's GET),
 * with the zlib fields of a JSON body inflated in place (Pendo's POST).
 * Other encodings (form fields, URL escaping, base64 without compression) count as sent.
 */
export function plainBytes(url, decoded) {
  let n = decoded.length;
  if (n >= 2 && decoded[0] === 0x1f && decoded[1] === 0x8b) { try { n = gunzipSync(decoded).length; } catch { /* not gzip */ } }
  if (decoded[0] === 0x7b) for (const z of zlibFields(decoded.toString())) n += Buffer.byteLength(z.inflated) - z.encoded;
  const z = new URL(url, 'http://x').searchParams.get('jzb');
  return z ? n + Buffer.byteLength(jzb(z)) : n;
}

/**
 * The number of events in an agent-track batch body, v1 `{"sentAt","events"}` or v2
 * `{"v":2,"sentAt","context","events"}` (events whose context may be `{"seq":N}` only);
 * null when the body is not such a batch.
 */
export function agentTrackBatch(text) {
  try {
    const b = JSON.parse(text);
    return Array.isArray(b?.events) ? { version: b.v ?? 1, events: b.events.length } : null;
  } catch { return null; }
}

function tryDecode(buf) {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) { try { return gunzipSync(buf).toString(); } catch { /* not gzip */ } }
  return buf.toString();
}

function b64(s) {
  try { return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64'); } catch { return Buffer.alloc(0); }
}

/** Pendo's "jzb": zlib-deflated JSON, base64 (URL-safe alphabet). */
function jzb(s) {
  const bytes = b64(s);
  for (const f of [inflateSync, inflateRawSync]) { try { return f(bytes).toString(); } catch { /* next */ } }
  return '';
}

/**
 * Everything readable in a request, as text: the URL's query values and the body, with the
 * SDK encodings undone (gzip, base64 JSON, form fields, jzb). Event ids are searched in it.
 */
export function readable(url, body) {
  const parts = [];
  const u = new URL(url, 'http://x');
  const text = tryDecode(body);
  parts.push(text);
  const fields = [...u.searchParams.entries()];
  if (/^[\w%.-]+=/.test(text) && !text.startsWith('{') && !text.startsWith('[')) {
    for (const [k, v] of new URLSearchParams(text)) fields.push([k, v]);
  }
  for (const [k, v] of fields) {
    parts.push(v);
    if (k === 'jzb') parts.push(jzb(v));
    else if (/^[A-Za-z0-9+/_=-]{16,}$/.test(v)) {
      const d = b64(v);
      const t = tryDecode(d);
      if (/^[\s[{"]/.test(t)) parts.push(t);
    }
  }
  // Snowplow carries entities base64-encoded inside its JSON ("cx"); PostHog may nest base64;
  // Pendo POSTs its larger batches as {"events":"<jzb>"}.
  const inner = [];
  for (const p of parts) {
    for (const m of p.matchAll(/"(?:cx|ue_px|data)":"([A-Za-z0-9+/_=-]{16,})"/g)) inner.push(tryDecode(b64(m[1])));
    for (const z of zlibFields(p)) inner.push(z.inflated);
  }
  return parts.concat(inner).join('\n');
}

/** JSON string fields holding base64 of zlib data (Pendo's POST body): their length and inflated text. */
function zlibFields(text) {
  const out = [];
  for (const m of text.matchAll(/"(?:events|jzb)":"(eJ[A-Za-z0-9+/_=-]{14,})"/g)) {
    const inflated = jzb(m[1]);
    if (inflated) out.push({ encoded: m[1].length, inflated });
  }
  return out;
}

/**
 * Serves `root` on 127.0.0.1 at a free port. Resolves { url, requests, reset, setMode, close }.
 * `setMode('fail')` makes every /ingest request answer 503 (the endpoint is down), 'ok' 200.
 * `markerRe` finds event ids in the decoded requests (default /bench-(\d+)-(\d+)/g).
 */
export async function serveBench(root, { markerRe = /bench-\d+-\d+/g } = {}) {
  const state = { requests: [], mode: 'ok' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/ingest/')) {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      const sdk = url.pathname.split('/')[2];
      const encoding = req.headers['content-encoding'] ?? '';
      const decoded = decodeBody(body, encoding);
      const text = readable(req.url, decoded);
      const ids = [...new Set(text.match(markerRe) ?? [])];
      // agent-track's events are counted from the batch itself (v1 or v2), others by marker.
      const batch = sdk === 'agent-track' && req.method === 'POST' ? agentTrackBatch(decoded.toString()) : null;
      // Request line + headers as sent (HTTP/1.1), the wire cost beside the body.
      let head = `${req.method} ${req.url} HTTP/1.1\r\n`.length + 2;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head += req.rawHeaders[i].length + 2 + req.rawHeaders[i + 1].length + 2;
      state.requests.push({
        sdk, method: req.method, path: req.url, bodyBytes: body.length, headBytes: head, plainBytes: plainBytes(req.url, decoded), ids,
        events: batch ? batch.events : ids.length, bodyVersion: batch?.version ?? null,
        contentType: req.headers['content-type'] ?? '', gzipBody: body.length > 2 && body[0] === 0x1f && body[1] === 0x8b, zlibBody: decoded[0] === 0x7b && zlibFields(decoded.toString()).length > 0, encoding, at: Date.now(),
        mode: state.mode,
      });
      const cors = { 'access-control-allow-origin': req.headers.origin ?? '*', 'access-control-allow-credentials': 'true',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*', 'access-control-allow-methods': 'GET, POST, OPTIONS' };
      if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
      if (state.mode === 'fail') {
        res.writeHead(503, { ...cors, 'content-type': 'application/json' });
        return res.end('{"error":"unavailable"}');
      }
      if (/\.gif/.test(url.pathname)) {
        res.writeHead(200, { ...cors, 'content-type': 'image/gif' });
        return res.end(Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64'));
      }
      const [type, out] = answer(sdk, req.url, batch ? batch.events : ids.length);
      res.writeHead(200, { ...cors, 'content-type': type });
      return res.end(out);
    }
    if (req.method !== 'GET') return res.writeHead(405).end();
    const path = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATION });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get requests() { return state.requests; },
    reset() { state.requests = []; },
    setMode(mode) { state.mode = mode; },
    close: () => new Promise((ok) => { for (const s of sockets) s.destroy(); server.close(ok); }),
  };
}
