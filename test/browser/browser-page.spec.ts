/**
 * The browser suite (browser-page.suite.ts) needs a real Chromium: Debian's /usr/bin/chromium
 * (`apt-get install chromium`; `.ci/run` installs it) or CHROMIUM_PATH. Without one it runs
 * only outside CI, where it says loudly how to enable it; under CI=true a missing Chromium fails.
 */
import { expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { CHROMIUM } from './browser-helpers.js';

if (existsSync(CHROMIUM)) {
  await import('./browser-page.suite.js');
} else {
  it('needs Chromium (required under CI)', () => {
    process.stderr.write(
      `\n*** browser suite NOT RUN: no Chromium at ${CHROMIUM}. ` +
      'Install it (`sudo apt-get install chromium`) or set CHROMIUM_PATH to run the 5 browser tests. ***\n\n',
    );
    expect(['', '0', 'false']).toContain(process.env['CI'] ?? '');
  });
}
