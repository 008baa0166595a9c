// A tiny consumer project type-checks its imports of the package under each moduleResolution
// TypeScript users have. The package resolves through node_modules/nestjs-socketd, a symlink
// to this repository (so it needs `npm run build` first, as CI does).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const CONSUMER = `
import { SocketDClient, SocketDServer, type SocketDClientOptions } from 'nestjs-socketd';
import { SdClient, listen, type ClientOptions } from 'nestjs-socketd/engine';
import { SocketDMsgpackSerializer, DATA_TYPE_MSGPACK } from 'nestjs-socketd/msgpack';
import { SocketDHealthIndicator } from 'nestjs-socketd/terminus';

const options = { host: '127.0.0.1', port: 8602, requestTimeout: 1000 } satisfies SocketDClientOptions;
const engine: ClientOptions = { autoReconnect: false };
export const all = [SocketDClient, SocketDServer, SdClient, listen, SocketDMsgpackSerializer, SocketDHealthIndicator, options, engine, DATA_TYPE_MSGPACK];
`;

const SETUPS = {
  node10: { module: 'commonjs', moduleResolution: 'node', type: 'commonjs', ignoreDeprecations: '6.0' },
  node16: { module: 'node16', moduleResolution: 'node16', type: 'module' },
  bundler: { module: 'esnext', moduleResolution: 'bundler', type: 'module' },
} as const;

describe('a consumer project type-checks against the built package', () => {
  let dir: string;

  beforeAll(() => {
    if (!existsSync(join(root, 'dist', 'lib', 'index.d.ts'))) throw new Error('dist/lib is missing: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'socketd-consumer-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'nestjs-socketd'), 'dir');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(Object.entries(SETUPS))('under moduleResolution %s', async (name, setup) => {
    const project = join(dir, name);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: setup.type }));
    writeFileSync(join(project, 'index.ts'), CONSUMER);
    const { type: _type, ...rest } = setup;
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        ...rest, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')], experimentalDecorators: true, esModuleInterop: true,
      },
      files: ['index.ts'],
    }));
    // node_modules of the consumer: the package (symlink) and, for its own imports, the repo's.
    const run = promisify(execFile);
    const result = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
      () => '',
      (err: { stdout?: string; message: string }) => err.stdout || err.message,
    );
    expect(result).toBe('');
  });
});
