// Shared by the benchmarks: a static file server on loopback and Debian's Chromium driven
// by playwright-core (no browser download; scripts/setup.sh installs it).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { launchChromium } from '../../tests/support/chromium.mjs';

export { launchChromium };

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/**
 * Serves `root` on 127.0.0.1 at a free port, and records POST bodies to /collect (answered
 * like the proxy: 200 acknowledging every event). Resolves { url, posts, close }.
 */
export async function serveStatic(root) {
  const posts = [];
  const server = createServer(async (req, res) => {
    if (req.method === 'POST') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      let accepted = 0;
      try { accepted = JSON.parse(body).events.length; } catch { /* not a batch */ }
      posts.push({ path: req.url, bytes: body.length, events: accepted, contentType: req.headers['content-type'] });
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ requestId: 'bench', accepted, rejected: [] }));
    }
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = await readFile(join(root, path));
      // Cross-origin isolated: performance.now() then has 5 µs resolution instead of 100 µs.
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store',
        'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, posts, close: () => new Promise((ok) => server.close(ok)) };
}

/** Median and p99 of numbers, and their sum. */
export function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), total: values.reduce((a, b) => a + b, 0) };
}
