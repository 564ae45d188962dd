// Replaces the body of every Rust panic and abort entry point of a wasm module with a bare
// `unreachable`, then that of the text formatting only they use: `node
// scripts/snip-panics.mjs <module.wasm>` (in place; scripts/shrink.sh runs it on the
// wasm-bindgen output, before wasm-opt). What wasm-snip's --snip-rust-panicking-code and
// --snip-rust-fmt-code do (and nightly's panic_immediate_abort), with binaryen.js (the
// binaryen dev dependency that also provides wasm-opt).
//
// Nothing observable changes: on wasm32-unknown-unknown a panic formats its message for a
// stderr that discards it, then aborts with `unreachable`, which JS sees as a RuntimeError.
// After the snip a panic is that same trap, without the formatting: std's panic handler, its
// payload boxes and thread-locals, and the message formatting of bounds and char-boundary
// checks become unreachable and wasm-opt removes them. Only functions that never return are
// snipped (no results, names from the list below); JS-visible errors (wasm-bindgen's
// `throw_str`, `unwrap_throw`, `expect_throw`, its "recursive use" error) are not panics and
// stay. std's panic handler itself (std::panicking::*, its payload vtables) is snipped too:
// only a panic reaches it.
//
// The formatting (core::fmt, the Display and Debug impls in the function table, Unicode
// tables for `{:?}`) stays in the module after that: the table holds every function whose
// address was taken, and wasm-opt cannot tell which entries a `call_indirect` may reach. The
// module's own code formats nothing (it writes its messages and JSON by hand, see
// crates/schema/src/text.rs), so those functions are left for the panics alone, and are
// snipped too, but only after a check: no function outside them and the panic entry points
// calls one of them. A `format!`, `to_string()` or `write!` added to the module makes its
// function call into core::fmt, and the build stops here naming it instead of shipping a
// formatter that traps. What the check cannot see: formatting only through a `dyn Display`
// (`to_string()` on a `&dyn Display`), an indirect call with no direct one; the module has
// none, keep it so.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

/** The entry points, by demangled path without crate hashes (`core::panicking::panic_fmt`). */
const PANICS = [
  /^__rustc::rust_begin_unwind$/, // std's #[panic_handler]: every panic ends here
  /^core::panicking::/, // panic_fmt, panic, panic_bounds_check, panic_const_*
  /^core::option::(?:expect|unwrap)_failed$/,
  /^core::result::unwrap_failed$/,
  /^core::str::slice_error_fail(?:_rt)?$/,
  /^core::slice::index::slice_\w+_fail$/,
  /^core::slice::copy_from_slice_impl::len_mismatch_fail$/,
  /^core::cell::panic_already_(?:mutably_)?borrowed$/,
  /^<alloc::vec::Vec<_, _>>::(?:insert_mut|remove|swap_remove)::assert_failed$/,
  /^alloc::raw_vec::(?:handle_error|capacity_overflow)$/,
  /^alloc::alloc::handle_alloc_error$/,
  /^std::thread::local::panic_access_error$/,
];
/** std's panic handler and its payloads (table entries): reached from rust_begin_unwind only. */
const PANIC_HANDLER = /^<?std::panicking::/;
/** The formatting machinery, snipped once checked to serve only the panics. */
const FORMATTING = [
  /^core::fmt::/,
  /^<core::fmt::Formatter>::/,
  /^<[^<>]*(?:<[^<>]*>)? as core::fmt::(?:Display|Debug|Write|LowerHex|UpperHex)>::/,
  /^core::str::count::/, // Formatter::pad's width
  /^core::unicode::/, // `{:?}` escaping
  /^<char>::escape_debug_ext$/,
];
/** The ones that must be found: without them the names changed and this snips nothing useful. */
const REQUIRED = ['__rustc::rust_begin_unwind', 'core::panicking::panic_fmt'];

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/snip-panics.mjs <module.wasm>');
  process.exit(2);
}
const module = binaryen.readBinary(readFileSync(file));
// The features scripts/shrink.sh gives wasm-opt, and no more: with all of them binaryen writes
// encodings (compact imports) that browsers refuse.
const F = binaryen.Features;
module.setFeatures(F.BulkMemory | F.NontrappingFPToInt | F.SignExt | F.ReferenceTypes | F.Multivalue | F.MutableGlobals);
const plain = (name) => name.replace(/\[[0-9a-f]+\]/g, '').replace(/::h[0-9a-f]{16}$/, '');
const snipped = [];
for (let i = 0; i < module.getNumFunctions(); i++) {
  const f = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
  if (!f.body) continue;
  const name = plain(f.name);
  if ((f.results === binaryen.none && PANICS.some((re) => re.test(name))) || PANIC_HANDLER.test(name)) snipped.push(f);
}
const missing = REQUIRED.filter((n) => !snipped.some((f) => plain(f.name) === n));
if (missing.length) {
  console.error(`snip-panics: ${file} has no ${missing.join(', ')} (no name section, or std renamed them)`);
  process.exit(1);
}
const trap = (f) => {
  module.removeFunction(f.name);
  module.addFunction(f.name, f.params, f.results, [], module.unreachable());
};
snipped.forEach(trap);

// The formatting functions, and who calls them directly (from the text form: one `(func`
// per function, `(call $name` per direct call).
const formatting = [];
for (let i = 0; i < module.getNumFunctions(); i++) {
  const f = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
  if (f.body && FORMATTING.some((re) => re.test(plain(f.name)))) formatting.push(f);
}
const inside = new Set([...snipped, ...formatting].map((f) => plain(f.name)));
const fmtNames = new Set(formatting.map((f) => plain(f.name)));
const unquote = (n) => plain(n.startsWith('"') ? n.slice(1, -1) : n);
const callers = new Set();
let current = null;
for (const line of module.emitText().split('\n')) {
  const func = /^ \(func \$("(?:[^"\\]|\\.)*"|[^\s()]+)/.exec(line);
  if (func) current = unquote(func[1]);
  for (const call of line.matchAll(/\((?:call|return_call) \$("(?:[^"\\]|\\.)*"|[^\s()]+)/g)) {
    if (fmtNames.has(unquote(call[1])) && current && !inside.has(current)) callers.add(current);
  }
}
if (callers.size) {
  console.error(`snip-panics: ${file}: these functions format text, so core::fmt stays and is not snipped:\n  ${[...callers].join('\n  ')}\nwrite the text by hand (agent_track_schema::text: cat!, num, push_u64, push_json_str) instead`);
  process.exit(1);
}
formatting.forEach(trap);

// Keep the names: wasm-opt drops the name section itself unless asked to keep it.
binaryen.setDebugInfo(true);
writeFileSync(file, module.emitBinary());
module.dispose();
console.log(`snip-panics: ${snipped.length} panic functions and ${formatting.length} formatting functions of ${file} now trap directly`);
