// Keeps README.md honest: its examples run as written and print what they say.
//
// The README's convention: a runnable example ends with its output, as comments:
//
//   // Output:
//   // hello { a: '1', echoed: '1' }
//   // end
//
// - Every ```ts block with a `// Output:` comment (the engine example, "The engine without Nest",
//   among them) is transpiled, run with node, must exit 0 by itself, and its stdout lines must
//   equal the comment lines after `// Output:` (each without its leading `// `).
// - "NestJS quick start": the server block runs as a process; a driver (quick-start-driver.mjs)
//   imports the client block, which must export ClientModule and UsersClient, and calls every
//   UsersClient method against that server (killed at the end: a server keeps serving).
// - The same blocks type-check under the repository's tsconfig.json (strict, nodenext), against
//   the built package's .d.ts files, as a user's project would.
//
// How a block runs: `ts.transpileModule` (ESNext module, experimentalDecorators +
// emitDecoratorMetadata, as the repository compiles), written to test/readme/.tmp-*/ INSIDE
// the repository so that `import ... from 'nestjs-socketd'` resolves to this package through
// its package.json "exports", i.e. to the BUILT package: run `npm run build` first (CI does).
// The examples use port 8602; the test replaces every `8602` in the extracted code with a free
// port, so runs in parallel with other tests (or a real server on 8602) do not collide.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  blocksOf, documentedOutput, freePort, outputLines, readTsBlocks, runNode, transpile, waitForPort,
  type ReadmeBlock, type RunResult,
} from './readme-blocks.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const README = join(root, 'README.md');
const ENGINE_SECTION = 'The engine without Nest';
const QUICK_START_SECTION = 'NestJS quick start';
// Generous for a slow 2-core machine; a healthy run takes well under a second per example
// (Nest's boot a little more). An example that never exits costs EXAMPLE_TIMEOUT_MS.
const EXAMPLE_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 15_000;

const blocks = readTsBlocks(README);
// The blocks run as programs: the engine example, and any other that documents its output.
const runnable = blocks.filter((b) => b.section === ENGINE_SECTION || documentedOutput(b.code) !== undefined);

function describeRun(what: string, run: RunResult, timeoutMs: number): string {
  return [
    `${what}: exit code ${run.code}, signal ${run.signal}${run.timedOut ? ` (killed after ${timeoutMs} ms: it did not exit by itself)` : ''}`,
    `--- stdout ---\n${run.stdout}`,
    `--- stderr ---\n${run.stderr}`,
  ].join('\n');
}

describe('README.md examples', () => {
  let tmp: string;

  /** Transpiles a block (its 8602 ports replaced by `port`) into the temp dir; returns the file. */
  function materialize(block: ReadmeBlock, name: string, port: number): string {
    const code = block.code.replaceAll('8602', String(port));
    const file = join(tmp, `${name}.mjs`);
    writeFileSync(file, `// README.md line ${block.line} ("## ${block.section}")\n${transpile(code, `${name}.ts`)}`);
    return file;
  }

  beforeAll(() => {
    for (const built of ['index.js', 'engine.js']) {
      if (!existsSync(join(root, 'dist', 'lib', built))) {
        throw new Error(`dist/lib/${built} is missing: run \`npm run build\` before this test (the README examples import the built package)`);
      }
    }
    tmp = mkdtempSync(join(here, '.tmp-'));
  });

  afterAll(() => {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('has the examples this test runs', () => {
    blocksOf(blocks, ENGINE_SECTION, 1);
    blocksOf(blocks, QUICK_START_SECTION, 2);
  });

  it.each(runnable.map((b) => [`line ${b.line} (${b.section})`, b] as const))(
    'the example at README.md %s exits by itself and prints its // Output: lines',
    async (_name, block) => {
      const expected = documentedOutput(block.code);
      if (expected === undefined) throw new Error(`README.md line ${block.line}: the example has no "// Output:" comment listing what it prints`);
      const file = materialize(block, `example-${block.line}`, await freePort());
      const run = await runNode(file, [], tmp, EXAMPLE_TIMEOUT_MS).result;
      const report = describeRun(`README.md line ${block.line}`, run, EXAMPLE_TIMEOUT_MS);
      if (run.code !== 0 || run.timedOut) throw new Error(report);
      expect(outputLines(run.stdout)).toEqual(expected);
      expect(run.stderr).toBe('');
    },
  );

  it('the NestJS quick start: the client module calls the server as written', async () => {
    const [server, client] = blocksOf(blocks, QUICK_START_SECTION, 2);
    const port = await freePort();
    const serverFile = materialize(server!, 'quick-start-server', port);
    const clientFile = materialize(client!, 'quick-start-client', port);

    const serverRun = runNode(serverFile, [], tmp, RUN_TIMEOUT_MS * 2);
    try {
      await waitForPort(port, RUN_TIMEOUT_MS, () =>
        serverRun.exited() ? `the quick-start server exited before listening:\n${serverRun.stdout()}\n${serverRun.stderr()}` : undefined);

      const driver = await runNode(join(here, 'quick-start-driver.mjs'), [clientFile], tmp, RUN_TIMEOUT_MS).result;
      const report = describeRun('quick-start client driver', driver, RUN_TIMEOUT_MS) + `\n--- server so far ---\n${serverRun.stdout()}${serverRun.stderr()}`;
      if (driver.code !== 0) throw new Error(report);
      const lines = outputLines(driver.stdout);
      const results = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;

      expect(results).toEqual({
        getUser: { id: 1, name: 'Ada', caller: 'web' },                       // caller: the URL's ?client=web
        notFound: { rejected: { code: 404, message: 'no such user' } },        // the RpcException's object
        ticks: [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }],            // every value, in order
        audit: { completed: true, value: null },
        withMetas: { id: 7, name: 'Ada', caller: 'web' },                     // a plain Request with metas
      });
      expect(serverRun.exited()).toBe(false);                                 // a server keeps serving
      // Nothing went wrong on the server's side: no handshake refused, no error logged.
      expect(serverRun.stdout()).not.toMatch(/\b(ERROR|WARN)\b/);
      expect(serverRun.stderr()).toBe('');
    } finally {
      serverRun.kill();
      await serverRun.result;
    }
  });

  it('the examples type-check (strict, nodenext) against the built package', async () => {
    const [server, client] = blocksOf(blocks, QUICK_START_SECTION, 2);
    const dir = join(tmp, 'typecheck');
    mkdirSync(dir);
    const files: string[] = [];
    for (const [name, block] of [['quick-start-server', server!], ['quick-start-client', client!], ...runnable.map((b) => [`example-${b.line}`, b] as const)] as const) {
      writeFileSync(join(dir, `${name}.ts`), block.code);
      files.push(`${name}.ts`);
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      compilerOptions: { noEmit: true, sourceMap: false, declaration: false },
      include: [],
      files,
    }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const errors = await promisify(execFile)(process.execPath, [tsc, '-p', dir], { cwd: dir, timeout: 60_000 }).then(
      () => '',
      (err: { stdout?: string; message: string }) => err.stdout || err.message,
    );
    expect(errors).toBe('');
  });
});
