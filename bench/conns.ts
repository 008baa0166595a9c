/**
 * The connections scenario (`--only conn-10k`; part of the full run): per row, a fresh server
 * child and a fresh client child (bench/conns-proc.ts), then
 * 1. echo@256 on one active session (the 1-session latency; the active client and the idle
 *    ones live in two client children);
 * 2. the server's RSS after a full GC, then n idle connections opened (256 at a time, from
 *    127.0.0.10.. round robin) and timed: handshakes per second (our rows: until the Connack);
 * 3. the server's RSS after a full GC again: (after - before) / n = RSS per idle session;
 * 4. the server's CPU time over one default heartbeat interval (20 s; the idle engine clients
 *    ping at their default): the heartbeat CPU;
 * 5. echo@256 again on the active session with the n idle ones beside it.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerProc, pin } from './proc.js';
import type { ConnsCmd, ConnsMsg } from './conns-proc.js';

const CONNS_PROC_JS = fileURLToPath(new URL('./conns-proc.js', import.meta.url));

/** Rows of the connections table: bare baselines first, then ours over the same transport. */
export const CONN_ROWS: readonly { name: string; baseline?: string; heartbeats: boolean }[] = [
  { name: 'raw-net', heartbeats: false },
  { name: 'bare-ws', heartbeats: false },
  { name: 'engine-tcp', baseline: 'raw-net', heartbeats: true },
  { name: 'engine-ws', baseline: 'bare-ws', heartbeats: true },
  { name: 'socketd-tcp', baseline: 'raw-net', heartbeats: true },
  { name: 'socketd-ws', baseline: 'bare-ws', heartbeats: true },
];

/** The engine's default heartbeatInterval (lib/session/options.ts). */
export const DEFAULT_HEARTBEAT_MS = 20_000;

export interface ConnsParams {
  n: number;
  /** Idle window over which the server's CPU is measured (ms). */
  windowMs: number;
  echoMs: number;
  warmMs: number;
  /** Loopback source addresses for the idle connections. */
  addresses: number;
}

export function connsParams(quick: boolean): ConnsParams {
  return quick
    ? { n: 200, windowMs: 500, echoMs: 150, warmMs: 30, addresses: 4 }
    : { n: 10_000, windowMs: DEFAULT_HEARTBEAT_MS, echoMs: 2000, warmMs: 300, addresses: 50 };
}

export interface ConnsResult {
  n: number;
  opened: number;
  sources: number;
  handshakesPerS: number;
  /** CPU of the server and of the connecting client while the idle connections opened, % of one core. */
  openServerCpuPct: number;
  openClientCpuPct: number;
  serverRssBeforeMB: number;
  serverRssAfterMB: number;
  /** (RSS after - RSS before) / opened, KiB. */
  rssPerSessionKiB: number;
  windowS: number;
  /** Server CPU over the idle window, % of one core. */
  serverCpuPct: number;
  clientCpuPct: number;
  echo1Rate: number;
  echo1P50Ms: number;
  echo1P99Ms: number;
  echoNRate: number;
  echoNP50Ms: number;
  echoNP99Ms: number;
  p99Ratio: number;
}

class ConnsChild {
  private readonly queue: ConnsMsg[] = [];
  private waiter: ((m: ConnsMsg) => void) | undefined;
  private exited: Error | undefined;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: ConnsMsg) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else this.queue.push(m);
    });
    child.on('exit', (code) => {
      this.exited = new Error(`connections client exited (${code})`);
      this.waiter?.({ type: 'fatal', message: this.exited.message });
    });
  }

  async next<T extends ConnsMsg['type']>(type: T, timeoutMs: number): Promise<Extract<ConnsMsg, { type: T }>> {
    const m = this.queue.shift() ?? (this.exited ? { type: 'fatal' as const, message: this.exited.message } : await new Promise<ConnsMsg>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connections client: no ${type} after ${timeoutMs} ms`)), timeoutMs);
      this.waiter = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    }));
    if (m.type === 'fatal') throw new Error(m.message);
    if (m.type !== type) throw new Error(`connections client: expected ${type}, got ${m.type}`);
    return m as Extract<ConnsMsg, { type: T }>;
  }

  async ask<T extends ConnsMsg['type']>(cmd: ConnsCmd, type: T, timeoutMs: number): Promise<Extract<ConnsMsg, { type: T }>> {
    this.child.send(cmd);
    return this.next(type, timeoutMs);
  }
}

const MB = 1e6;

/**
 * The open-files limit the children inherit: raised to `want` with prlimit(1) on this process
 * when allowed (root, or a hard limit high enough). Returns the soft limit in force.
 */
export function raiseOpenFiles(want: number): number {
  const read = () => {
    const out = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--output', 'SOFT,HARD', '--noheadings'], { encoding: 'utf8' });
    const [soft, hard] = out.trim().split(/\s+/).map((x) => (x === 'unlimited' ? Infinity : Number(x)));
    return { soft: soft!, hard: hard! };
  };
  try {
    const { soft, hard } = read();
    if (soft >= want) return soft;
    const target = hard >= want ? `${want}:${hard === Infinity ? 'unlimited' : hard}` : `${want}:${want}`;
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}`], { stdio: 'ignore' });
    } catch {
      // not allowed: keep what we have
    }
    return read().soft;
  } catch {
    return NaN; // no prlimit: unknown
  }
}

