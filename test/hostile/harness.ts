/**
 * Shared harness of the hostile suite, `npm run stress` and `npm run fuzz`: the server in a
 * child process (its RSS read from /proc), a well-behaved client measuring latencies, raw
 * attacking peers (tcp and ws) and frame builders.
 *
 * The child runs the BUILT library (dist/lib): `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { SdClient } from '../../lib/engine.js';
import { encodeFrame, Flags, FrameDecoder, type Frame } from '../../lib/protocol/index.js';

export type Schema = 'tcp' | 'ws';
export type ServerKind = 'engine' | 'nest' | 'broker';

/** The repository root: the nearest directory above this file holding our package.json (works from dist/ too). */
export const REPO_ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"nestjs-socketd"/.test(readFileSync(pkg, 'utf8'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
})();
export const SERVER_SCRIPT = path.join(REPO_ROOT, 'test/hostile/server-process.mjs');
export const VECTORS = path.join(REPO_ROOT, 'test/fixtures/socketd-vectors');
export const MB = 1024 * 1024;
/**
 * Attackers connect from this loopback address, the good client from 127.0.0.1: as on a real
 * network, the attacker's connections share one address's part of the server's memory budget
 * and the good client has its own.
 */
export const ATTACKER_ADDRESS = '127.0.0.2';
/** The server's defaults (lib/session/memory-budget.ts): what one address may hold, and all of them. */
export const DEFAULT_MEMORY_BUDGET = 256 * MB;
export const DEFAULT_MEMORY_BUDGET_PER_ADDRESS = 128 * MB;
/** What a server's RSS may grow by beyond the memory budget an attack can use (code, heap, caches). */
export const RSS_SLACK = 64 * MB;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves after `ms`, or as soon as `promise` settles, whichever is first; true if it settled. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The server child
// ---------------------------------------------------------------------------------------------

export interface ChildSpec {
  kind: ServerKind;
  schema: Schema;
  /** Engine (or SocketDServer) options, passed as JSON. */
  options?: Record<string, unknown>;
}

function procField(pid: number, field: string): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A server in a child process (test/hostile/server-process.mjs). */
export class ServerChild {
  stderr = '';
  /** Lines the child wrote for an uncaught exception or unhandled rejection. */
  readonly uncaught: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly spec: ChildSpec,
    readonly proc: ChildProcess,
    readonly port: number,
    exited: Promise<void>,
  ) {
    this.exited = exited;
  }

  static async start(spec: ChildSpec, timeoutMs = 30_000): Promise<ServerChild> {
    if (!existsSync(path.join(REPO_ROOT, 'dist/lib/engine.js'))) throw new Error('dist/lib is missing: run `npm run build` first');
    const proc = spawn(process.execPath, ['--no-warnings', SERVER_SCRIPT, JSON.stringify(spec)], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let child: ServerChild | undefined;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const onErr = (chunk: Buffer) => {
      const text = chunk.toString();
      if (child) child.addStderr(text);
      else stderr += text;
    };
    proc.stderr!.on('data', onErr);
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`server child did not start in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(err);
      };
      const early = (code: number | null, signal: NodeJS.Signals | null) => fail(new Error(`server child exited (${code ?? signal}) before listening: ${stderr}`));
      proc.once('exit', early);
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          proc.removeListener('exit', early);
          resolve(Number(m[1]));
        }
      });
    });
    child = new ServerChild(spec, proc, port, exited);
    proc.stdout!.on('data', (chunk: Buffer) => child!.onStdout(chunk.toString()));
    proc.once('exit', (code, signal) => (child!.exit = { code, signal }));
    child.addStderr(stderr);
    return child;
  }

  private stdout = '';
  private memWaiter: ((line: string) => void) | undefined;

  /** @internal stdout after READY: the answers to `memoryPeaks()`. */
  onStdout(text: string): void {
    this.stdout += text;
    const m = /MEM (\d+) (\d+)\n/.exec(this.stdout);
    if (m) {
      this.stdout = this.stdout.slice(m.index + m[0].length);
      this.memWaiter?.(m[0]);
    }
  }

  /**
   * The peaks of the server's memory budget since the last call (sampled every 5 ms in the
   * child): bytes charged in all, and to the attackers' address. Undefined when the child does not answer.
   */
  async memoryPeaks(): Promise<{ used: number; attacker: number } | undefined> {
    if (!this.alive) return undefined;
    const line = new Promise<string>((resolve) => (this.memWaiter = resolve));
    this.proc.stdin!.write('MEM\n');
    let got: string | undefined;
    await settledWithin(line.then((l) => (got = l)), 5_000);
    this.memWaiter = undefined;
    const m = got === undefined ? null : /MEM (\d+) (\d+)/.exec(got);
    return m ? { used: Number(m[1]), attacker: Number(m[2]) } : undefined;
  }

  private addStderr(text: string): void {
    if (this.stderr.length < 1_000_000) this.stderr += text;
    for (const line of text.split('\n')) if (line.startsWith('HOSTILE-UNCAUGHT')) this.uncaught.push(line.slice(0, 2000));
  }

  get pid(): number {
    return this.proc.pid!;
  }
  get alive(): boolean {
    return this.exit === undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }
  /** A URL for an `SdClient`. */
  get url(): string {
    return `sd:${this.spec.schema}://127.0.0.1:${this.port}/hostile?u=good`;
  }
  /** VmRSS in bytes (0 once gone). */
  rss(): number {
    return procField(this.pid, 'VmRSS');
  }
  /** VmSize (virtual size) in bytes. */
  vmSize(): number {
    return procField(this.pid, 'VmSize');
  }
  /** VmHWM (peak RSS) in bytes. */
  hwm(): number {
    return procField(this.pid, 'VmHWM');
  }
  /** Resets VmHWM to the current RSS (/proc/<pid>/clear_refs); false when not allowed. */
  resetHwm(): boolean {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.alive) this.proc.kill('SIGKILL');
    await settledWithin(this.exited, 10_000);
  }
}

