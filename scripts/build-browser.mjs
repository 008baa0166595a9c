// `npm run build` (after tsc): bundles the browser client (lib/browser) with esbuild into
// dist/browser/: socketd.min.js (nestjs-socketd/browser), socketd-rx.min.js
// (nestjs-socketd/browser/rx, rxjs left to the page) and socketd-otel.min.js
// (nestjs-socketd/browser/otel, the tracing add-on). Prints the sizes, minified and gzipped,
// and writes them to dist/browser/sizes.json.
// platform 'browser' makes any Node built-in reached from lib/browser a build error.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  // No source maps: the package ships none (package.json `files`), so no sourceMappingURL either.
  sourcemap: false,
  logLevel: 'warning',
  absWorkingDir: root,
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['lib/browser/index.ts'], outfile: join(outdir, 'socketd.min.js'), inject: ['scripts/browser-buffer.mjs'] }),
  build({ ...common, entryPoints: ['lib/browser/rx.ts'], outfile: join(outdir, 'socketd-rx.min.js'), external: ['rxjs'] }),
  build({ ...common, entryPoints: ['lib/browser/otel.ts'], outfile: join(outdir, 'socketd-otel.min.js') }),
]);

// sizes.json: the figures README quotes (test/readme/figures.spec.ts holds README to them).
const sizes = {};
for (const name of ['socketd.min.js', 'socketd-rx.min.js', 'socketd-otel.min.js']) {
  const bytes = readFileSync(join(outdir, name));
  const minifiedKiB = (bytes.length / 1024).toFixed(1);
  const gzippedKiB = (gzipSync(bytes, { level: 9 }).length / 1024).toFixed(1);
  sizes[name] = { minifiedKiB, gzippedKiB };
  console.log(`${join(outdir, name)}: ${minifiedKiB} KiB minified, ${gzippedKiB} KiB gzipped`);
}
writeFileSync(join(outdir, 'sizes.json'), JSON.stringify(sizes, null, 2) + '\n');