/** One run of the connections scenario for one row. */
export async function runConns(transport: string, p: ConnsParams, clientCpu: number | undefined): Promise<ConnsResult> {
  // bare rows have no heartbeat: a short window shows their idle cost
  const windowMs = CONN_ROWS.find((r) => r.name === transport)?.heartbeats === false ? Math.min(p.windowMs, 5000) : p.windowMs;
  // our servers: room for n idle sessions + the active one (default maxConnections is 10 000);
  // maxConnectionsPerAddress stays at its default (the sources spread the load)
  const env = { BENCH_SERVER_OPTIONS: JSON.stringify({ maxConnections: p.n + 1000 }) };
  const server = await ServerProc.start(transport, 30_000, env);
  const spawnChild = (role: 'active' | 'idle') => {
    const child = fork(CONNS_PROC_JS, [JSON.stringify({ transport, port: server.port, role })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (clientCpu !== undefined) pin(child.pid, clientCpu);
    return new ConnsChild(child);
  };
  const children: ConnsChild[] = [];
  try {
    const a = spawnChild('active');
    children.push(a);
    await a.next('ready', 30_000);
    const idle = spawnChild('idle');
    children.push(idle);
    await idle.next('ready', 30_000);
    const echoCmd: ConnsCmd = { cmd: 'echo', ms: p.echoMs, warmMs: p.warmMs, inflight: 256 };
    const echoTimeout = p.echoMs + p.warmMs + 30_000;
    await a.ask({ ...echoCmd, ms: p.echoMs / 2 }, 'echo', echoTimeout); // warm-up: a fresh server and client are cold
    const e1 = await a.ask(echoCmd, 'echo', echoTimeout);
    const before = await server.usage(true);
    const copen0 = await idle.ask({ cmd: 'usage' }, 'usage', 10_000);
    const open = await idle.ask({ cmd: 'open', n: p.n, concurrency: 256, addresses: p.addresses }, 'open', 300_000);
    const sopen1 = await server.usage(false);
    const copen1 = await idle.ask({ cmd: 'usage' }, 'usage', 10_000);
    if (open.failed > 0) throw new Error(`${open.failed} of ${p.n} connections failed (${open.firstError ?? '?'})`);
    await sleep(1000);
    const after = await server.usage(true);
    const cpu0 = await server.usage(false);
    const ccpu0 = await idle.ask({ cmd: 'usage' }, 'usage', 10_000);
    const t0 = performance.now();
    await sleep(windowMs);
    const cpu1 = await server.usage(false);
    const ccpu1 = await idle.ask({ cmd: 'usage' }, 'usage', 10_000);
    const measuredMs = performance.now() - t0;
    const eN = await a.ask(echoCmd, 'echo', echoTimeout);
    return {
      n: p.n,
      opened: open.opened,
      sources: open.sources,
      handshakesPerS: (open.opened / open.elapsedMs) * 1000,
      // near 100 % on the client side: the connecting client, not the server, set the rate
      openServerCpuPct: ((sopen1.cpuUs - before.cpuUs) / 1000 / open.elapsedMs) * 100,
      openClientCpuPct: ((copen1.cpuUs - copen0.cpuUs) / 1000 / open.elapsedMs) * 100,
      serverRssBeforeMB: before.rss / MB,
      serverRssAfterMB: after.rss / MB,
      rssPerSessionKiB: (after.rss - before.rss) / open.opened / 1024,
      windowS: measuredMs / 1000,
      serverCpuPct: ((cpu1.cpuUs - cpu0.cpuUs) / 1000 / measuredMs) * 100,
      clientCpuPct: ((ccpu1.cpuUs - ccpu0.cpuUs) / 1000 / measuredMs) * 100,
      echo1Rate: e1.rate,
      echo1P50Ms: e1.p50Ms,
      echo1P99Ms: e1.p99Ms,
      echoNRate: eN.rate,
      echoNP50Ms: eN.p50Ms,
      echoNP99Ms: eN.p99Ms,
      p99Ratio: eN.p99Ms / e1.p99Ms,
    };
  } finally {
    for (const c of children) {
      if (c.child.connected) c.child.send({ cmd: 'close' } satisfies ConnsCmd);
    }
    await Promise.race([Promise.all(children.map((c) => once(c.child))), sleep(5000)]);
    for (const c of children) c.child.kill('SIGKILL');
    // Stopped, not killed: a server run with BENCH_SERVER_NODE_ARGS=--cpu-prof writes its profile on exit.
    await server.stop();
  }
}

function once(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}
