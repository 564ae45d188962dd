// Shortens the hashed names wasm-bindgen gives the module's imports and exports
// (`__wbg_getRandomValues_3f44b700395062e5`, `wasm_bindgen__convert__closures_____invoke__h…`):
// `node scripts/shorten-names.mjs <pkg/x_bg.wasm> <pkg/x.js>` renames each to `_w0`, `_w1`, …
// in the module's import and export sections and in the glue that provides and calls them
// (scripts/shrink.sh runs it after wasm-opt). The 16 hex digits of each name make it unique
// and do not compress: they cost twice, in the .wasm and in the glue. Names without such a
// hash (the package's API, `memory`, `__wbindgen_start`, …) are left alone.
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmFile, glueFile] = process.argv.slice(2);
if (!wasmFile || !glueFile) {
  console.error('usage: node scripts/shorten-names.mjs <module.wasm> <glue.js>');
  process.exit(2);
}
const HASHED = /^[A-Za-z_$][\w$]*_h?[0-9a-f]{16}$/;
const buf = readFileSync(wasmFile);
let glue = readFileSync(glueFile, 'utf8');
if (/\b_w\d+\b/.test(glue)) {
  console.error(`shorten-names: ${glueFile} already uses _w<n> names`);
  process.exit(1);
}

let pos = 0;
const u32 = () => {
  let r = 0, shift = 0, b;
  do { b = buf[pos++]; r += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
  return r;
};
const leb = (n) => {
  const out = [];
  do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return Buffer.from(out);
};
const str = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([leb(b.length), b]); };
const name = () => { const n = u32(); const s = buf.toString('utf8', pos, pos + n); pos += n; return s; };
const limits = () => { const flags = buf[pos++]; u32(); if (flags & 1) u32(); };

const renamed = new Map();
const short = (n) => {
  if (!HASHED.test(n)) return n;
  if (!renamed.has(n)) renamed.set(n, `_w${renamed.size}`);
  return renamed.get(n);
};

const parts = [buf.subarray(0, 8)];
pos = 8;
while (pos < buf.length) {
  const sectionStart = pos;
  const id = buf[pos++];
  const size = u32();
  const end = pos + size;
  if (id === 2 || id === 7) {
    const count = u32();
    const entries = [leb(count)];
    for (let i = 0; i < count; i++) {
      if (id === 2) {
        const module = name();
        const field = name();
        const at = pos;
        const kind = buf[pos++];
        if (kind === 0) u32();
        else if (kind === 1) { pos++; limits(); }
        else if (kind === 2) limits();
        else if (kind === 3) pos += 2;
        else if (kind === 4) { pos++; u32(); }
        else throw new Error(`shorten-names: import kind ${kind} not handled`);
        entries.push(str(module), str(short(field)), buf.subarray(at, pos));
      } else {
        const field = name();
        const at = pos;
        pos++;
        u32();
        entries.push(str(short(field)), buf.subarray(at, pos));
      }
    }
    if (pos !== end) throw new Error(`shorten-names: section ${id} not read to its end`);
    const body = Buffer.concat(entries);
    parts.push(Buffer.from([id]), leb(body.length), body);
  } else {
    parts.push(buf.subarray(sectionStart, end));
  }
  pos = end;
}

for (const [long, s] of renamed) {
  const re = new RegExp(`\\b${long.replace(/\$/g, '\\$')}\\b`, 'g');
  if (!re.test(glue)) {
    console.error(`shorten-names: ${glueFile} never names ${long}`);
    process.exit(1);
  }
  glue = glue.replace(re, s);
}
writeFileSync(wasmFile, Buffer.concat(parts));
writeFileSync(glueFile, glue);
console.log(`shorten-names: ${renamed.size} import and export names of ${wasmFile} and ${glueFile} shortened`);
