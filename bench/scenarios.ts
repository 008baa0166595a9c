/**
 * Scenario definitions and the client-side measuring loops (used by run.ts in the parent and
 * by client-proc.ts for the RSS scenarios).
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import type { BenchClient } from './types.js';
import { MB, MiB, median, percentileSorted } from './stats.js';

/** ~100 B of JSON. */
export const ECHO_PAYLOAD = {
  id: 123456,
  user: 'bench-user-0001',
  email: 'bench@example.com',
  roles: ['reader', 'writer'],
  active: true,
  score: 98.6,
};

export type ScenarioKind =
  | 'echo' | 'events' | 'buf' | 'stream' | 'first-item' | 'rss-stream' | 'rss-burst' | 'rss-transfer' | 'bulk' | 'conns';

export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly kind: ScenarioKind;
  readonly unit: string;
  /** in flight (echo, buf), events, stream items, or bytes (bulk, rss-transfer) */
  readonly n: number;
  /** Measuring window for time-bound scenarios. */
  readonly ms?: number;
  readonly warmMs?: number;
}

export interface Params {
  quick: boolean;
  runs: number;
  rssRuns: number;
  timeoutMs: number;
}

export function buildScenarios(quick: boolean): Scenario[] {
  const q = (full: number, small: number) => (quick ? small : full);
  return [
    { id: 'echo-1', title: 'echo ~100 B JSON, 1 in flight', kind: 'echo', unit: 'req/s', n: 1, ms: q(2000, 150), warmMs: q(300, 30) },
    { id: 'echo-256', title: 'echo ~100 B JSON, 256 in flight', kind: 'echo', unit: 'req/s', n: 256, ms: q(2000, 150), warmMs: q(300, 30) },
    { id: 'events-200k', title: `${q(200_000, 2_000)} events end to end`, kind: 'events', unit: 'events/s', n: q(200_000, 2_000) },
    { id: 'buf-1mib-1', title: 'echo 1 MiB Buffer, 1 in flight', kind: 'buf', unit: 'MB/s', n: 1, ms: q(1500, 100), warmMs: q(200, 0) },
    { id: 'buf-1mib-8', title: 'echo 1 MiB Buffer, 8 in flight', kind: 'buf', unit: 'MB/s', n: 8, ms: q(1500, 100), warmMs: q(200, 0) },
    { id: 'stream-10k', title: `stream of ${q(10_000, 100)} items`, kind: 'stream', unit: 'items/s', n: q(10_000, 100) },
    { id: 'stream-100k', title: `stream of ${q(100_000, 1_000)} items`, kind: 'stream', unit: 'items/s', n: q(100_000, 1_000) },
    { id: 'stream-1m', title: `stream of ${q(1_000_000, 10_000)} items`, kind: 'stream', unit: 'items/s', n: q(1_000_000, 10_000) },
    { id: 'first-item-10k', title: `first item of a ${q(10_000, 100)}-item stream`, kind: 'first-item', unit: 'ms', n: q(10_000, 100) },
    { id: 'first-item-100k', title: `first item of a ${q(100_000, 1_000)}-item stream`, kind: 'first-item', unit: 'ms', n: q(100_000, 1_000) },
    { id: 'first-item-1m', title: `first item of a ${q(1_000_000, 10_000)}-item stream`, kind: 'first-item', unit: 'ms', n: q(1_000_000, 10_000) },
    {
      id: 'rss-stream-1m-slow',
      title: `peak RSS: stream of ${q(1_000_000, 2_000)} items to a slow consumer`,
      kind: 'rss-stream',
      unit: 'MB',
      n: q(1_000_000, 2_000),
    },
    {
      id: 'rss-stream-1m-fast',
      title: `peak RSS: stream of ${q(1_000_000, 2_000)} items produced synchronously to a fast consumer`,
      kind: 'rss-burst',
      unit: 'MB',
      n: q(1_000_000, 2_000),
    },
    {
      id: 'rss-transfer-1gib',
      title: `peak RSS: ${q(1024, 4)} x 1 MiB requests in sequence (${q(1024, 4)} MiB up)`,
      kind: 'rss-transfer',
      unit: 'MB',
      n: q(1024, 4),
    },
    {
      id: 'conn-10k',
      title: `${q(10_000, 200)} idle connections to one server (bench/conns.ts)`,
      kind: 'conns',
      unit: 'handshakes/s',
      n: q(10_000, 200),
    },
    { id: 'bulk', title: `raw bulk transfer, ${q(1024, 16)} MiB one way`, kind: 'bulk', unit: 'MB/s', n: q(1024, 16) * MiB },
  ];
}

