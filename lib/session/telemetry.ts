import type { Flag } from '../protocol/flags.js';
import type { ReceivedMessage, Session, StreamObserver } from './types.js';

/**
 * The engine's telemetry hooks (tracing and metrics), plugged in by `useOpenTelemetry()`.
 * With none plugged in, or when OpenTelemetry has no tracer or meter provider registered,
 * a session holds `undefined` and its hot path checks that one field: nothing is allocated.
 */
export interface Telemetry {
  /** Per new session: its recorder, or undefined when there is nothing to record. */
  session(session: Session, transport: string, role: 'server' | 'client', fragmentSize: number): SessionTelemetry | undefined;
  /** A client starts a reconnect attempt. */
  reconnect(transport: string): void;
  /** A broker forwarded a message to `count` players of `target`. */
  forwarded(target: string, count: number): void;
  /** A broker's players by name, read when metrics are collected. */
  watchBroker(players: () => ReadonlyMap<string, readonly Session[]>): void;
}

/** Frames and payload bytes one transport carried (read by observable counters). */
export interface IoCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** An outgoing Request/Subscribe as recorded: its metas (trace context added) and observer. */
export interface TracedCall {
  readonly metaString: string;
  readonly observer: StreamObserver;
}

/** The recorder of one session. */
export interface SessionTelemetry {
  readonly io: IoCounters;
  /** An outgoing Request/Subscribe: a CLIENT span (context injected into its metas) and metrics. */
  call(kind: 'request' | 'subscribe', event: string, metaString: string, dataBytes: number, observer: StreamObserver): TracedCall;
  /** The requester cancelled `observer`'s call (the one {@link call} returned). */
  cancelled(observer: StreamObserver): void;
  /** `observer`'s call could not be sent (its send threw `err`). */
  failed(observer: StreamObserver, err: Error): void;
  /** An outgoing Message: a PRODUCER span; returns its metas with the trace context. */
  emit(event: string, metaString: string, dataBytes: number): string;
  /** A received Message/Request/Subscribe: runs `handle` inside a CONSUMER/SERVER span. */
  serve(message: ReceivedMessage, handle: () => unknown): unknown;
  /** An answer (Reply, ReplyEnd, Alarm) to a received Request/Subscribe was sent. */
  answered(to: ReceivedMessage, flag: Flag, dataBytes: number, metaString: string, text: string | undefined): void;
  /** The handshake was refused (server) or rejected (client). */
  refused(): void;
  /** The session's handshake completed. */
  opened(): void;
  /** The session closed with `code`; `err` names a limit or violation when there was one. */
  closed(code: number, err: Error | undefined): void;
  /** A Request/Subscribe was refused with an Alarm at a limit (`maxInboundStreams`). */
  limitHit(code: string): void;
}

// A global slot, not module state: the browser's tracing add-on (a bundle of its own) and a
// second copy of this package in one process plug into the same sessions.
const SLOT = Symbol.for('nestjs-socketd.telemetry');
const slots = globalThis as unknown as Record<symbol, Telemetry | undefined>;

/** Plugs telemetry in (or out, with undefined) for sessions created from now on. */
export function setTelemetry(telemetry: Telemetry | undefined): void {
  slots[SLOT] = telemetry;
}

/** The telemetry plugged in, if any (read once per new session). */
export function getTelemetry(): Telemetry | undefined {
  return slots[SLOT];
}

/** What a span of one inbound stream keeps on its message (set by the recorder). */
export interface ServedMessage extends ReceivedMessage {
  trace?: unknown;
}
