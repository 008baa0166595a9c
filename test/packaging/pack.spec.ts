// What `npm pack` would publish. Needs `npm run build` first (CI builds before `npm test`).
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface PackFile { path: string }

function packedFiles(): string[] {
  if (!existsSync(join(root, 'dist', 'lib', 'index.js'))) throw new Error('dist/lib is missing: run `npm run build` first');
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  return (JSON.parse(out) as { files: PackFile[] }[])[0]!.files.map((file) => file.path);
}

describe('npm pack', () => {
  const files = packedFiles();
  const set = new Set(files);

  it('ships the MIT LICENSE', () => {
    expect(set.has('LICENSE')).toBe(true);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 nestjs-socketd contributors');
  });

  it('ships no source map whose sources are missing', () => {
    for (const path of files.filter((file) => file.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(root, path), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      map.sources.forEach((source, i) => {
        const shipped = set.has(posix.normalize(posix.join(posix.dirname(path), source)));
        expect({ path, source, ok: shipped || typeof map.sourcesContent?.[i] === 'string' }).toEqual({ path, source, ok: true });
      });
    }
  });

  it('ships every file package.json points at, and no test or bench output', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      main: string; types: string; bin: Record<string, string>; exports: Record<string, string | Record<string, string>>; typesVersions: Record<string, Record<string, string[]>>;
    };
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const entry of Object.values(pkg.exports)) targets.push(...(typeof entry === 'string' ? [entry] : Object.values(entry)));
    for (const paths of Object.values(pkg.typesVersions['*']!)) targets.push(...paths);
    for (const target of targets) expect({ target, shipped: set.has(posix.normalize(target)) }).toEqual({ target, shipped: true });
    expect(files.filter((file) => /^(test|bench|dist\/(hostile|test))/.test(file))).toEqual([]);
  });

  it('ships the nestjs-socketd command line with its shebang (npx nestjs-socketd)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(pkg.bin)).toEqual(['nestjs-socketd']);
    const main = pkg.bin['nestjs-socketd']!;
    expect(set.has(main)).toBe(true);
    expect(readFileSync(join(root, main), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const out = execFileSync(process.execPath, [join(root, main), '--version'], { encoding: 'utf8' });
    expect(out).toBe(`${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });
});