export interface RunResult {
  /** The primary metric, in the scenario's unit. */
  value: number;
  extra: Record<string, number>;
}

/** Runs `inflight` loops of `op` for `ms`; returns completions/s and latency percentiles. */
export async function timedLoop(
  inflight: number,
  ms: number,
  op: () => Promise<unknown>,
  recordLatency: boolean,
): Promise<{ count: number; elapsedMs: number; lat: Float64Array }> {
  let stop = false;
  let count = 0;
  let lat = new Float64Array(recordLatency ? 1 << 16 : 0);
  const worker = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      await op();
      const dt = performance.now() - t0;
      if (recordLatency) {
        if (count === lat.length) {
          const bigger = new Float64Array(lat.length * 2);
          bigger.set(lat);
          lat = bigger;
        }
        lat[count] = dt;
      }
      count++;
    }
  };
  const timer = setTimeout(() => {
    stop = true;
  }, ms);
  const t0 = performance.now();
  const workers: Promise<void>[] = [];
  for (let i = 0; i < inflight; i++) workers.push(worker());
  try {
    await Promise.all(workers);
  } finally {
    clearTimeout(timer);
    stop = true;
  }
  return { count, elapsedMs: performance.now() - t0, lat: lat.subarray(0, recordLatency ? count : 0) };
}

export async function runEcho(client: BenchClient, s: Scenario): Promise<RunResult> {
  const op = () => client.echo(ECHO_PAYLOAD);
  if (s.warmMs) await timedLoop(s.n, s.warmMs, op, false);
  const { count, elapsedMs, lat } = await timedLoop(s.n, s.ms!, op, true);
  lat.sort();
  return {
    value: (count / elapsedMs) * 1000,
    extra: { p50Ms: percentileSorted(lat, 50), p99Ms: percentileSorted(lat, 99), count },
  };
}

let bigBuf: Buffer | undefined;
export function oneMiB(): Buffer {
  bigBuf ??= randomBytes(MiB);
  return bigBuf;
}

export async function runBuf(client: BenchClient, s: Scenario): Promise<RunResult> {
  const buf = oneMiB();
  const op = async () => {
    const n = await client.echoBuffer(buf);
    if (n !== MiB) throw new Error(`1 MiB echo came back with ${n} bytes`);
  };
  if (s.warmMs) await timedLoop(s.n, s.warmMs, op, false);
  const { count, elapsedMs, lat } = await timedLoop(s.n, s.ms!, op, true);
  lat.sort();
  return {
    value: (count * MiB) / MB / (elapsedMs / 1000),
    extra: { count, p50Ms: percentileSorted(lat, 50) },
  };
}

/** Emits n events (yielding every 1024, honouring drain() when the client has it) until the server counted them. */
export async function runEvents(
  client: BenchClient,
  s: Scenario,
  server: { reset(): Promise<void>; expect(n: number): Promise<number> },
): Promise<RunResult> {
  // warm-up: a small batch, counted and discarded
  await server.reset();
  const warm = Math.min(2000, s.n);
  const warmDone = server.expect(warm);
  for (let i = 0; i < warm; i++) client.emit(ECHO_PAYLOAD);
  await warmDone;
  await server.reset();

  const done = server.expect(s.n);
  const t0 = performance.now();
  for (let i = 0; i < s.n; i++) {
    client.emit(ECHO_PAYLOAD);
    if ((i & 1023) === 1023) {
      if (client.drain) await client.drain();
      else await tick();
    }
  }
  const sentMs = performance.now() - t0;
  await done;
  const elapsedMs = performance.now() - t0;
  return { value: (s.n / elapsedMs) * 1000, extra: { sentMs, elapsedMs } };
}