/** Samples a child's RSS every `intervalMs` from `start()` until `stop()`. */
export class RssWatch {
  baseline = 0;
  peak = 0;
  vmBaseline = 0;
  vmPeak = 0;
  private timer: NodeJS.Timeout | undefined;
  private hwmReset = false;
  /** Set once RSS went above the cap given to the constructor. */
  capHit = false;
  constructor(
    private readonly child: ServerChild,
    private readonly cap = Infinity,
    private readonly onCap: () => void = () => undefined,
  ) {}

  start(intervalMs = 20): void {
    this.hwmReset = this.child.resetHwm();
    this.baseline = this.child.rss();
    this.peak = this.baseline;
    this.vmBaseline = this.vmPeak = this.child.vmSize();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  sample(): void {
    const rss = this.child.rss();
    if (rss > this.peak) this.peak = rss;
    const vm = this.child.vmSize();
    if (vm > this.vmPeak) this.vmPeak = vm;
    if (!this.capHit && rss - this.baseline > this.cap) {
      this.capHit = true;
      this.onCap();
    }
  }
  /** Stops sampling; the peak includes VmHWM when it could be reset at start. */
  stop(): { baseline: number; peak: number; growth: number; hwm: number; vmGrowth: number } {
    clearInterval(this.timer);
    this.sample();
    const hwm = this.child.hwm();
    if (this.hwmReset && hwm > this.peak) this.peak = hwm;
    return { baseline: this.baseline, peak: this.peak, growth: Math.max(0, this.peak - this.baseline), hwm, vmGrowth: Math.max(0, this.vmPeak - this.vmBaseline) };
  }
}

// ---------------------------------------------------------------------------------------------
// The well-behaved client
// ---------------------------------------------------------------------------------------------

export interface CallStats {
  calls: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Calls `echo` every `intervalMs` (one call at a time) and records latencies per phase. */
export class GoodClient {
  readonly errors: string[] = [];
  private readonly latencies = new Map<string, number[]>();
  private readonly failures = new Map<string, number>();
  private current = 'before';
  private running = false;
  private loop: Promise<void> | undefined;
  private client: SdClient | undefined;

