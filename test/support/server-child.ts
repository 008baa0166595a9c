import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from './engine.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_SCRIPT = path.join(REPO_ROOT, 'test/engine/cluster-server.mjs');

/** A cluster-server.mjs child: SIGKILL-able, restartable on the same port. */
export class ServerChild {
  static readonly children = new Set<ServerChild>();

  /** SIGKILLs every child still running (afterEach). */
  static async killAll(): Promise<void> {
    await Promise.all([...ServerChild.children].map((c) => c.kill()));
  }

  private constructor(readonly proc: ChildProcess, readonly port: number, private readonly exited: Promise<void>) {}

  static async start(schema: Schema, name: string, port = 0): Promise<ServerChild> {
    if (!existsSync(path.join(REPO_ROOT, 'dist/lib/engine.js'))) throw new Error('dist/lib is missing: run `npm run build` first');
    const proc = spawn(process.execPath, ['--no-warnings', SERVER_SCRIPT, JSON.stringify({ schema, name, port })], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const bound = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server ${name} did not start: ${stderr}`)); }, 30_000);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server ${name} exited (${code}): ${stderr}`)); });
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    const child = new ServerChild(proc, bound, exited);
    ServerChild.children.add(child);
    return child;
  }

  url(schema: Schema): string {
    return `sd:${schema}://127.0.0.1:${this.port}/cluster`;
  }

  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
    ServerChild.children.delete(this);
  }
}

