// Bundles every SDK the same way: its adapter (bench/peers/<name>.js: init, track, flush) with
// esbuild into one minified ESM file, bench/dist/<name>.js. For agent-track the bundle is the
// wasm-bindgen glue; the .wasm beside it is loaded by the glue.
// Usage: node bench/build-peers.mjs   (after `npm ci --prefix bench` and `npm run build`)
import { build } from 'esbuild';
import { readFile, mkdir, copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SDKS = [
  { name: 'agent-track', label: 'agent-track', pkg: null, api: 'trackAgent' },
  // Measured right after agent-track, so that the two closest rows see the same machine load.
  { name: 'floor', label: 'floor: JSON.stringify + localStorage.setItem', pkg: null, api: '(plain JS)', reference: true },
  { name: 'pendo', label: 'Pendo', pkg: '@pendo/agent', api: 'pendo.trackAgent' },
  { name: 'segment', label: 'Segment', pkg: '@segment/analytics-next', api: 'analytics.track' },
  { name: 'posthog', label: 'PostHog', pkg: 'posthog-js', api: 'posthog.capture' },
  { name: 'amplitude', label: 'Amplitude', pkg: '@amplitude/analytics-browser', api: 'amplitude.track' },
  { name: 'snowplow', label: 'Snowplow', pkg: '@snowplow/browser-tracker', api: 'trackStructEvent' },
  { name: 'mixpanel', label: 'Mixpanel', pkg: 'mixpanel-browser', api: 'mixpanel.track' },
];

export async function versionOf(pkg) {
  const file = pkg ? join(here, 'node_modules', pkg, 'package.json') : join(here, '..', 'pkg', 'package.json');
  return JSON.parse(await readFile(file, 'utf8')).version;
}

export async function buildAll() {
  await mkdir(join(here, 'dist'), { recursive: true });
  const out = {};
  for (const sdk of SDKS) {
    const t = Date.now();
    const r = await build({
      entryPoints: [join(here, 'peers', `${sdk.name}.js`)], outfile: join(here, 'dist', `${sdk.name}.js`),
      bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2020',
      define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
      logLevel: 'error', metafile: true,
    });
    out[sdk.name] = { ms: Date.now() - t, warnings: r.warnings.length };
  }
  await copyFile(join(here, '..', 'pkg', 'agent_track_bg.wasm'), join(here, 'dist', 'agent_track_bg.wasm'));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await buildAll());
}
