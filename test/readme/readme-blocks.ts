// Helpers of examples.spec.ts: read README.md's fenced ```ts blocks, transpile them the way a
// user's tsc would, and run the result as a child process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import ts from 'typescript';

export interface ReadmeBlock {
  /** The `## ` heading the block sits under (sub-headings do not change it). */
  section: string;
  /** The 1-based line of the block's first code line in README.md. */
  line: number;
  code: string;
}

/** Every ```ts block of the file, with its `## ` section. */
export function readTsBlocks(readmePath: string): ReadmeBlock[] {
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('## ')) section = line.slice(3).trim();
    if (line.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    blocks.push({ section, line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** The blocks of one section, failing clearly when the README was reorganised. */
export function blocksOf(blocks: ReadmeBlock[], section: string, count: number): ReadmeBlock[] {
  const found = blocks.filter((b) => b.section === section);
  if (found.length < count) {
    throw new Error(`README.md: expected ${count} \`\`\`ts block(s) under "## ${section}", found ${found.length}`);
  }
  return found.slice(0, count);
}

/**
 * The output a block documents: the comment lines after a line `// Output:` up to the end of the
 * block, each without its leading `// ` (a bare `//` is an empty line). Undefined without one.
 */
export function documentedOutput(code: string): string[] | undefined {
  const lines = code.split('\n');
  const at = lines.findIndex((l) => l.trim() === '// Output:');
  if (at < 0) return undefined;
  const out: string[] = [];
  for (const raw of lines.slice(at + 1)) {
    const line = raw.trim();
    if (line === '') continue;
    if (!line.startsWith('//')) throw new Error(`README.md: code after the "// Output:" comment: ${line}`);
    out.push(line === '//' ? '' : line.replace(/^\/\/ ?/, ''));
  }
  return out;
}

/** TypeScript to an ES module, as tsc would emit it with the repository's decorator settings. */
export function transpile(code: string, fileName: string): string {
  const result = ts.transpileModule(code, {
    fileName,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      useDefineForClassFields: false,
    },
  });
  const errors = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const text = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n');
    throw new Error(`${fileName} does not transpile:\n${text}`);
  }
  return result.outputText;
}

/** A TCP port that was free a moment ago (listened on and released, as the examples bind 0.0.0.0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    const why = gaveUp();
    if (why !== undefined) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface Running {
  readonly result: Promise<RunResult>;
  /** Output so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: () => boolean;
  kill(): void;
}

/** Runs `node file ...args`, killing it (SIGKILL) after `timeoutMs`. */
export function runNode(file: string, args: string[], cwd: string, timeoutMs: number): Running {
  const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  const result = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  return {
    result,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: () => exited,
    kill: () => { if (!exited) child.kill('SIGKILL'); },
  };
}

/** Stdout as lines, without the trailing empty one. */
export function outputLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
