/**
 * lib/session is transport-neutral (README, Architecture): it imports no network module and
 * names no transport in its code. A transport's options, capabilities and error hints belong to
 * the transport (lib/transports); the session reads `Connection.capabilities` and passes the
 * transports' options through. Comments may name schemas as examples; string literals may not.
 * (`.dependency-cruiser.cjs` checks the imports too: rule `session-is-transport-neutral`.)
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const SESSION_DIR = join(process.cwd(), 'lib', 'session');
/** A schema of a shipped transport (or its aliases), alone or as a URL prefix. */
const SCHEMA = /(^|[^a-z0-9-])(sd:)?(tcp|tcps|ws|wss|udp)(-[a-z]+)?(?![a-z0-9])/i;
const NETWORK_MODULE = /^(node:)?(http|https|http2|tls|dgram|net)$/;

/** The string and template literals of a TypeScript source, with their line. */
function literals(source: string): { text: string; line: number }[] {
  const found: { text: string; line: number }[] = [];
  const file = ts.createSourceFile('x.ts', source, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)
      || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      found.push({ text: node.text, line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    node.forEachChild(visit);
  };
  visit(file);
  return found;
}

const files = readdirSync(SESSION_DIR).filter((name) => name.endsWith('.ts'));

describe('lib/session is transport-neutral', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('imports no network module (node:http, https, tls, dgram, net)', () => {
    const offending: string[] = [];
    for (const name of files) {
      const file = ts.createSourceFile(name, readFileSync(join(SESSION_DIR, name), 'utf8'), ts.ScriptTarget.Latest, true);
      file.forEachChild((node) => {
        if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && NETWORK_MODULE.test(node.moduleSpecifier.text)) {
          offending.push(`${name}: ${node.moduleSpecifier.text}`);
        }
      });
      // import('node:http') in a type position.
      if (/import\(\s*['"](node:)?(http|https|http2|tls|dgram|net)['"]\s*\)/.test(file.text)) offending.push(`${name}: import() of a network module`);
    }
    expect(offending).toEqual([]);
  });

  it('names no transport schema in a string or template literal', () => {
    const offending: string[] = [];
    for (const name of files) {
      for (const { text, line } of literals(readFileSync(join(SESSION_DIR, name), 'utf8'))) {
        if (SCHEMA.test(text)) offending.push(`${name}:${line}: ${JSON.stringify(text)}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('the check finds what it looks for', () => {
    expect(literals("const a = 'sd:udp://x'; const b = `for ${x} ws`;").map((l) => SCHEMA.test(l.text))).toEqual([true, false, true]);
    expect(SCHEMA.test('the transport cannot serve TLS')).toBe(false);
    expect(SCHEMA.test('websocket')).toBe(false);
    expect(SCHEMA.test(' (for wss pass an https.Server)')).toBe(true);
    expect(SCHEMA.test('UDP does not fragment')).toBe(true);
  });
});
