// A real HTTP server on loopback for the browser tests: it records the batches it receives
// and answers them as a test scripts it to (500, 503, 429 with Retry-After, 413, slow
// responses). Every path under /t/{name}/ is a separate recorder, so tests do not share
// state. CORS headers on every response, as the proxy sends them.
//
//   POST /t/{name}/v1/events   record; answer with the next scripted reply, else 200
//                              acknowledging every event
//   POST /t/{name}/script      append replies: [{status, body?, retryAfter?, delayMs?}]
//   GET  /t/{name}/batches     [{start, end, contentType, contentEncoding, status, events: [eventId...],
//                              body (decompressed)}]
//
// Usage: node tests/support/recorder.mjs [port]   (prints "recorder listening on PORT")
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';

const port = Number(process.argv[2] ?? 47311);
const recorders = new Map();
const recorder = (name) => {
  if (!recorders.has(name)) recorders.set(name, { script: [], batches: [] });
  return recorders.get(name);
};

const cors = (req) => ({
  'access-control-allow-origin': req.headers.origin ?? '*',
  'access-control-allow-methods': 'POST, GET, OPTIONS',
  'access-control-allow-headers': 'content-type, content-encoding',
  'access-control-expose-headers': 'Retry-After',
  'vary': 'Origin',
});

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const start = Date.now();
    // Batches arrive gzipped (content-encoding: gzip) except the page-hide keepalive send.
    const raw = Buffer.concat(chunks);
    const encoding = req.headers['content-encoding'] ?? '';
    let body;
    try { body = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'); } catch { body = raw.toString('utf8'); }
    const m = new URL(req.url, 'http://x').pathname.match(/^\/t\/([^/]+)\/(.*)$/);
    const send = (status, payload, extra = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...cors(req), ...extra });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    if (req.method === 'OPTIONS') return send(204, '');
    if (!m) return send(404, { requestId: 'rec', code: 'not_found', message: 'unknown path' });
    const [, name, rest] = m;
    const rec = recorder(name);
    if (rest === 'script' && req.method === 'POST') {
      rec.script.push(...JSON.parse(body));
      return send(200, { ok: true });
    }
    if (rest === 'batches' && req.method === 'GET') return send(200, rec.batches);
    if (rest === 'v1/events' && req.method === 'POST') {
      let events = [];
      try { events = JSON.parse(body).events.map((e) => e.eventId); } catch { /* recorded as is */ }
      const reply = rec.script.shift() ?? { status: 200 };
      const entry = { start, end: null, contentType: req.headers['content-type'] ?? '', contentEncoding: encoding, status: reply.status, events, body };
      rec.batches.push(entry);
      const answer = () => {
        entry.end = Date.now();
        const payload = reply.body ?? (reply.status === 200
          ? { requestId: `rec-${rec.batches.length}`, accepted: events.length, rejected: [] }
          : { requestId: `rec-${rec.batches.length}`, code: `http_${reply.status}`, message: `scripted ${reply.status}` });
        send(reply.status, payload, reply.retryAfter !== undefined ? { 'retry-after': String(reply.retryAfter) } : {});
      };
      return reply.delayMs ? setTimeout(answer, reply.delayMs) : answer();
    }
    send(404, { requestId: 'rec', code: 'not_found', message: 'unknown path' });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`recorder listening on ${port}`));
// Bounded: a recorder left behind by an interrupted run exits on its own.
setTimeout(() => process.exit(0), 30 * 60 * 1000).unref();
