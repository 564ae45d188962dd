// Where the bytes of a wasm module go: function body sizes from the code section, named by
// the "name" custom section, grouped by the crate that defines them and listed largest first
// (twiggy's "top", without installing twiggy), plus the sizes of the other sections. Reads
// the module cargo builds before wasm-bindgen and wasm-opt (it keeps its names), so the shares
// are of the unoptimised code; the shipped module is smaller but made of the same parts.
// Also: the files of the npm package a page fetches, with their gzip and brotli sizes.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const SECTIONS = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'data count', 'tag'];

function reader(buf) {
  let pos = 0;
  const u32 = () => { let r = 0, shift = 0, b; do { b = buf[pos++]; r |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80); return r >>> 0; };
  const name = () => { const n = u32(); const s = buf.toString('utf8', pos, pos + n); pos += n; return s; };
  return { u32, name, get pos() { return pos; }, set pos(p) { pos = p; } };
}

/**
 * The crate a Rust symbol belongs to, from its legacy-mangled name (`_ZN10serde_json2de...E`)
 * or a demangled one; for `<Type as Trait>::f` the type's crate.
 */
export function crateOf(symbol) {
  if (!/^(_ZN|_R)/.test(symbol)) return crateOfDemangled(symbol);
  let s = symbol;
  const mangled = /^_ZN(\d+)/.exec(s);
  if (mangled) {
    const len = Number(mangled[1]);
    s = s.slice(3 + mangled[1].length, 3 + mangled[1].length + len)
      .replace(/^_/, '').replace(/\$LT\$|\$RF\$|\$BP\$|mut\$u20\$|dyn\$u20\$|\$u5b\$/g, '').replace(/\.\./g, '::');
  }
  const v0 = /^_R.*?C(?:s[0-9A-Za-z]*_)?(\d+)_?/.exec(s);
  if (v0) {
    const at = v0.index + v0[0].length;
    const crate = s.slice(at, at + Number(v0[1]));
    return crate === '__rustc' ? 'compiler builtins / runtime' : crate;
  }
  s = s.replace(/^[A-Z]\$u20\$as\$u20\$/, '');
  s = s.replace(/^[<&\s]+/, '').replace(/^(mut|dyn)\s+/, '');
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?(::|$)/.exec(s);
  if (/^(__wbg|__wbindgen|__externref)/.test(s)) return 'wasm_bindgen';
  if (/^(memcpy|memmove|memset|memcmp|__rust|rust_|__rdl|__rg|__multi|__udiv|__umod|__div|__mul|__ash|__lsh)/.test(s)) return 'compiler builtins / runtime';
  if (m) return m[1];
  return '(other: ' + s.slice(0, 30) + ')';
}

// Types that belong to no crate of their own (primitives, generic parameters): their impls
// count toward the trait's crate, their inherent methods toward core.
const PRIMITIVE = /^(?:[ui](?:8|16|32|64|128|size)|f32|f64|bool|char|str|[A-Z])(?![\w:])/;

