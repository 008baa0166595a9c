/**
 * The nats-server the NATS row talks through: started by the bench parent (run.ts) on a free
 * port before any server child forks (the children and client children find it in
 * BENCH_NATS_PORT), stopped when the bench ends. Uses the `nats-server` binary on PATH
 * (Debian: `apt-get install nats-server`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './transports/free-port.js';

export const NATS_PORT_ENV = 'BENCH_NATS_PORT';

/** The nats-server version line, or undefined when it is not installed. */
export function natsServerVersion(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface NatsBroker {
  port: number;
  version: string;
  pid: number | undefined;
  stop(): void;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts nats-server on 127.0.0.1 and a free port. max_payload is raised to 4 MB (default 1 MB)
 * because the 1 MiB echo travels as base64 in Nest's JSON envelope (~1.4 MB), as a Nest user
 * sending such payloads would configure it.
 */
export async function startNatsBroker(): Promise<NatsBroker> {
  const version = natsServerVersion();
  if (!version) throw new Error('nats-server not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-nats-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 4MB\nmax_pending: 256MB\n`);
  const child: ChildProcess = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  // a bench stopped with ^C or kill must not leave the broker running
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      stop();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, version, pid: child.pid, stop };
    await sleep(50);
  }
  stop();
  throw new Error(`nats-server did not start on port ${port}: ${stderr}`);
}
