// Minifies wasm-bindgen's JS glue and the modules it imports (pkg/snippets/**, copied from
// js/) in place: `node scripts/minify-glue.mjs <file.js>...` (scripts/shrink.sh runs it). A
// page that imports the package without a bundler fetches these files as they are. Same exports, same `new URL('agent_track_bg.wasm', import.meta.url)` for
// bundlers to find the module; the types are in the .d.ts, which is left alone. The minifier
// is oxc's, through rolldown (a dev dependency, also Vite's bundler).
import { minifySync } from 'rolldown/experimental';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node scripts/minify-glue.mjs <file.js>...');
  process.exit(2);
}
for (const file of files) {
  const source = readFileSync(file, 'utf8');
  const out = minifySync(basename(file), source, { module: true, compress: true, mangle: { toplevel: true } });
  if (out.errors?.length) {
    console.error(`minify-glue: ${file}:`, out.errors.map((e) => e.message ?? e).join('\n'));
    process.exit(1);
  }
  writeFileSync(file, out.code);
  console.log(`minify-glue: ${file} ${source.length} -> ${out.code.length} bytes`);
}
