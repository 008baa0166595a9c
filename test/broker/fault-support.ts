/** Child processes and call trackers of the fault tests (test/broker/fault-*.spec.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { SocketDError } from '../../lib/protocol/errors.js';
import type { ReceivedMessage, Session, StreamObserver } from '../../lib/session/types.js';

const FAULT_PROCESS = fileURLToPath(new URL('./fault-process.mjs', import.meta.url));

/** A child of fault-process.mjs: its port and the lines it printed. */
export interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  readonly lines: string[];
  /** Resolves with the first line starting with `prefix` (already printed or to come). */
  line(prefix: string, ms?: number): Promise<string>;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
  readonly exited: Promise<void>;
}

const living = new Set<ChildProcess>();

/** Starts fault-process.mjs with `spec`; resolves once it printed READY. */
export function spawnFaultProcess(spec: Record<string, unknown>): Promise<Child> {
  const proc = spawn(process.execPath, [FAULT_PROCESS, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
  living.add(proc);
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  const exited = new Promise<void>((resolve) => proc.once('exit', () => { living.delete(proc); resolve(); }));
  let rest = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (line.startsWith(w.prefix)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const line = (prefix: string, ms = 15_000): Promise<string> => {
    const seen = lines.find((l) => l.startsWith(prefix));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child printed no '${prefix}' within ${ms} ms (${JSON.stringify(spec)})`)), ms);
      waiters.push({ prefix, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`child exited before printing '${prefix}'`)); });
    });
  };
  const kill = async (): Promise<void> => {
    proc.kill('SIGKILL');
    await exited;
  };
  return line('READY').then((ready) => ({ process: proc, port: Number(ready.split(' ')[1]), lines, line, kill, exited }));
}

/** SIGKILLs every child still alive (afterEach/afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...living].map((proc) => new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  })));
}

/** How one call ended, counted so that a second end (or a value after the end) shows. */
export interface Outcome {
  ends: number;
  valuesAfterEnd: number;
  kind: 'complete' | 'error' | undefined;
  values: number;
  bytes: number;
  err: SocketDError | undefined;
  endedAt: number;
}

/** A stream observer recording its {@link Outcome}; `ended` resolves at the first end. */
export function tracked(): { observer: StreamObserver; outcome: Outcome; ended: Promise<Outcome> } {
  const outcome: Outcome = { ends: 0, valuesAfterEnd: 0, kind: undefined, values: 0, bytes: 0, err: undefined, endedAt: 0 };
  let done!: (o: Outcome) => void;
  const ended = new Promise<Outcome>((resolve) => (done = resolve));
  const end = (kind: 'complete' | 'error', err?: Error): void => {
    outcome.ends++;
    if (outcome.ends > 1) return;
    outcome.kind = kind;
    outcome.err = err as SocketDError | undefined;
    outcome.endedAt = Date.now();
    done(outcome);
  };
  const take = (m: ReceivedMessage | undefined): void => {
    if (m === undefined) return;
    if (outcome.ends > 0) outcome.valuesAfterEnd++;
    if (m.data.length === 0) return; // an empty ReplyEnd carries no value
    outcome.values++;
    outcome.bytes += m.data.length;
  };
  return {
    outcome,
    ended,
    observer: {
      next: (m) => take(m),
      complete: (m) => { take(m); end('complete'); },
      error: (err) => end('error', err),
    },
  };
}

/** Opens a Request or Subscribe on `session`, tracked (generous timeout: a hang shows as a failure of `settled`). */
export function call(session: Session, kind: 'request' | 'subscribe', event: string, data: string, metas = ''): ReturnType<typeof tracked> {
  const t = tracked();
  session.stream(kind, event, data, t.observer, { metas, timeout: 60_000 });
  return t;
}

/** Waits for the end of a tracked call (failing on a hang), then a little more for a second end. */
export async function settled(t: ReturnType<typeof tracked>, ms = 15_000, what = 'the call'): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms (a hang)`)), ms); });
  try {
    await Promise.race([t.ended, hang]);
  } finally {
    clearTimeout(timer);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return t.outcome;
}

/**
 * A TCP proxy on 127.0.0.1 to `port` that passes one direction at about `bytesPerMs` (64 KiB/ms:
 * a 20 MiB answer takes ~300 ms) and counts it (`relayed`), so a test can kill the sender when
 * half of an answer has got through: `back` is what the far side (a server) sends, `forth` what
 * the connecting side (a player) sends. What a sender wrote before it died still passes, then
 * the proxy ends the other side, as the kernel would.
 */
export async function throttlingProxy(port: number, slowed: 'back' | 'forth', bytesPerMs = 64 * 1024): Promise<{ port: number; readonly relayed: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  let relayed = 0;
  const server = net.createServer((near) => {
    const far = net.connect(port, '127.0.0.1');
    for (const s of [near, far]) {
      sockets.add(s);
      s.on('error', () => { near.destroy(); far.destroy(); });
      s.on('close', () => sockets.delete(s));
    }
    const [from, to] = slowed === 'back' ? [far, near] : [near, far];
    to.pipe(from);
    to.on('close', () => from.destroy());
    from.on('end', () => to.end());
    from.on('data', (chunk: Buffer) => {
      relayed += chunk.length;
      to.write(chunk);
      from.pause();
      setTimeout(() => from.resume(), Math.max(1, Math.round(chunk.length / bytesPerMs)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get relayed() { return relayed; },
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
