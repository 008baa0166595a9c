/** Runs the built command line (dist/lib/cli/main.js) as a child process. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(root, 'dist', 'lib', 'cli', 'main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running command line: its output so far, and its end. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  readonly child: ChildProcessWithoutNullStreams;

  constructor(args: readonly string[], stdin?: string | Buffer) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe' });
    this.child.stdout.on('data', (chunk: Buffer) => { this.stdout += chunk.toString('utf8'); });
    this.child.stderr.on('data', (chunk: Buffer) => { this.stderr += chunk.toString('utf8'); });
    this.child.stdin.on('error', () => undefined);
    this.child.stdin.end(stdin);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Resolves once `test(stdout, stderr)` holds; fails (with the output so far) after `ms`. */
  async until(test: (stdout: string, stderr: string) => boolean, what: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test(this.stdout, this.stderr)) {
      if (Date.now() > end || this.child.exitCode !== null) {
        throw new Error(`CLI: timed out waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Runs the command line to its end. */
export function runCli(args: readonly string[], stdin?: string | Buffer): Promise<CliResult> {
  return new CliProcess(args, stdin).exited;
}

/** `listen` on a free port: the process and the URL it printed. */
export async function startListener(args: readonly string[] = [], schema = 'tcp'): Promise<{ cli: CliProcess; url: string }> {
  const cli = new CliProcess(['listen', `sd:${schema}://127.0.0.1:0`, ...args]);
  await cli.until((_, err) => /listening on \S+/.test(err), 'listening on');
  return { cli, url: /listening on (\S+)/.exec(cli.stderr)![1]! };
}
