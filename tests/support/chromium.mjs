// Debian's Chromium driven by playwright-core (no browser download; scripts/setup.sh installs it),
// with the flags that keep it off the closed network.
import { chromium } from 'playwright-core';

export function launchChromium(options = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    ...options,
  });
}