/** The crate of a demangled name (`alloc::string::String::push`, `<T as core::fmt::Debug>::fmt`). */
function crateOfDemangled(name) {
  let s = name;
  if (/^(__wbg|__wbindgen|__externref)/.test(s)) return 'wasm_bindgen';
  if (/^(memcpy|memmove|memset|memcmp|__rust|__rdl|__rg|__multi|__udiv|__umod|__div|__mul|__ash|__lsh)/.test(s)) return 'compiler builtins / runtime';
  // The #[wasm_bindgen] shims of the module's own exports (`trackAgent_<hash>`).
  if (/^[a-z][A-Za-z0-9]*_[0-9a-f]{16}$/.test(s)) return 'agent_track';
  s = s.replace(/^<+(?=<)/, ''); // <<T as A>::f as B>: the inner impl decides
  const impl = /^<(.+?)(?: as ([A-Za-z_]\w*)[^>]*)?>::/.exec(s);
  if (impl) {
    const type = impl[1].replace(/^(?:&|\*|mut |const |dyn |\[|\()+/, '');
    s = !PRIMITIVE.test(type) ? type : impl[2] ?? 'core';
  }
  if (s.startsWith('__rustc')) return 'compiler builtins / runtime';
  const m = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(s);
  return m ? m[1] : '(other: ' + name.slice(0, 30) + ')';
}

/**
 * Readable names for mangled Rust symbols (legacy `_ZN…E` and v0 `_R…`), through binutils'
 * c++filt when it is there (it knows both manglings), without crate disambiguators
 * (`[3ca501ed]`) and hashes (`::h0123…`). Returns the names unchanged without c++filt.
 */
export function demangleAll(names) {
  let out = names;
  try {
    out = execFileSync('c++filt', [], { input: names.join('\n'), encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').slice(0, names.length);
    if (out.length !== names.length) out = names;
  } catch { /* no c++filt: mangled names it is */ }
  return out.map((n) => n.replace(/\[[0-9a-f]{8,16}\]/g, '').replace(/::h[0-9a-f]{16}$/, ''));
}

const DESCRIPTOR = /WasmDescribe|describe_invoke|describe_vector|__wbindgen_describe|wasm_bindgen::describe::/;

export async function wasmBreakdown(file, { top = 20 } = {}) {
  const buf = await readFile(file);
  const r = reader(buf);
  r.pos = 8;
  let imported = 0;
  const bodies = [];
  const names = new Map();
  let dataBytes = 0, customBytes = 0;
  const sections = new Map();
  while (r.pos < buf.length) {
    const id = buf[r.pos++];
    const size = r.u32();
    const start = r.pos, end = start + size;
    if (id === 0) {
      const at = r.pos, nm = r.name();
      r.pos = at;
      sections.set(`custom "${nm}"`, (sections.get(`custom "${nm}"`) ?? 0) + size);
    } else sections.set(SECTIONS[id] ?? `section ${id}`, (sections.get(SECTIONS[id]) ?? 0) + size);
    if (id === 2) { // imports: count the functions
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        r.name(); r.name();
        const kind = buf[r.pos++];
        if (kind === 0) { r.u32(); imported++; }
        else if (kind === 1) { r.pos++; const f = r.u32(); r.u32(); if (f & 1) r.u32(); }
        else if (kind === 2) { const f = r.u32(); r.u32(); if (f & 1) r.u32(); }
        else if (kind === 3) { r.pos += 2; }
        else if (kind === 4) { r.pos++; r.u32(); }
      }
    } else if (id === 10) {
      const n = r.u32();
      for (let i = 0; i < n; i++) { const len = r.u32(); bodies.push(len); r.pos += len; }
    } else if (id === 11) {
      dataBytes += size;
    } else if (id === 0) {
      const nm = r.name();
      if (nm === 'name') {
        while (r.pos < end) {
          const sub = buf[r.pos++];
          const len = r.u32();
          const subEnd = r.pos + len;
          if (sub === 1) {
            const n = r.u32();
            for (let i = 0; i < n; i++) { const idx = r.u32(); names.set(idx, r.name()); }
          }
          r.pos = subEnd;
        }
      } else customBytes += size;
    }
    r.pos = end;
  }
  const groups = new Map();
  let code = 0;
  let descriptors = 0;
  const readable = demangleAll(bodies.map((_, i) => names.get(imported + i) ?? '(unnamed)'));
  const fns = [];
  bodies.forEach((len, i) => {
    const sym = readable[i];
    // wasm-bindgen's type descriptors run at build time and are removed from the shipped module
    // (named for wasm-bindgen's WasmDescribe; the module's own `describe` functions are code).
    if (DESCRIPTOR.test(sym)) { descriptors += len; return; }
    const crate = crateOf(sym);
    groups.set(crate, (groups.get(crate) ?? 0) + len);
    fns.push({ name: sym, crate, bytes: len });
    code += len;
  });
  const crates = [...groups].map(([crate, bytes]) => ({ crate, bytes, share: bytes / code })).sort((a, b) => b.bytes - a.bytes);
  crates.forEach((c) => { c.functions = fns.filter((f) => f.crate === c.crate).length; });
  return {
    file, totalBytes: buf.length, codeBytes: code, dataBytes, descriptorBytes: descriptors, functions: bodies.length,
    sections: [...sections].map(([section, bytes]) => ({ section, bytes })).sort((a, b) => b.bytes - a.bytes),
    crates,
    top: fns.sort((a, b) => b.bytes - a.bytes).slice(0, top).map((f) => ({ ...f, share: f.bytes / code })),
  };
}

/**
 * The files a page fetches to run the package in `pkgDir`: the wasm-bindgen glue, every module
 * it imports (relative imports, followed: pkg/snippets/**), and the `.wasm` the glue loads,
 * each with raw, gzip -9 and brotli (quality 11) sizes, and their total.
 */
export async function shippedFiles(pkgDir, glue = 'agent_track.js', wasm = 'agent_track_bg.wasm') {
  const files = [], seen = new Set();
  const visit = async (path) => {
    if (seen.has(path) || !existsSync(path)) return;
    seen.add(path);
    files.push(path);
    const text = await readFile(path, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s*(?:[^'"]*?\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
      await visit(join(dirname(path), m[1] ?? m[2]));
    }
  };
  await visit(join(pkgDir, glue));
  files.push(join(pkgDir, wasm));
  const out = [];
  for (const f of files) {
    const b = await readFile(f);
    out.push({ file: relative(join(pkgDir, '..'), f), raw: b.length, gzip: gzipSync(b, { level: 9 }).length,
      brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length });
  }
  const sum = (k) => out.reduce((a, f) => a + f[k], 0);
  return { files: out, total: { raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli') } };
}

// The parts of the package, by the module path of each function of its own crates; generic
// code of the standard library counts as its own part, whoever instantiated it.
const AREAS = [
  ['rules', /^agent_track_schema::/, 'the rules: reading JSON, validation with its messages, writing (`crates/schema`)'],
  ['api', /^agent_track::browser::(js|configure|bare|page|shutdown)\b|^(trackAgent|configure|flush|stats|optIn|optOut|shutdown)$/, 'the JS API (`src/browser/js.rs`, `mod.rs`)'],
  ['config', /^agent_track::config\b/, 'configuration (`src/config.rs`)'],
  ['delivery', /^agent_track::(engine::delivery|delivery|pass)\b|^agent_track::browser::(driver|fetch|scheduler|timer)\b/, 'delivery: batches, answers, backoff, the pass and its driver, timers'],
  ['queue', /^agent_track::(queue|index|storage|keys)\b|^agent_track::browser::local_storage\b/, 'the queue and its storage, with the in-memory fallback'],
  ['locks', /^agent_track::(browser::locks|delivery::lock)\b/, 'locks: Web Locks and the lease'],
  ['page', /^agent_track::(browser::platform|platform)\b/, 'the page context, clock and randomness'],
  ['capture', /^agent_track::/, 'capture: the engine, tracker, ids, errors, hooks and stats'],
  ['std', /^(alloc|core|std)$/, "Rust's standard library (`Vec`, `String`, iterator and closure instantiations)"],
  ['bindings', /^(wasm_bindgen|js_sys|web_sys)$/, 'wasm-bindgen, js-sys, web-sys'],
  ['allocator', /^talc$/, 'the allocator (talc)'],
];

/**
 * Where a demangled function name lives, for matching the module paths above by prefix:
 * `agent_track::engine::delivery` for `agent_track::engine::delivery::<impl Engine>::settle`,
 * the type's path for `<Type as Trait>::f`, else the name itself.
 */
function pathOf(name) {
  const s = name.replace(/^<+/, '');
  return /^(.+?)::<impl /.exec(s)?.[1] ?? s;
}

/**
 * What each part of the package weighs in a module that kept its function names (the shipped
 * module built again with `wasm-opt -g`, see scripts/shrink.sh): code bytes and share by part
 * (`key` as in AREAS, `other` for the rest), and the size of its code section, which is the
 * shipped module's when the two hold the same code.
 */
export async function shippedAreas(file) {
  const b = await wasmBreakdown(file, { top: Infinity });
  const parts = new Map();
  for (const f of b.top) {
    const path = pathOf(f.name);
    const [key, , area] = AREAS.find(([, re]) => re.test(path) || re.test(f.crate)) ?? ['other', null, 'other'];
    const p = parts.get(key) ?? { key, area, bytes: 0, functions: 0 };
    p.bytes += f.bytes;
    p.functions++;
    parts.set(key, p);
  }
  const areas = [...parts.values()].sort((x, y) => y.bytes - x.bytes);
  for (const a of areas) a.share = a.bytes / b.codeBytes;
  const codeSection = b.sections.find((x) => x.section === 'code')?.bytes;
  return { codeBytes: b.codeBytes, codeSection, dataBytes: b.dataBytes, functions: b.functions, areas };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const b = await wasmBreakdown(process.argv[2]);
  console.log(`code ${b.codeBytes} bytes in ${b.functions} functions, data ${b.dataBytes} bytes`);
  for (const c of b.crates.slice(0, 20)) console.log(`${(c.share * 100).toFixed(1).padStart(5)} % ${String(c.bytes).padStart(7)} ${c.crate}`);
  console.log('largest functions:');
  for (const f of b.top) console.log(`${(f.share * 100).toFixed(1).padStart(5)} % ${String(f.bytes).padStart(7)} ${f.name.slice(0, 110)}`);
}
