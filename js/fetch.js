// The browser's side of FetchTransport (src/browser/fetch.rs): one POST of one batch body.
// wasm-bindgen ships this file in pkg/snippets/; the decisions about the answer (sent,
// retry, drop, backoff) stay in Rust (src/delivery/outcome.rs).
//
// post(endpoint, body, keepalive, timeoutMs) resolves, never rejects, with
//   {status, body, retryAfter}  an HTTP answer (retryAfter: the Retry-After header or undefined)
//   a string                    a network failure, described ("no response within 30 s")
// Normal sends are application/json, gzipped by the browser's CompressionStream where it
// exists (Content-Encoding: gzip), sent plain where it does not or fails. Page-hide sends
// (keepalive) are text/plain (no CORS preflight) and uncompressed: CompressionStream is
// asynchronous, and a send made while the page unloads must leave at once. A request that
// has not answered, body included, within timeoutMs is aborted.
export async function post(endpoint, body, keepalive, timeoutMs) {
  const headers = { 'content-type': keepalive ? 'text/plain;charset=UTF-8' : 'application/json' };
  let data = body;
  if (!keepalive) {
    try {
      const gzip = new Response(body).body.pipeThrough(new CompressionStream('gzip'));
      data = await new Response(gzip).arrayBuffer();
      headers['content-encoding'] = 'gzip';
    } catch {
      data = body;
    }
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(endpoint, { method: 'POST', body: data, headers, keepalive, signal: controller.signal });
    const retryAfter = response.headers.get('retry-after') ?? undefined;
    const text = await response.text().catch(() => '');
    return { status: response.status, body: text, retryAfter };
  } catch (e) {
    if (e?.name === 'AbortError') return `no response within ${timeoutMs / 1000} s`;
    return typeof e?.name === 'string' && typeof e?.message === 'string' ? `${e.name}: ${e.message}` : 'fetch failed';
  } finally {
    clearTimeout(timer);
  }
}
