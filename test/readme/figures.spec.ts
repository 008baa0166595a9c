/**
 * README's figures that drift with the code are held to what the build makes: the browser
 * bundle sizes (scripts/build-browser.mjs writes dist/browser/sizes.json; `npm test` builds
 * first), and "no source maps" (nothing shipped points at a map). Every error code and close code
 * the engine has is in README's tables. A failure prints what to write.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CloseCodes, describeCloseCode, ErrorCodes } from '../../lib/protocol/index.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const BROWSER = path.join(REPO_ROOT, 'dist/browser');

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

describe('README figures', () => {
  it('the browser bundle sizes are the built ones', () => {
    const bundle = readFileSync(path.join(BROWSER, 'socketd.min.js'));
    const rx = readFileSync(path.join(BROWSER, 'socketd-rx.min.js'));
    const otel = readFileSync(path.join(BROWSER, 'socketd-otel.min.js'));
    const sizes = JSON.parse(readFileSync(path.join(BROWSER, 'sizes.json'), 'utf8')) as Record<string, { minifiedKiB: string; gzippedKiB: string }>;
    const expected = { minifiedKiB: kib(bundle.length), gzippedKiB: kib(gzipSync(bundle, { level: 9 }).length) };
    expect(sizes['socketd.min.js']).toEqual(expected);
    const missing = [
      `\`dist/browser/socketd.min.js\`, ${expected.minifiedKiB} KiB minified, ${expected.gzippedKiB} KiB gzipped`,
      `for rxjs users (${kib(gzipSync(rx, { level: 9 }).length)} KiB gzipped`,
      `\`dist/browser/socketd-otel.min.js\`, ${kib(otel.length)} KiB minified, ${kib(gzipSync(otel, { level: 9 }).length)} KiB gzipped`,
    ].filter((line) => !README.replace(/\s+/g, ' ').includes(line));
    expect(missing.length === 0 ? 'README up to date' : `README.md should say: ${missing.join(' / ')}`).toBe('README up to date');
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

describe('README tables', () => {
  const section = (heading: string): string => {
    const start = README.indexOf(`\n${heading}\n`);
    expect(start).toBeGreaterThan(0);
    const end = README.indexOf('\n#', start + heading.length + 2);
    return README.slice(start, end);
  };

  it('every error code has its row, with its close code', () => {
    const errors = section('### Errors');
    for (const { code, close } of Object.values(ErrorCodes)) {
      const row = errors.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row ?? `no row for ${code}`).toContain(`| ${close === undefined ? '—' : close} |`);
      expect(row!.split(' | ').length).toBe(4);
    }
  });

  it('every close code has its row, and errors name its meaning', () => {
    const closes = section('### Close codes');
    for (const code of Object.values(CloseCodes)) {
      expect(closes).toMatch(new RegExp(`\\n\\| ${code} \\| [^|]+ \\| [^|]+ \\|`));
      expect(describeCloseCode(code)).toMatch(new RegExp(`^${code}: .+`));
    }
    expect(describeCloseCode(4999)).toBe('4999');
  });
});
