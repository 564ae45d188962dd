// A fault-injecting HTTP relay between the proxy and the collector: it forwards requests
// byte for byte (signatures stay valid) and can be told to answer 500, 503 or 429 with
// Retry-After instead, or to delay its answer after the collector already answered.
import { createServer, request } from 'node:http';

export async function chaosRelay(targetPort) {
  const state = { mode: 'pass', status: 200, retryAfter: null, delayMs: 0, seen: 0, forwarded: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.seen += 1;
      const body = Buffer.concat(chunks);
      if (state.mode === 'fail') {
        const headers = { 'content-type': 'application/json' };
        if (state.retryAfter !== null) headers['retry-after'] = String(state.retryAfter);
        res.writeHead(state.status, headers);
        return res.end(JSON.stringify({ code: 'chaos', message: `injected ${state.status}` }));
      }
      const fwd = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
        const parts = [];
        up.on('data', (c) => parts.push(c));
        up.on('end', () => {
          state.forwarded += 1;
          const answer = () => { res.writeHead(up.statusCode, up.headers); res.end(Buffer.concat(parts)); };
          state.delayMs ? setTimeout(answer, state.delayMs) : answer();
        });
      });
      fwd.on('error', () => { res.writeHead(502); res.end('{"code":"chaos_upstream_down"}'); });
      fwd.end(body);
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: server.address().port,
    state,
    fail(status, retryAfter = null) { Object.assign(state, { mode: 'fail', status, retryAfter }); },
    slow(delayMs) { Object.assign(state, { mode: 'pass', delayMs }); },
    pass() { Object.assign(state, { mode: 'pass', delayMs: 0, retryAfter: null }); },
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }),
  };
}