/**
 * One stream of n items, timed until the client has the last one. Short streams are repeated
 * (one after the other, `reps` = 100k / n, so a 10k stream runs 10 times) and the rate is
 * total items over total time: a single 10k stream lasts ~20 ms, too short to time alone.
 */
export async function runStream(client: BenchClient, s: Scenario, quick: boolean): Promise<RunResult> {
  const n = s.n;
  const reps = quick ? 1 : Math.max(1, Math.floor(100_000 / n));
  await client.stream(Math.min(1000, n)); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const got = await client.stream(n);
    if (got !== n) throw new Error(`stream of ${n} delivered ${got} items`);
  }
  const elapsedMs = performance.now() - t0;
  return { value: ((n * reps) / elapsedMs) * 1000, extra: { n, reps, elapsedMs } };
}

/**
 * Time from sending the Subscribe (calling `stream(n)`) to the first Reply of an n-item stream,
 * beside the transport's own round trip (echo of ~100 B JSON, 1 in flight) measured just
 * before on the same connection. Each stream runs to its end before the next; the value is
 * the median first-item time over `reps` streams (10k: 9, 100k: 5, 1M: 3).
 *
 * The server's handler produces synchronously as fast as it may (Nest rows: `range(0, n)`;
 * engine rows: `session.reply()` in a loop until it returns false), so the number shows
 * whether the transport sends while the producer is still producing.
 */
export async function runFirstItem(client: BenchClient, s: Scenario, quick: boolean): Promise<RunResult> {
  const n = s.n;
  for (let i = 0; i < 20; i++) await client.echo(ECHO_PAYLOAD);
  const rtts: number[] = [];
  for (let i = 0; i < (quick ? 5 : 50); i++) {
    const t0 = performance.now();
    await client.echo(ECHO_PAYLOAD);
    rtts.push(performance.now() - t0);
  }
  await client.stream(Math.min(1000, n)); // warm-up
  const reps = quick ? 1 : n <= 10_000 ? 9 : n <= 100_000 ? 5 : 3;
  const firsts: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < reps; i++) {
    let first = NaN;
    const t0 = performance.now();
    const got = await client.stream(n, () => {
      if (first !== first) first = performance.now() - t0; // NaN until the first item
    });
    totals.push(performance.now() - t0);
    if (got !== n) throw new Error(`stream of ${n} delivered ${got} items`);
    firsts.push(first);
  }
  const value = median(firsts);
  const rttMs = median(rtts);
  return {
    value,
    extra: { n, reps, rttMs, ratio: value / rttMs, firstMaxMs: Math.max(...firsts), streamMs: median(totals) },
  };
}

export async function runBulk(client: BenchClient, s: Scenario): Promise<RunResult> {
  if (!client.bulk) throw new Error('no bulk()');
  const chunk = oneMiB();
  await client.bulk(16 * MiB, chunk);
  const t0 = performance.now();
  await client.bulk(s.n, chunk);
  const elapsedMs = performance.now() - t0;
  return { value: s.n / MB / (elapsedMs / 1000), extra: { elapsedMs } };
}

/** A consumer that spends ~5 µs per item (500 µs of CPU every 100 items): at most ~200k items/s. */
export function slowConsumer(): () => void {
  let i = 0;
  return () => {
    if (++i % 100 === 0) {
      const until = performance.now() + 0.5;
      while (performance.now() < until) {
        /* busy: the consumer is slower than any producer */
      }
    }
  };
}

/** Client side of the RSS scenarios (run in a fresh client process). Returns elapsed ms and the count. */
export async function rssClientWork(client: BenchClient, kind: ScenarioKind, n: number): Promise<{ elapsedMs: number; count: number }> {
  const t0 = performance.now();
  let count = 0;
  if (kind === 'rss-stream' || kind === 'rss-burst') {
    count = await client.stream(n, kind === 'rss-stream' ? slowConsumer() : undefined);
    if (count !== n) throw new Error(`stream of ${n} delivered ${count} items`);
  } else {
    const buf = oneMiB();
    for (let i = 0; i < n; i++) {
      const got = await client.put(buf);
      if (got !== MiB) throw new Error(`put of 1 MiB answered ${got}`);
      count++;
    }
  }
  return { elapsedMs: performance.now() - t0, count };
}