  constructor(
    private readonly url: string,
    private readonly opts: { intervalMs?: number; timeoutMs?: number; payload?: string; metas?: Record<string, string> } = {},
  ) {}

  async start(): Promise<void> {
    this.client = new SdClient(this.url, { autoReconnect: false, heartbeatInterval: 0, connectTimeout: 15_000, requestTimeout: 15_000 });
    await this.client.connect();
    this.running = true;
    this.loop = this.run();
  }

  /** Starts a new phase: later calls are recorded under `name`. */
  phase(name: string): void {
    this.current = name;
  }

  /** Resolves once `n` more calls finished (or the client stopped). */
  async calls(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.total() + n;
    const end = Date.now() + timeoutMs;
    while (this.running && this.total() < target && Date.now() < end) await sleep(5);
  }

  private total(): number {
    let n = 0;
    for (const l of this.latencies.values()) n += l.length;
    for (const f of this.failures.values()) n += f;
    return n;
  }

  private async run(): Promise<void> {
    // A JSON object: the same bytes back from an engine echo and from a Nest handler (a JSON
    // string would come back from Nest as plain text).
    const payload = this.opts.payload ?? '{"ping":1}';
    while (this.running) {
      const phase = this.current;
      const t0 = performance.now();
      try {
        const reply = await this.client!.request('echo', payload, { timeout: this.opts.timeoutMs ?? 15_000, metas: this.opts.metas });
        if (reply.dataAsString() !== payload) throw new Error(`wrong echo: ${reply.dataAsString().slice(0, 80)}`);
        let l = this.latencies.get(phase);
        if (!l) this.latencies.set(phase, (l = []));
        l.push(performance.now() - t0);
      } catch (err) {
        this.failures.set(phase, (this.failures.get(phase) ?? 0) + 1);
        if (this.errors.length < 20) this.errors.push(`${phase}: ${(err as Error).message}`);
        if (this.client!.status !== 'connected') break;
      }
      await sleep(this.opts.intervalMs ?? 5);
    }
  }

