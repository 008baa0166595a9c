/** Parent-side handles on the forked server and client children. */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProcUsage, RssReport, ServerToParent } from './types.js';

const SERVER_JS = fileURLToPath(new URL('./server.js', import.meta.url));

/** CPU the server children are pinned to (`--pin`), or undefined. */
let serverCpu: number | undefined;

/**
 * Pins this process (every thread) to `clientCpu` and future server children to `srvCpu`,
 * with `taskset`. Returns false when taskset is unavailable.
 */
export function pinCpus(clientCpu: number, srvCpu: number): boolean {
  if (!pin(process.pid, clientCpu)) return false;
  serverCpu = srvCpu;
  return true;
}

/** Pins a process (all its threads) to one CPU; false when taskset failed. */
export function pin(pid: number | undefined, cpu: number | undefined): boolean {
  if (pid === undefined || cpu === undefined) return false;
  try {
    execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function serverCpuPin(): number | undefined {
  return serverCpu;
}

export class ServerProc {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (m: ServerToParent) => {
      if (m.type === 'reply') {
        const fn = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        fn?.(m.value);
      }
    });
  }

  static start(transport: string, timeoutMs = 30_000, env?: Record<string, string>): Promise<ServerProc> {
    const child = fork(SERVER_JS, [transport], {
      // BENCH_SERVER_NODE_ARGS: node flags for the server child alone (e.g. --cpu-prof, --trace-gc).
      execArgv: [...process.execArgv, ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    if (serverCpu !== undefined) pin(child.pid, serverCpu);
    return new Promise<ServerProc>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`server ${transport} did not start in ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`server ${transport} exited (${code}) before ready`));
      };
      child.once('exit', onExit);
      child.once('message', (m: ServerToParent) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (m.type === 'ready') resolve(new ServerProc(child, m.port));
        else {
          child.kill('SIGKILL');
          reject(new Error(m.type === 'fatal' ? m.message : `unexpected ${JSON.stringify(m)}`));
        }
      });
    });
  }

  private cmd<T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error('server child gone'));
        return;
      }
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.send({ cmd, id, ...extra });
    });
  }

  reset(): Promise<void> {
    return this.cmd('reset');
  }
  count(): Promise<number> {
    return this.cmd('count');
  }
  /** Resolves once the server has counted n events since the last reset. */
  expect(n: number): Promise<number> {
    return this.cmd('expect', { n });
  }
  /** RSS (after two full GCs when `gc`) and CPU time of the server process. */
  usage(gc: boolean): Promise<ProcUsage> {
    return this.cmd('usage', { gc });
  }
  rssStart(): Promise<void> {
    return this.cmd('rss-start');
  }
  rssStop(): Promise<RssReport> {
    return this.cmd('rss-stop');
  }

  async stop(): Promise<void> {
    if (!this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    this.cmd('exit').catch(() => undefined);
    await exited;
    clearTimeout(t);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
