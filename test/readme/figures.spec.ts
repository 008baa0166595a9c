/**
 * README's figures that drift with the code are held to what the build makes: the browser
 * bundle sizes (scripts/build-browser.mjs writes dist/browser/sizes.json; `npm test` builds
 * first), and "no source maps" (nothing shipped points at a map). A failure prints the line to write.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const BROWSER = path.join(REPO_ROOT, 'dist/browser');

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

describe('README figures', () => {
  it('the browser bundle sizes are the built ones', () => {
    const bundle = readFileSync(path.join(BROWSER, 'socketd.min.js'));
    const rx = readFileSync(path.join(BROWSER, 'socketd-rx.min.js'));
    const sizes = JSON.parse(readFileSync(path.join(BROWSER, 'sizes.json'), 'utf8')) as Record<string, { minifiedKiB: string; gzippedKiB: string }>;
    const expected = { minifiedKiB: kib(bundle.length), gzippedKiB: kib(gzipSync(bundle, { level: 9 }).length) };
    expect(sizes['socketd.min.js']).toEqual(expected);
    const line = `\`dist/browser/socketd.min.js\`, ${expected.minifiedKiB} KiB minified, ${expected.gzippedKiB} KiB`;
    expect(README.replace(/\s+/g, ' ')).toContain(line);
    expect(README).toContain(`for rxjs users (${kib(gzipSync(rx, { level: 9 }).length)} KiB gzipped`);
  });

  it('nothing built points at a source map (README: "no source maps")', () => {
    expect(README).toContain('no source maps');
    const files = [
      ...readdirSync(BROWSER).map((f) => path.join(BROWSER, f)),
      ...(readdirSync(path.join(REPO_ROOT, 'dist/lib'), { recursive: true }) as string[]).map((f) => path.join(REPO_ROOT, 'dist/lib', f)),
    ].filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(20);
    const pointing = files.filter((f) => readFileSync(f, 'utf8').includes('sourceMappingURL'));
    expect(pointing).toEqual([]);
  });
});
