// `npm run build` (after tsc): bundles the browser client (lib/browser) with esbuild into
// dist/browser/: socketd.min.js (nestjs-socketd/browser) and socketd-rx.min.js
// (nestjs-socketd/browser/rx, rxjs left to the page). Prints the sizes, minified and gzipped.
// platform 'browser' makes any Node built-in reached from lib/browser a build error.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv[2] ?? join(root, 'dist/browser');

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'none',
  sourcemap: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['lib/browser/index.ts'], outfile: join(outdir, 'socketd.min.js'), inject: ['scripts/browser-buffer.mjs'] }),
  build({ ...common, entryPoints: ['lib/browser/rx.ts'], outfile: join(outdir, 'socketd-rx.min.js'), external: ['rxjs'] }),
]);

for (const name of ['socketd.min.js', 'socketd-rx.min.js']) {
  const bytes = readFileSync(join(outdir, name));
  console.log(`${join(outdir, name)}: ${(bytes.length / 1024).toFixed(1)} KiB minified, ${(gzipSync(bytes, { level: 9 }).length / 1024).toFixed(1)} KiB gzipped`);
}
