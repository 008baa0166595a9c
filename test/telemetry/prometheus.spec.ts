/**
 * The Prometheus suite (prometheus.suite.ts) needs Debian's Prometheus at /usr/bin/prometheus
 * (`apt-get install prometheus`; `.ci/run` installs it) or PROMETHEUS_PATH. Without one it runs
 * only outside CI, where it says how to enable it; under CI=true a missing Prometheus fails.
 */
import { expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';

const PROMETHEUS = process.env['PROMETHEUS_PATH'] ?? '/usr/bin/prometheus';

if (existsSync(PROMETHEUS)) {
  await import('./prometheus.suite.js');
} else {
  it('needs Prometheus (required under CI)', () => {
    process.stderr.write(
      `\n*** Prometheus suite NOT RUN: no Prometheus at ${PROMETHEUS}. ` +
      'Install it (`sudo apt-get install prometheus`) or set PROMETHEUS_PATH to run it. ***\n\n',
    );
    expect(['', '0', 'false']).toContain(process.env['CI'] ?? '');
  });
}
