// Zeroes the constants a wasm module no longer reads: `node scripts/trim-data.mjs <link.map>
// <module.wasm>` (in place; scripts/shrink.sh runs it after wasm-opt).
//
// Why: after scripts/snip-panics.mjs and wasm-opt, the code that read the panic messages,
// their source locations (file names, lines), core's formatting tables and the like is gone,
// but the constants stay in the module's data: the data section is one block at fixed
// addresses, and wasm-opt cannot tell where one constant ends and the next begins. The link
// map that wasm-ld writes for this build (build.rs, AGENT_TRACK_LINK_MAP) can: each input
// section of .rodata and .data is one constant, with its address and size.
//
// A constant is live when the code names an address within it or one past its end (an
// `i32.const`, either half of an `i64.const`, which may write a pointer and a length at once,
// or a load or store offset), or a live constant or any data the map does not account for
// holds such an address in one of its 4-byte words; a slack of 16 bytes below each constant
// keeps it live for pointers computed from just before it too. Everything else is zeroed, not
// removed: no address moves, so nothing else changes, and gzip stores the zeros in a few
// bytes. Conservative by design: a word that only looks like a pointer keeps its target.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

const [mapFile, file] = process.argv.slice(2);
if (!mapFile || !file) {
  console.error('usage: node scripts/trim-data.mjs <link.map> <module.wasm>');
  process.exit(2);
}
const SLACK = 16;

// The constants: input sections of .rodata and .data in the link map
// (`     VA     LMA     Size Align Out In Symbol` columns: address, offset, size, name).
const objects = [];
/** The span of .rodata and .data. */
let low = Infinity, high = 0;
/** wasm-ld's merged string sections: NUL-terminated strings, split below. */
const merged = [];
let output = null;
for (const line of readFileSync(mapFile, 'utf8').split('\n')) {
  const out = /^\s*([0-9a-f-]+)\s+[0-9a-f]+\s+([0-9a-f]+) (\S+)$/.exec(line);
  if (out) {
    output = out[3];
    if (output === '.rodata' || output === '.data') {
      low = Math.min(low, parseInt(out[1], 16));
      high = Math.max(high, parseInt(out[1], 16) + parseInt(out[2], 16));
    }
  }
  const m = /^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s{9}(\S.*:\(.*\))$/.exec(line);
  if (m && (output === '.rodata' || output === '.data')) {
    const size = parseInt(m[2], 16);
    if (size === 0) continue;
    if (m[3].startsWith('<internal>')) merged.push({ start: parseInt(m[1], 16), size });
    else objects.push({ start: parseInt(m[1], 16), size, live: false });
  }
}
objects.sort((a, b) => a.start - b.start);
if (objects.length === 0) {
  console.error(`trim-data: ${mapFile} lists no constants of .rodata or .data`);
  process.exit(1);
}

// The active data segments of the module, where their bytes are in the file.
const buf = Buffer.from(readFileSync(file));
const segments = [];
{
  let p = 8;
  const leb = () => { let r = 0, s = 0, b; do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  while (p < buf.length) {
    const id = buf[p++];
    const size = leb();
    const end = p + size;
    if (id === 11) {
      for (let n = leb(); n > 0; n--) {
        const flags = leb();
        // Active, memory 0, offset `i32.const N; end`: anything else and this script stops.
        if (flags !== 0 || buf[p++] !== 0x41) throw new Error(`trim-data: ${file}: a data segment that is not active at a constant address`);
        let r = 0, s = 0, b;
        do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80);
        if (s < 32 && b & 0x40) r |= -1 << s;
        if (buf[p++] !== 0x0b) throw new Error(`trim-data: ${file}: an offset expression that is not one constant`);
        const len = leb();
        segments.push({ addr: r >>> 0, at: p, len });
        p += len;
      }
    }
    p = end;
  }
}
// The map must be the module's: the module's data lies within the map's constants (wasm-opt
// may have left out zeros at the ends of segments, never added anything).
{
  const first = Math.min(...segments.map((s) => s.addr)), end = Math.max(...segments.map((s) => s.addr + s.len));
  if (!segments.length || first < low || end > high) {
    console.error(`trim-data: ${mapFile} does not describe ${file} (the module's data lies outside its constants)`);
    process.exit(1);
  }
}
const fileAt = (a) => {
  for (const s of segments) if (a >= s.addr && a < s.addr + s.len) return s.at + (a - s.addr);
  return -1;
};

// A merged string section is one constant per NUL-terminated string. Strings may share a
// tail, which a pointer into the middle of a string then names: such a string stays whole.
// A section that does not end in a NUL is left as one constant.
for (const m of merged) {
  const end = m.start + m.size;
  const byte = (a) => { const f = fileAt(a); return f < 0 ? 0 : buf[f]; };
  if (byte(end - 1) !== 0) {
    objects.push({ start: m.start, size: m.size, live: false });
    continue;
  }
  for (let a = m.start; a < end; ) {
    let z = a;
    while (byte(z) !== 0) z++;
    objects.push({ start: a, size: z + 1 - a, live: false });
    a = z + 1;
  }
}
objects.sort((a, b) => a.start - b.start);

// The constants an address may belong to: those within [start - SLACK, start + size].
const targets = (v) => {
  const out = [];
  let lo = 0, hi = objects.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (objects[mid].start + objects[mid].size < v) lo = mid + 1; else hi = mid; }
  for (let i = lo; i < objects.length && objects[i].start - SLACK <= v; i++) out.push(objects[i]);
  return out;
};
const work = [];
const mark = (v) => { for (const o of targets(v >>> 0)) if (!o.live) { o.live = true; work.push(o); } };

// Roots: the addresses the code names.
const module = binaryen.readBinary(buf);
const text = module.emitText();
module.dispose();
for (const m of text.matchAll(/i32\.const (-?\d+)|i64\.const (-?\d+)|offset=(\d+)/g)) {
  if (m[2] !== undefined) {
    const v = BigInt.asUintN(64, BigInt(m[2]));
    mark(Number(v & 0xffffffffn));
    mark(Number(v >> 32n));
  } else mark(Number(m[1] ?? m[3]));
}
// And the words of data no constant of the map accounts for (merged strings, padding).
const covered = (a) => targets(a).some((o) => a >= o.start && a < o.start + o.size);
for (const s of segments) {
  for (let a = (s.addr + 3) & ~3; a + 4 <= s.addr + s.len; a += 4) {
    if (!covered(a) || !covered(a + 3)) mark(buf.readUInt32LE(s.at + a - s.addr));
  }
}
// What live constants point to.
while (work.length) {
  const o = work.pop();
  for (let a = (o.start + 3) & ~3; a + 4 <= o.start + o.size; a += 4) {
    const f = fileAt(a);
    if (f >= 0 && fileAt(a + 3) === f + 3) mark(buf.readUInt32LE(f));
  }
}

let zeroed = 0, count = 0;
for (const o of objects) {
  if (o.live) continue;
  let any = false;
  for (let a = o.start; a < o.start + o.size; a++) {
    const f = fileAt(a);
    if (f >= 0 && buf[f] !== 0) { buf[f] = 0; zeroed++; any = true; }
  }
  if (any) count++;
}
writeFileSync(file, buf);
console.log(`trim-data: ${zeroed} bytes of ${count} constants that ${file} no longer reads are now zero`);
