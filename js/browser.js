// The module's browser I/O that is simpler said in JS than through bindings: the request
// of FetchTransport (src/browser/fetch.rs) and the Web Lock request of WebLock
// (src/browser/locks.rs). wasm-bindgen ships this file in pkg/snippets/ (minified by
// scripts/build.sh). The decisions stay in Rust: what an answer means (sent, retry, drop,
// backoff: src/delivery/outcome.rs), when to send, what to do without the lock.

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

// lockRequest(locks, name, wait) requests the Web Lock `name` from `locks`
// (navigator.locks), waiting for it only when `wait` ({ifAvailable: !wait}). Resolves, never
// rejects, with the function that releases the lock, or null when it was not granted or the
// request was refused. The lock is held until that function is called.
export function lockRequest(locks, name, wait) {
  return new Promise((granted) => {
    try {
      locks
        .request(name, { ifAvailable: !wait }, (lock) => (lock ? new Promise((release) => granted(release)) : granted(null)))
        .catch(() => granted(null));
    } catch {
      granted(null);
    }
  });
}

// drive(step, locks, name, wait) runs one delivery pass of src/browser/driver.rs: with Web
// Locks (`locks`, else null) it first requests the lock `name` and tells step whether it was
// granted; then, while step returns a promise (a request made by post), it awaits it and
// hands step the result; while it returns a number (waiting for the localStorage lease), it
// waits that many ms and calls step(true). Whatever else step returns ends the pass: the
// promise drive returns resolves with it, or rejects with it when it is an Error. The Web
// Lock is held until then.
export async function drive(step, locks, name, wait) {
  let release = null, out;
  try {
    out = step(locks ? !!(release = await lockRequest(locks, name, wait)) : true);
    while (out instanceof Promise || typeof out === 'number') {
      out = step(typeof out === 'number' ? await new Promise((woke) => setTimeout(woke, out, true)) : await out);
    }
  } finally {
    release?.();
  }
  if (out instanceof Error) throw out;
  return out;
}

// every(ms, f) calls f every ms milliseconds, after(ms, f) once after ms; each returns the
// function that cancels it (src/browser/timer.rs calls it when its Timer drops).
export function every(ms, f) {
  const id = setInterval(f, ms);
  return () => clearInterval(id);
}
export function after(ms, f) {
  const id = setTimeout(f, ms);
  return () => clearTimeout(id);
}

// pageEvents(online, hidden, shown) listens for the browser coming back `online`, and for the
// page being hidden (`pagehide`, or `visibilitychange` to hidden) or shown again; returns the
// function that removes the listeners. Without a window (a worker) it listens to nothing.
export function pageEvents(online, hidden, shown) {
  if (typeof window === 'undefined') return () => {};
  const visibility = () => (document.visibilityState === 'hidden' ? hidden() : shown());
  addEventListener('online', online);
  addEventListener('pagehide', hidden);
  document.addEventListener('visibilitychange', visibility);
  return () => {
    removeEventListener('online', online);
    removeEventListener('pagehide', hidden);
    document.removeEventListener('visibilitychange', visibility);
  };
}
