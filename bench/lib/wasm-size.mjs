// Where the bytes of a wasm module go: function body sizes from the code section, named by
// the "name" custom section, grouped by the crate that defines them, plus the data segments.
// Reads the module cargo builds before wasm-bindgen and wasm-opt (it keeps its names), so the
// shares are of the unoptimised code; the shipped module is smaller but made of the same parts.
import { readFile } from 'node:fs/promises';

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
  let s = symbol;
  const mangled = /^_ZN(\d+)/.exec(s);
  if (mangled) {
    const len = Number(mangled[1]);
    s = s.slice(3 + mangled[1].length, 3 + mangled[1].length + len)
      .replace(/^_/, '').replace(/\$LT\$|\$RF\$|\$BP\$|mut\$u20\$|dyn\$u20\$|\$u5b\$/g, '').replace(/\.\./g, '::');
  }
  const v0 = /^_R.*?C(?:s[0-9A-Za-z]*_)?(\d+)/.exec(s);
  if (v0) {
    const at = v0.index + v0[0].length;
    return s.slice(at, at + Number(v0[1]));
  }
  s = s.replace(/^[A-Z]\$u20\$as\$u20\$/, '');
  s = s.replace(/^[<&\s]+/, '').replace(/^(mut|dyn)\s+/, '');
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?(::|$)/.exec(s);
  if (/^(__wbg|__wbindgen|__externref)/.test(s)) return 'wasm_bindgen';
  if (/^(memcpy|memmove|memset|memcmp|__rust|rust_|__rdl|__rg|__multi|__udiv|__umod|__div|__mul|__ash|__lsh)/.test(s)) return 'compiler builtins / runtime';
  if (m) return m[1];
  return '(other: ' + s.slice(0, 30) + ')';
}

export async function wasmBreakdown(file) {
  const buf = await readFile(file);
  const r = reader(buf);
  r.pos = 8;
  let imported = 0;
  const bodies = [];
  const names = new Map();
  let dataBytes = 0, customBytes = 0;
  while (r.pos < buf.length) {
    const id = buf[r.pos++];
    const size = r.u32();
    const start = r.pos, end = start + size;
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
  bodies.forEach((len, i) => {
    const sym = names.get(imported + i) ?? '(unnamed)';
    // wasm-bindgen's type descriptors run at build time and are removed from the shipped module.
    if (/describe/.test(sym)) { descriptors += len; return; }
    const crate = crateOf(sym);
    groups.set(crate, (groups.get(crate) ?? 0) + len);
    code += len;
  });
  return {
    file, totalBytes: buf.length, codeBytes: code, dataBytes, descriptorBytes: descriptors, functions: bodies.length,
    crates: [...groups].map(([crate, bytes]) => ({ crate, bytes, share: bytes / code })).sort((a, b) => b.bytes - a.bytes),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const b = await wasmBreakdown(process.argv[2]);
  console.log(`code ${b.codeBytes} bytes in ${b.functions} functions, data ${b.dataBytes} bytes`);
  for (const c of b.crates.slice(0, 20)) console.log(`${(c.share * 100).toFixed(1).padStart(5)} % ${String(c.bytes).padStart(7)} ${c.crate}`);
}
