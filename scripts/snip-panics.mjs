// Replaces the body of every Rust panic and abort entry point of a wasm module with a bare
// `unreachable`: `node scripts/snip-panics.mjs <module.wasm>` (in place; scripts/build.sh runs
// it on the wasm-bindgen output, before wasm-opt). What wasm-snip's --snip-rust-panicking-code
// does, with binaryen.js (the binaryen dev dependency that also provides wasm-opt).
//
// Nothing observable changes: on wasm32-unknown-unknown a panic formats its message for a
// stderr that discards it, then aborts with `unreachable`, which JS sees as a RuntimeError.
// After the snip a panic is that same trap, without the formatting: std's panic handler, its
// payload boxes and thread-locals, and the message formatting of bounds and char-boundary
// checks become unreachable and wasm-opt removes them. Only functions that never return are
// snipped (no results, names from the list below); JS-visible errors (wasm-bindgen's
// `throw_str`, `unwrap_throw`, `expect_throw`, its "recursive use" error) are not panics and
// stay.
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
/** The ones that must be found: without them the names changed and this snips nothing useful. */
const REQUIRED = ['__rustc::rust_begin_unwind', 'core::panicking::panic_fmt'];

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/snip-panics.mjs <module.wasm>');
  process.exit(2);
}
const module = binaryen.readBinary(readFileSync(file));
// The features scripts/build.sh gives wasm-opt, and no more: with all of them binaryen writes
// encodings (compact imports) that browsers refuse.
const F = binaryen.Features;
module.setFeatures(F.BulkMemory | F.NontrappingFPToInt | F.SignExt | F.ReferenceTypes | F.Multivalue | F.MutableGlobals);
const plain = (name) => name.replace(/\[[0-9a-f]+\]/g, '').replace(/::h[0-9a-f]{16}$/, '');
const snipped = [];
for (let i = 0; i < module.getNumFunctions(); i++) {
  const f = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
  if (!f.body || f.results !== binaryen.none || !PANICS.some((re) => re.test(plain(f.name)))) continue;
  snipped.push(f);
}
const missing = REQUIRED.filter((n) => !snipped.some((f) => plain(f.name) === n));
if (missing.length) {
  console.error(`snip-panics: ${file} has no ${missing.join(', ')} (no name section, or std renamed them)`);
  process.exit(1);
}
for (const f of snipped) {
  module.removeFunction(f.name);
  module.addFunction(f.name, f.params, f.results, [], module.unreachable());
}
// Keep the names: wasm-opt drops the name section itself unless asked to keep it.
binaryen.setDebugInfo(true);
writeFileSync(file, module.emitBinary());
module.dispose();
console.log(`snip-panics: ${snipped.length} panic entry points of ${file} now trap directly`);
