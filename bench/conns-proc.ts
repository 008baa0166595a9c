/**
 * Client child of the connections scenario (bench/conns.ts):
 * `node dist-bench/bench/conns-proc.js '{"transport":..,"port":..,"role":"active"|"idle"}'`.
 * The active child holds one client (echo@256, from 127.0.0.1); the idle child opens the idle
 * connections (two processes: the idle child's heap, 10k clients, must not add its GC pauses to
 * the active client's latency) from several loopback source addresses (127.0.0.10 and up, round robin: each stays under the server's default
 * maxConnectionsPerAddress, 256, and no address runs out of ephemeral ports). Answers the
 * parent's commands over IPC.
 */
import 'reflect-metadata';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { findTransport, loadTransport } from './transports/index.js';
import { requireExports } from './transports/lib-loader.js';
import { runEcho } from './scenarios.js';
import type { BenchClient } from './types.js';

export type ConnsCmd =
  | { cmd: 'echo'; ms: number; warmMs: number; inflight: number }
  | { cmd: 'open'; n: number; concurrency: number; addresses: number }
  | { cmd: 'usage' }
  | { cmd: 'close' };

export type ConnsMsg =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'echo'; rate: number; p50Ms: number; p99Ms: number }
  | { type: 'open'; elapsedMs: number; opened: number; failed: number; firstError?: string; sources: number }
  | { type: 'usage'; cpuUs: number; rss: number }
  | { type: 'closed' };

const send = (m: ConnsMsg) => process.send?.(m);
const HOST = '127.0.0.1';

/**
 * Gives every outgoing connection to 127.0.0.1 without a localAddress the next source address
 * of the round robin (net.connect / net.createConnection, which ws and the engine's sd:tcp use,
 * and http.Agent's createConnection, which the engine's sd:ws upgrade request uses).
 */
function spreadSources(count: number): Set<string> {
  const used = new Set<string>();
  const netCjs = createRequire(import.meta.url)('node:net') as typeof net;
  let i = 0;
  const wrap = <F extends (...a: any[]) => net.Socket>(orig: F): F =>
    ((...args: any[]) => {
      const o = args[0];
      if (o && typeof o === 'object' && !o.localAddress && (o.host === HOST || o.host === 'localhost')) {
        const addr = `127.0.0.${10 + (i++ % count)}`;
        used.add(addr);
        args[0] = { ...o, localAddress: addr };
      }
      return orig(...args);
    }) as F;
  netCjs.connect = wrap(netCjs.connect);
  netCjs.createConnection = wrap(netCjs.createConnection);
  // http(s).request (our own ws client's upgrade request) connects through its Agent, which
  // took net.createConnection when node:http loaded: wrap that copy too.
  const httpCjs = createRequire(import.meta.url)('node:http') as typeof http;
  httpCjs.Agent.prototype.createConnection = wrap(httpCjs.Agent.prototype.createConnection as (...a: any[]) => net.Socket);
  syncBuiltinESMExports();
  return used;
}

type Idle = { close(): void };

async function openIdle(transport: string, kind: string, port: number): Promise<Idle> {
  if (transport === 'raw-net') {
    const netCjs = createRequire(import.meta.url)('node:net') as typeof net;
    const s = netCjs.connect({ host: HOST, port });
    s.on('error', () => undefined);
    await once(s, 'connect');
    return { close: () => s.destroy() };
  }
  if (transport === 'bare-ws') {
    const ws = new WebSocket(`ws://${HOST}:${port}`);
    ws.on('error', () => undefined);
    await once(ws, 'open');
    return { close: () => ws.terminate() };
  }
  // our servers (engine and Nest): the engine client at its defaults (heartbeat every 20 s)
  const lib = await requireExports(['connect']);
  if (typeof lib === 'string') throw new Error(lib);
  const c = await lib.connect(`sd:${kind}://${HOST}:${port}`, { autoReconnect: false });
  return { close: () => void c.close() };
}

async function main(): Promise<void> {
  const { transport, port, role } = JSON.parse(process.argv[2] ?? '{}') as { transport: string; port: number; role: string };
  const entry = findTransport(transport);
  if (!entry) throw new Error(`unknown transport ${transport}`);
  const mod = await loadTransport(entry);
  const active: BenchClient | undefined = role === 'active' ? await mod.createClient(port, entry.kind) : undefined;
  const idle: Idle[] = [];
  let sources: Set<string> | undefined;

  process.on('message', (m: ConnsCmd) => {
    void (async () => {
      switch (m.cmd) {
        case 'echo': {
          if (!active) throw new Error('echo: not the active child');
          const r = await runEcho(active, { id: 'echo', title: '', kind: 'echo', unit: 'req/s', n: m.inflight, ms: m.ms, warmMs: m.warmMs });
          send({ type: 'echo', rate: r.value, p50Ms: r.extra.p50Ms!, p99Ms: r.extra.p99Ms! });
          break;
        }
        case 'open': {
          sources ??= spreadSources(m.addresses);
          let next = 0;
          let failed = 0;
          let firstError: string | undefined;
          const t0 = performance.now();
          const worker = async () => {
            while (next < m.n) {
              next++;
              try {
                idle.push(await openIdle(transport, entry.kind, port));
              } catch (err) {
                failed++;
                firstError ??= err instanceof Error ? err.message : String(err);
              }
            }
          };
          await Promise.all(Array.from({ length: m.concurrency }, worker));
          const elapsedMs = performance.now() - t0;
          send({ type: 'open', elapsedMs, opened: idle.length, failed, firstError, sources: sources.size });
          break;
        }
        case 'usage': {
          const cpu = process.cpuUsage();
          send({ type: 'usage', cpuUs: cpu.user + cpu.system, rss: process.memoryUsage().rss });
          break;
        }
        case 'close':
          for (const c of idle) c.close();
          await active?.close().catch(() => undefined);
          send({ type: 'closed' });
          setTimeout(() => process.exit(0), 50);
          break;
      }
    })().catch((err: unknown) => send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) }));
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 50);
});