  stats(phase: string): CallStats {
    const l = [...(this.latencies.get(phase) ?? [])].sort((a, b) => a - b);
    const failed = this.failures.get(phase) ?? 0;
    return { calls: l.length + failed, failed, p50: percentile(l, 50), p99: percentile(l, 99), max: l.length ? l[l.length - 1]! : NaN };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

let sidSeq = 0;
export const nextSid = (): string => `h${(sidSeq++).toString(36)}`;

export function connectFrame(port: number, schema: Schema = 'tcp'): Buffer {
  const url = `${schema}://127.0.0.1:${port}/hostile?u=attacker`;
  return encodeFrame({ flag: Flags.Connect, sid: nextSid(), event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
}

export const PING = ((): Buffer => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(Flags.Ping, 4);
  return b;
})();

export function requestFrame(event: string, data: Buffer | string = '', metaString = '', flag: number = Flags.Request, sid = nextSid()): Buffer {
  return encodeFrame({ flag: flag as Frame['flag'], sid, event, metaString, data: typeof data === 'string' ? Buffer.from(data) : data });
}

/** The `code` of a Close frame, or undefined. */
export function closeCodeOf(frame: Frame): number | undefined {
  if (frame.flag !== Flags.Close) return undefined;
  const m = /(?:^|&)code=(\d+)/.exec(frame.metaString ?? '');
  return m ? Number(m[1]) : 1001;
}

// ---------------------------------------------------------------------------------------------
// Raw peers
// ---------------------------------------------------------------------------------------------

export interface RawPeerOptions {
  /** Read and decode what the server sends (default true). False: the socket is never read. */
  read?: boolean;
  connectTimeoutMs?: number;
  /** The local address to connect from (default `ATTACKER_ADDRESS`). */
  localAddress?: string;
}

/** A peer speaking raw bytes: Socket.D frames on a TCP stream, or one frame per WS binary message. */
export class RawPeer {
  readonly frames: Frame[] = [];
  /** Frames received, counted (also past the first 1 000 kept in `frames`). */
  received = 0;
  /** Alarms received (the server refused a Request/Subscribe of ours). */
  alarms = 0;
  /** Sids answered with a ReplyEnd or an Alarm (also past the first 1 000 frames kept in `frames`), the last 64. */
  readonly answered = new Set<string>();
  closeCode: number | undefined;
  isClosed = false;
  /** The socket was refused or failed before it opened. */
  refused = false;
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  private readonly decoder: FrameDecoder;
  private tcp: net.Socket | undefined;
  private ws: WebSocket | undefined;
  private connackWaiter: (() => void) | undefined;

  private constructor(readonly schema: Schema) {
    this.closed = new Promise<void>((r) => (this.markClosed = r));
    this.decoder = new FrameDecoder((f) => this.onFrame(f));
  }

  static async open(schema: Schema, port: number, options: RawPeerOptions = {}): Promise<RawPeer> {
    const peer = new RawPeer(schema);
    const read = options.read ?? true;
    const opened = new Promise<void>((resolve) => {
      const done = () => {
        peer.isClosed = true;
        peer.markClosed();
        resolve();
      };
      if (schema === 'tcp') {
        const s = net.connect({ host: '127.0.0.1', port, noDelay: true, localAddress: options.localAddress ?? ATTACKER_ADDRESS });
        peer.tcp = s;
        s.on('error', () => undefined);
        let connected = false;
        s.on('close', () => {
          if (!connected) peer.refused = true;
          done();
        });
        s.once('connect', () => {
          connected = true;
          if (!read) s.pause();
          resolve();
        });
        s.on('data', (chunk) => {
          try {
            peer.decoder.push(chunk);
          } catch {
            /* garbage from the server counts as nothing */
          }
        });
      } else {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/hostile`, 'Socket.D', { perMessageDeflate: false, localAddress: options.localAddress ?? ATTACKER_ADDRESS });
        peer.ws = ws;
        let opened = false;
        ws.on('error', () => undefined);
        ws.on('unexpected-response', (_req, res) => {
          res.destroy();
          ws.terminate();
        });
        ws.on('close', () => {
          if (!opened) peer.refused = true;
          done();
        });
        ws.once('open', () => {
          opened = true;
          if (!read) ws.pause();
          resolve();
        });
        ws.on('message', (data: Buffer) => {
          try {
            peer.onFrame(decodeOne(data));
          } catch {
            /* ignore */
          }
        });
      }
    });
    const ok = await settledWithin(opened, options.connectTimeoutMs ?? 15_000);
    if (!ok) {
      peer.refused = true;
      peer.destroy();
    }
    return peer;
  }

  private onFrame(frame: Frame): void {
    this.received++;
    if (frame.flag === Flags.Alarm) this.alarms++;
    if (frame.flag === Flags.Alarm || frame.flag === Flags.ReplyEnd) {
      this.answered.add(frame.sid);
      if (this.answered.size > 64) this.answered.delete(this.answered.values().next().value!);
    }
    if (this.frames.length < 1000) this.frames.push(frame);
    const code = closeCodeOf(frame);
    if (code !== undefined && this.closeCode === undefined) this.closeCode = code;
    if (frame.flag === Flags.Connack) this.connackWaiter?.();
  }

  /** Bytes this side has queued but not yet handed to the kernel. */
  get buffered(): number {
    if (this.tcp) return this.tcp.writableLength;
    const raw = (this.ws as unknown as { _socket?: net.Socket })?._socket?.writableLength ?? 0;
    return Math.max(this.ws?.bufferedAmount ?? 0, raw);
  }

  /** Sends bytes: tcp as they are; ws as one binary message (`fin: false` = a WS fragment of a message). */
  write(bytes: Buffer, fin = true): boolean {
    if (this.isClosed) return false;
    if (this.tcp) return this.tcp.write(bytes);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true, fin }, () => undefined);
    return (this.ws?.bufferedAmount ?? 0) < MB;
  }

  /**
   * Writes bytes straight onto the socket under a WebSocket, bypassing ws's sender: lets a
   * ws attacker send pre-framed messages as fast as a tcp one (see `wsFrames`).
   */
  writeRawSocket(bytes: Buffer): boolean {
    const s = this.tcp ?? (this.ws as unknown as { _socket?: net.Socket })?._socket;
    if (this.isClosed || s === undefined) return false;
    return s.write(bytes);
  }

  /** Resolves when this side's queue drained, the peer closed, or `ms` passed. */
  async drained(ms = 50): Promise<void> {
    if (this.isClosed || this.buffered === 0) return;
    const s = this.tcp ?? (this.ws as unknown as { _socket?: net.Socket })?._socket;
    if (!s) return;
    let onDrain: (() => void) | undefined;
    await settledWithin(new Promise<void>((r) => s.once('drain', (onDrain = r))), ms);
    s.removeListener('drain', onDrain!);
  }

  /** Connect, then waits for the Connack (needs a reading peer); false when it did not come in `ms`. */
  async handshake(port: number, ms = 10_000): Promise<boolean> {
    const got = new Promise<void>((r) => (this.connackWaiter = r));
    this.write(connectFrame(port, this.schema));
    await settledWithin(Promise.race([got, this.closed]), ms);
    return this.frames.some((f) => f.flag === Flags.Connack);
  }

  /** Waits until the server closed this connection; with `probe`, writes a Ping every 100 ms (a never-reading peer only learns of the close by writing). */
  async waitClosed(ms: number, probe = false): Promise<boolean> {
    if (!probe) return (await settledWithin(this.closed, ms)) && this.isClosed;
    const end = Date.now() + ms;
    while (!this.isClosed && Date.now() < end) {
      this.write(PING);
      await settledWithin(this.closed, 100);
    }
    return this.isClosed;
  }

  /** Stops reading: the server's frames pile up in its own buffers. */
  pause(): void {
    this.tcp?.pause();
    this.ws?.pause();
  }

  /** Starts reading (a never-reading peer, once the attack is over). */
  resume(): void {
    this.tcp?.resume();
    this.ws?.resume();
  }

  destroy(): void {
    this.tcp?.destroy();
    this.ws?.terminate();
  }
}

function decodeOne(data: Buffer): Frame {
  let frame: Frame | undefined;
  new FrameDecoder((f) => (frame ??= f)).push(data);
  if (!frame) throw new Error('no frame');
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Running one attack
// ---------------------------------------------------------------------------------------------

/** What an attack reports about its attackers. */
export interface AttackOutcome {
  attackers: number;
  /** Connections the server closed (or reset) during or after the attack. */
  closed: number;
  /** Connections refused before they opened. */
  refused: number;
  /** Connections left open whose Requests/Subscribes the server refused with an Alarm (over its memory budget). */
  alarmed?: number;
  /** Connections the server still held at the end, within its limits (the attack then closed them). */
  held?: number;
  /** Close codes received from the server, counted. */
  codes: Record<string, number>;
  /** Free text: what the attack did. */
  note: string;
  /** True when the attack's own goal was reached without the server closing (e.g. it answered). */
  served?: boolean;
}

export interface AttackResult {
  name: string;
  server: string;
  alive: boolean;
  /** RSS grew past the runner's hard cap: the child was killed to end the attack (alive = as it was then). */
  capHit: boolean;
  uncaught: string[];
  rss: { baseline: number; peak: number; growth: number; hwm: number; vmGrowth: number };
  /** The memory budget the attack could use (the bound on RSS growth is this plus `rssSlack`). */
  budgetInUse: number;
  rssSlack: number;
  /** Peaks of the server's budget during the attack: bytes charged in all and to the attackers' address. */
  charged: { used: number; attacker: number } | undefined;
  outcome: AttackOutcome;
  before: CallStats;
  during: CallStats;
  goodErrors: string[];
  ms: number;
}

export interface AttackPlan {
  name: string;
  spec: ChildSpec;
  /** Milliseconds of good-client calls before the attack. Default 500. */
  beforeMs?: number;
  /** The memory budget the attack can reach: default the whole budget (the per-address share is checked on what the server charged). */
  budgetInUse?: number;
  /**
   * RSS growth allowed beyond `budgetInUse` (default `RSS_SLACK`, 64 MB). An attack that fills
   * the whole budget with bulk needs more: V8 collects dropped Buffers only once 64 MB more
   * were allocated, and every received byte passes through a socket buffer dropped after it.
   */
  rssSlack?: number;
  /** Connections the server may legitimately still hold at the end (within its budget). Default 0. */
  maxHeld?: number;
  /** Bounds of this attack beyond the common ones: each string returned is one broken. */
  verify?(r: AttackResult): string[];
  /** Metas of the good client's calls (a broker routes them with `@`). */
  goodMetas?: Record<string, string>;
  run(child: ServerChild, good: GoodClient): Promise<AttackOutcome>;
}

/**
 * Starts the child, the good client, runs the attack, measures; always kills the child. A
 * child whose RSS grows more than `rssCap` bytes is killed at once (which ends the attack: its
 * sockets close), so an unfixed leak costs seconds, not the machine.
 */
export async function runAttack(plan: AttackPlan, rssCap = 512 * MB): Promise<AttackResult> {
  const t0 = Date.now();
  const child = await ServerChild.start(plan.spec);
  const good = new GoodClient(child.url, { metas: plan.goodMetas });
  try {
    await good.start();
    // Warm up (JIT, buffers) so the baseline is not the cold start.
    await good.calls(50);
    await sleep(plan.beforeMs ?? 500);
    let aliveAtCap = true;
    const watch = new RssWatch(child, rssCap, () => {
      aliveAtCap = child.alive;
      child.proc.kill('SIGKILL');
    });
    await child.memoryPeaks(); // the peaks start here
    watch.start();
    good.phase('during');
    let outcome: AttackOutcome;
    try {
      outcome = await plan.run(child, good);
    } finally {
      // Give the good client a last few calls against the server as the attack left it.
      await good.calls(5, 10_000);
    }
    const rss = watch.stop();
    const charged = await child.memoryPeaks();
    return {
      name: plan.name,
      server: `${plan.spec.kind}/${plan.spec.schema}`,
      alive: watch.capHit ? aliveAtCap : child.alive,
      capHit: watch.capHit,
      uncaught: child.uncaught,
      rss,
      budgetInUse: plan.budgetInUse ?? DEFAULT_MEMORY_BUDGET,
      rssSlack: plan.rssSlack ?? RSS_SLACK,
      charged,
      outcome,
      before: good.stats('before'),
      during: good.stats('during'),
      goodErrors: good.errors,
      ms: Date.now() - t0,
    };
  } finally {
    await good.stop().catch(() => undefined);
    await child.stop();
  }
}

export const mb = (bytes: number): string => (bytes / MB).toFixed(1);
export const ms1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');

export function outcomeText(o: AttackOutcome): string {
  const codes = Object.entries(o.codes)
    .map(([c, n]) => `${c}x${n}`)
    .join(',');
  const parts = [`${o.closed}/${o.attackers} closed`];
  if (o.refused) parts.push(`${o.refused} refused`);
  if (o.alarmed) parts.push(`${o.alarmed} open with Alarms`);
  if (o.held) parts.push(`${o.held} held`);
  if (codes) parts.push(`Close ${codes}`);
  if (o.served) parts.push('served');
  return parts.join(', ');
}

/** One line for a log: the numbers of a result. */
export function describeResult(r: AttackResult): string {
  return (
    `${r.name} [${r.server}] alive=${r.alive} uncaught=${r.uncaught.length} ${r.capHit ? '(RSS CAP HIT: child killed) ' : ''}` +
    `rss ${mb(r.rss.baseline)} -> peak ${mb(r.rss.peak)} MB (growth ${mb(r.rss.growth)} MB of ${mb(r.budgetInUse)} + ${mb(r.rssSlack)} allowed, VmHWM ${mb(r.rss.hwm)} MB, VmSize +${mb(r.rss.vmGrowth)} MB); ` +
    `budget charged at peak ${r.charged ? `${mb(r.charged.used)} MB, attackers' address ${mb(r.charged.attacker)} MB` : '?'}; ` +
    `attacker: ${outcomeText(r.outcome)} (${r.outcome.note}); ` +
    `good client before: ${r.before.calls} calls p99 ${ms1(r.before.p99)} ms, during: ${r.during.calls} calls, ${r.during.failed} failed, p99 ${ms1(r.during.p99)} ms ` +
    `(max ${ms1(r.during.max)}); ${r.ms} ms`
  );
}

/** Counts outcomes of a set of peers: closed, refused, left open with Alarms, or held. */
export function tally(peers: RawPeer[], note: string, served = false): AttackOutcome {
  const codes: Record<string, number> = {};
  for (const p of peers) if (p.closeCode !== undefined) codes[p.closeCode] = (codes[p.closeCode] ?? 0) + 1;
  // A peer that got the server's Close frame was closed by it, even if the socket's end is still under way.
  const closed = (p: RawPeer): boolean => !p.refused && (p.isClosed || p.closeCode !== undefined);
  const open = peers.filter((p) => !p.refused && !closed(p));
  return {
    attackers: peers.length,
    closed: peers.filter(closed).length,
    refused: peers.filter((p) => p.refused).length,
    alarmed: open.filter((p) => p.alarms > 0).length,
    held: open.filter((p) => p.alarms === 0).length,
    codes,
    note,
    served,
  };
}

/**
 * What a result breaks of the suite's bounds (empty: none): the server crashed or threw, its
 * RSS grew more than the budget in use (default: the whole 256 MiB budget) plus its slack (64 MB),
 * the budget charged the attackers' address more than its 128 MiB share, an attacker was
 * neither closed, refused, answered with Alarms nor legitimately held, or a good call failed.
 */
export function brokenBounds(r: AttackResult, plan: Pick<AttackPlan, 'maxHeld' | 'verify'>): string[] {
  const maxHeld = plan.maxHeld ?? 0;
  const broken: string[] = [];
  if (!r.alive || r.capHit) broken.push('server died or hit the RSS cap');
  if (r.uncaught.length > 0) broken.push(`uncaught: ${r.uncaught[0]}`);
  if (r.rss.growth > r.budgetInUse + r.rssSlack) broken.push(`RSS grew ${mb(r.rss.growth)} MB, over ${mb(r.budgetInUse + r.rssSlack)}`);
  if (r.alive && r.charged === undefined) broken.push('the server did not report its memory budget');
  if (r.charged !== undefined && r.charged.attacker > DEFAULT_MEMORY_BUDGET_PER_ADDRESS) {
    broken.push(`the attackers' address was charged ${mb(r.charged.attacker)} MB, over its share ${mb(DEFAULT_MEMORY_BUDGET_PER_ADDRESS)}`);
  }
  const o = r.outcome;
  if (!o.served && (o.held ?? 0) > maxHeld) broken.push(`${o.held} attackers held (at most ${maxHeld})`);
  if (r.during.failed > 0 || r.goodErrors.length > 0) broken.push(`good client: ${r.goodErrors[0] ?? `${r.during.failed} failed`}`);
  if (r.during.calls === 0) broken.push('the good client made no call during the attack');
  broken.push(...(plan.verify?.(r) ?? []));
  return broken;
}

export { sleep };

/**
 * `count` client-to-server WebSocket binary messages, each carrying `payload`, framed by hand
 * (RFC 6455 5.2: FIN + binary opcode, mask bit with an all-zero key, so the payload is sent as
 * is). Only for payloads under 126 bytes.
 */
export function wsFrames(payload: Buffer, count: number): Buffer {
  const one = Buffer.alloc(6 + payload.length);
  one[0] = 0x82;
  one[1] = 0x80 | payload.length;
  payload.copy(one, 6);
  return Buffer.concat(Array.from({ length: count }, () => one));
}
