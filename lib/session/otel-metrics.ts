import type { OtelAttributes, OtelMeter } from './otel-api.js';
import type { IoCounters } from './telemetry.js';
import type { Session } from './types.js';

/** Counters of one transport and role, kept by the sessions and read by the observable instruments. */
export interface TransportState {
  readonly attributes: OtelAttributes;
  readonly io: IoCounters;
  /** Connections with a session, handshaken or not. */
  connections: number;
  /** Handshaken sessions not yet closed. */
  sessions: number;
  /** Every session not yet closed (their `bufferedAmount` is the queued write bytes). */
  readonly live: Set<Session>;
}

/** Names and units of every instrument (README, "Observability", lists them). */
export const METRIC_NAMES = {
  connections: 'socketd.connections',
  sessions: 'socketd.sessions',
  handshakesRefused: 'socketd.handshakes.refused',
  calls: 'socketd.calls',
  duration: 'socketd.call.duration',
  firstAnswer: 'socketd.call.first_answer',
  items: 'socketd.stream.items',
  frames: 'socketd.io.frames',
  bytes: 'socketd.io.bytes',
  queued: 'socketd.write.queued',
  reconnects: 'socketd.reconnects',
  limits: 'socketd.limits.hit',
  players: 'socketd.broker.players',
  forwards: 'socketd.broker.forwards',
} as const;

/**
 * The engine's instruments on one meter. Synchronous ones are recorded once per call (never
 * per frame); per-frame counts are plain numbers in {@link TransportState} that observable
 * instruments read at collection time.
 */
export class EngineMetrics {
  readonly calls;
  readonly duration;
  readonly firstAnswer;
  readonly items;
  readonly handshakesRefused;
  readonly reconnects;
  readonly limits;
  readonly forwards;

  constructor(meter: OtelMeter, states: ReadonlyMap<string, TransportState>, brokers: ReadonlySet<() => ReadonlyMap<string, readonly Session[]>>) {
    this.calls = meter.createCounter(METRIC_NAMES.calls, { description: 'Calls ended, by event, kind, role and outcome', unit: '{call}' });
    this.duration = meter.createHistogram(METRIC_NAMES.duration, { description: 'Call duration, from send to its end', unit: 's' });
    this.firstAnswer = meter.createHistogram(METRIC_NAMES.firstAnswer, { description: 'Time to the first answer of a Request or Subscribe', unit: 's' });
    this.items = meter.createCounter(METRIC_NAMES.items, { description: 'Replies carrying a value, by event and role', unit: '{item}' });
    this.handshakesRefused = meter.createCounter(METRIC_NAMES.handshakesRefused, { description: 'Handshakes refused by the server or rejected at the client', unit: '{handshake}' });
    this.reconnects = meter.createCounter(METRIC_NAMES.reconnects, { description: 'Reconnect attempts of clients', unit: '{attempt}' });
    this.limits = meter.createCounter(METRIC_NAMES.limits, { description: 'Limits hit: sessions closed by a limit or violation, requests refused at a limit', unit: '{event}' });
    this.forwards = meter.createCounter(METRIC_NAMES.forwards, { description: 'Messages a broker forwarded, by target name', unit: '{forward}' });

    meter.createObservableUpDownCounter(METRIC_NAMES.connections, { description: 'Open connections', unit: '{connection}' })
      .addCallback((result) => { for (const state of states.values()) result.observe(state.connections, state.attributes); });
    meter.createObservableUpDownCounter(METRIC_NAMES.sessions, { description: 'Open (handshaken) sessions', unit: '{session}' })
      .addCallback((result) => { for (const state of states.values()) result.observe(state.sessions, state.attributes); });
    meter.createObservableCounter(METRIC_NAMES.frames, { description: 'Frames read and written', unit: '{frame}' })
      .addCallback((result) => {
        for (const state of states.values()) {
          result.observe(state.io.framesIn, { ...state.attributes, 'socketd.direction': 'in' });
          result.observe(state.io.framesOut, { ...state.attributes, 'socketd.direction': 'out' });
        }
      });
    meter.createObservableCounter(METRIC_NAMES.bytes, { description: 'Payload (data) bytes of frames read and written', unit: 'By' })
      .addCallback((result) => {
        for (const state of states.values()) {
          result.observe(state.io.bytesIn, { ...state.attributes, 'socketd.direction': 'in' });
          result.observe(state.io.bytesOut, { ...state.attributes, 'socketd.direction': 'out' });
        }
      });
    meter.createObservableGauge(METRIC_NAMES.queued, { description: 'Bytes queued for writing', unit: 'By' })
      .addCallback((result) => {
        for (const state of states.values()) {
          let queued = 0;
          for (const session of state.live) queued += session.bufferedAmount;
          result.observe(queued, state.attributes);
        }
      });
    meter.createObservableGauge(METRIC_NAMES.players, { description: "Players connected to a broker, by name", unit: '{session}' })
      .addCallback((result) => {
        for (const players of brokers) for (const [name, sessions] of players()) result.observe(sessions.length, { 'socketd.player': name });
      });
  }
}
