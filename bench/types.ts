/**
 * The contract every benchmarked transport implements: one small file per transport under
 * `bench/transports/`, registered in `bench/transports/index.ts`.
 *
 * - `startServer(kind)` runs in the forked server child (`bench/server.ts`); it must call
 *   `countEvent()` (from `bench/server-state.ts`) for each received `ev` event.
 * - `createClient(port, kind)` runs in the client process (the parent, or a fresh
 *   `bench/client-proc.ts` child for the RSS scenarios).
 */

export interface BenchServerHandle {
  /** The bound TCP port (servers listen on 127.0.0.1 port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface BenchClient {
  /** Request `echo` with a small JSON payload; resolves with the echoed value. */
  echo(payload: unknown): Promise<unknown>;
  /** Request `buf` with a binary payload; resolves with the echoed payload's byte length. */
  echoBuffer(buf: Buffer): Promise<number>;
  /** Request `put` with a binary payload; the server answers with its byte length. */
  put(buf: Buffer): Promise<number>;
  /** Fire-and-forget event `ev`; the server counts it. */
  emit(payload: unknown): void;
  /** Optional: resolves when the client's send buffer is below its high-water mark. */
  drain?(): Promise<void>;
  /** Request `stream` with n; resolves with the number of items received (the server sends 0..n-1). */
  stream(n: number, onItem?: () => void): Promise<number>;
  /** Optional one-way bulk transfer of `bytes` (raw ceilings only). */
  bulk?(bytes: number, chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface BenchTransportModule {
  /** Resolves true, or the reason the transport cannot run (e.g. not implemented yet). */
  available(kind: string): Promise<true | string>;
  startServer(kind: string): Promise<BenchServerHandle>;
  createClient(port: number, kind: string): Promise<BenchClient>;
  /** How a 1 MiB Buffer travels (`base64 string`, `Buffer as is`, `raw bytes`). */
  bufferNote?(kind: string): string;
}

export interface TransportLimits {
  /** Streams above this many items are skipped (with `note`). */
  maxStreamItems?: number;
  streamNote?: string;
}

export interface TransportEntry {
  /** Row name, e.g. `nest-tcp`. */
  readonly name: string;
  /** Module file under bench/transports (without extension). */
  readonly module: string;
  /** Variant passed to `startServer`/`createClient` (`tcp`, `ws`, `single`, `batched`...). */
  readonly kind: string;
  readonly description: string;
  readonly limits?: TransportLimits;
  /** Scenarios this transport does not take part in (blank cells). */
  readonly skip?: readonly string[];
  /** Scenarios the transport cannot do, by scenario id, with the reason (reported as skipped). */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** Failures expected in a scenario, by scenario id: reported as such (and tolerated by the smoke test). */
  readonly knownIssues?: Readonly<Record<string, string>>;
  /** Not run unless named with --transport. */
  readonly optIn?: boolean;
}

/** Messages between the parent and the server child. */
export type ParentToServer =
  | { cmd: 'expect'; id: number; n: number }
  | { cmd: 'count'; id: number }
  | { cmd: 'reset'; id: number }
  | { cmd: 'rss-start'; id: number }
  | { cmd: 'rss-stop'; id: number }
  | { cmd: 'usage'; id: number; gc: boolean }
  | { cmd: 'exit'; id: number };

export type ServerToParent =
  | { type: 'ready'; port: number; note?: string }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

/** The server child's `usage` answer: RSS (after a full GC when asked) and CPU time so far. */
export interface ProcUsage {
  rss: number;
  heapUsed: number;
  /** process.cpuUsage() user + system, microseconds. */
  cpuUs: number;
}

export interface RssReport {
  /** RSS when the measurement started (after startup and connecting). */
  baseline: number;
  /** Peak RSS during the measurement (VmHWM when resettable, else sampled). */
  peak: number;
  sampledPeak: number;
  source: 'VmHWM' | 'sampled';
  /** process.resourceUsage().maxRSS in bytes (informational: includes the parent's RSS at fork). */
  maxRSS: number;
}
