/**
 * The transports the bench knows, in display order. To add one: write a module exporting
 * `transport: BenchTransportModule` (see ../types.ts) and add an entry here.
 */
import type { BenchTransportModule, TransportEntry } from '../types.js';

export const TRANSPORTS: readonly TransportEntry[] = [
  {
    name: 'socketd-tcp',
    module: 'socketd-nest',
    kind: 'tcp',
    description: 'ours: SocketDServer + SocketDClient (Nest) over sd:tcp',
  },
  {
    name: 'socketd-ws',
    module: 'socketd-nest',
    kind: 'ws',
    description: 'ours: SocketDServer + SocketDClient (Nest) over sd:ws',
  },
  {
    name: 'engine-tcp',
    module: 'socketd-engine',
    kind: 'tcp',
    description: 'ours, engine only (listen/connect, no Nest) over sd:tcp',
  },
  {
    name: 'engine-ws',
    module: 'socketd-engine',
    kind: 'ws',
    description: 'ours, engine only over sd:ws',
  },
  {
    name: 'socketd-tcp-traced',
    module: 'socketd-traced',
    kind: 'tcp',
    description: 'socketd-tcp with OpenTelemetry tracing on (SDK registered, spans dropped by a no-op exporter)',
    optIn: true,
  },
  {
    name: 'nest-tcp',
    module: 'nest-tcp',
    kind: 'tcp',
    description: "Nest's built-in TCP transport (JSON frames)",
    limits: {
      maxStreamItems: 100_000,
      streamNote:
        "Nest's Server.send() queues the whole stream and drains it with Array.shift() (quadratic): 100k items take ~6 s, 1M would take many minutes",
    },
    knownIssues: {
      'buf-1mib-8':
        'Nest 12.1.1 TCP deadlocks with several 1 MiB messages in flight: when write() returns false its JsonSocket pauses reading ' +
        'until drain, on both ends, so with both write buffers full neither side reads and nothing drains (client writableLength ~7 MB, ' +
        'socket paused); the connection stalls until incompleteMessageTimeout (30 s) destroys it. Reproduced standalone with 8 x base64(1 MiB) ' +
        'sends at once; 4 in flight completes.',
    },
  },
  {
    name: 'nest-grpc',
    module: 'nest-grpc',
    kind: 'grpc',
    description: "Nest's gRPC transport (@grpc/grpc-js, bench/proto/bench.proto; unary calls, server streaming)",
    unsupported: { 'events-200k': 'gRPC has no fire-and-forget call (Nest has no @EventPattern over gRPC)' },
    limits: {
      maxStreamItems: 100_000,
      streamNote:
        "Nest's ServerGrpc buffers a synchronous Observable's values once call.write() returns false and drains them with " +
        'Array.shift() (quadratic, like Nest TCP): ~27k items/s for 10k items, ~6k for 100k on a loaded machine; 1M would take many minutes',
    },
  },
  {
    name: 'nest-nats',
    module: 'nest-nats',
    kind: 'nats',
    description:
      "Nest's NATS transport (@nats-io/transport-node) through a nats-server started by the bench on 127.0.0.1 (unpinned, max_payload 4 MB)",
    limits: {
      maxStreamItems: 100_000,
      streamNote: 'Nest NATS streams ~10k items/s here (one NATS message per item): a 1M-item stream would take minutes per run',
    },
  },
  {
    name: 'raw-net',
    module: 'raw-net',
    kind: 'single',
    description: 'raw net, length-prefixed binary frames, one write() per frame (a syscall per frame: no corking)',
  },
  {
    name: 'raw-net-batched',
    module: 'raw-net',
    kind: 'batched',
    description: 'raw net ceiling (the reference of the targets), frames of one tick coalesced into one write',
    skip: ['rss-stream-1m-slow', 'rss-stream-1m-fast', 'rss-transfer-1gib', 'bulk'],
  },
  {
    name: 'raw-net-corked',
    module: 'raw-net',
    kind: 'corked',
    description: 'raw net, one socket.write() per frame inside a per-tick cork (flushed as one writev): the write strategy of our connections',
    skip: ['rss-stream-1m-slow', 'rss-stream-1m-fast', 'rss-transfer-1gib', 'bulk'],
    optIn: true,
  },
  {
    name: 'bare-ws',
    module: 'bare-ws',
    kind: 'ws',
    description: 'bare ws (echo only): the WebSocket baseline of the connections scenario',
    optIn: true,
  },
];

/** Extra server options (JSON in BENCH_SERVER_OPTIONS) our rows pass to listen()/SocketDServer: the connections scenario raises maxConnections. */
export function benchServerOptions(): Record<string, unknown> {
  const v = process.env.BENCH_SERVER_OPTIONS;
  return v ? (JSON.parse(v) as Record<string, unknown>) : {};
}

export function findTransport(name: string): TransportEntry | undefined {
  return TRANSPORTS.find((t) => t.name === name);
}

export async function loadTransport(entry: TransportEntry): Promise<BenchTransportModule> {
  const m = (await import(`./${entry.module}.js`)) as { transport: BenchTransportModule };
  return m.transport;
}
