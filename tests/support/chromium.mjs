// Debian's Chromium driven by playwright-core (no browser download; scripts/setup.sh installs
// it), with the flags that keep it off the closed network. `options.args` are added to those
// flags; the other options are passed to `chromium.launch` as they are.
import { chromium } from 'playwright-core';

export function launchChromium({ args = [], ...options } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...args],
    ...options,
  });
}
