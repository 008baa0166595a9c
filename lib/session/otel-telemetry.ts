import { Flags, type Flag } from '../protocol/flags.js';
import { SpanKinds, SpanStatus, type OpenTelemetryApi, type OtelAttributes, type OtelContext, type OtelMeterProvider, type OtelSpan, type OtelTracer } from './otel-api.js';
import { EngineMetrics, type TransportState } from './otel-metrics.js';
import { setTelemetry, type ServedMessage, type SessionTelemetry, type Telemetry, type TracedCall } from './telemetry.js';
import type { ReceivedMessage, Session, StreamObserver } from './types.js';

const SCOPE = 'nestjs-socketd';
/** An Alarm's code (MetaKeys.CODE). */
const ALARM_CODE_META = 'code';
/** Metas that carry the trace context (W3C Trace Context and Baggage). */
export const TRACE_METAS = ['traceparent', 'tracestate', 'baggage'] as const;

/** Reads trace metas straight from a received metaString (no parse of every meta per call). */
const GETTER = {
  keys: (carrier: { metaString: string }) => carrier.metaString.split('&').map((piece) => piece.slice(0, Math.max(0, piece.indexOf('=')))),
  get: (carrier: { metaString: string }, key: string) => metaValue(carrier.metaString, key),
};

/** Errors a session may close with that are no limit or violation. */
const NOT_LIMITS = new Set(['SOCKETD_ERR_CONNECTION_CLOSED', 'SOCKETD_ERR_HANDSHAKE_REJECTED', 'SOCKETD_ERR_CONNECT_TIMEOUT']);

/** How a call ended, as the `socketd.outcome` attribute says it. */
type Outcome = 'ok' | 'alarm' | 'timeout' | 'cancelled' | 'closed' | 'error';

/**
 * Telemetry through `@opentelemetry/api`: spans after OpenTelemetry's RPC and messaging
 * conventions, W3C trace context in metas, and the engine's metrics. Whether a tracer or meter
 * provider is registered is looked at per new session (not per call).
 */
export class OtelTelemetry implements Telemetry {
  private readonly states = new Map<string, TransportState>();
  private readonly brokers = new Set<() => ReadonlyMap<string, readonly Session[]>>();
  private readonly metricsByProvider = new WeakMap<OtelMeterProvider, EngineMetrics>();

  constructor(readonly api: OpenTelemetryApi) {}

  session(session: Session, transport: string, role: 'server' | 'client', fragmentSize: number): SessionTelemetry | undefined {
    const tracer = this.tracer();
    const metrics = this.metrics();
    if (tracer === undefined && metrics === undefined) return undefined;
    return new OtelSession(this.api, tracer, metrics, this.state(transport, role), session, transport, fragmentSize);
  }

  reconnect(transport: string): void {
    this.metrics()?.reconnects.add(1, { 'socketd.transport': transport });
  }

  forwarded(target: string, count: number): void {
    this.metrics()?.forwards.add(count, { 'socketd.player': target });
  }

  watchBroker(players: () => ReadonlyMap<string, readonly Session[]>): void {
    this.brokers.add(players);
  }

  private tracer(): OtelTracer | undefined {
    const provider = this.api.trace.getTracerProvider();
    // The API's proxy provider has a delegate only once an SDK registered one.
    if (typeof provider.getDelegateTracer === 'function') return provider.getDelegateTracer(SCOPE);
    return provider.getTracer(SCOPE);
  }

  private metrics(): EngineMetrics | undefined {
    const provider = this.api.metrics?.getMeterProvider();
    if (provider === undefined || provider.constructor?.name === 'NoopMeterProvider') return undefined;
    let metrics = this.metricsByProvider.get(provider);
    if (metrics === undefined) {
      metrics = new EngineMetrics(provider.getMeter(SCOPE), this.states, this.brokers);
      this.metricsByProvider.set(provider, metrics);
    }
    return metrics;
  }

  private state(transport: string, role: 'server' | 'client'): TransportState {
    const key = `${transport}/${role}`;
    let state = this.states.get(key);
    if (state === undefined) {
      state = { attributes: { 'socketd.transport': transport, 'socketd.role': role }, io: { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }, connections: 0, sessions: 0, live: new Set() };
      this.states.set(key, state);
    }
    return state;
  }
}

// The few meta-string operations needed here, kept local: lib/protocol's would pull the
// protocol's constants (and a Buffer) into the browser add-on bundle.

/** The last value of `key` in a raw metaString (the last duplicate wins, as in parseMetas). */
function metaValue(metaString: string, key: string): string | undefined {
  if (!metaString.includes(`${key}=`)) return undefined;
  let found: string | undefined;
  for (const piece of metaString.split('&')) if (piece.startsWith(`${key}=`)) found = piece.slice(key.length + 1);
  return found;
}

/** `metaString` without any piece of `key`. */
function withoutMeta(metaString: string, key: string): string {
  const prefix = `${key}=`;
  if (!metaString.startsWith(prefix) && !metaString.includes(`&${prefix}`)) return metaString;
  return metaString.split('&').filter((piece) => !piece.startsWith(prefix)).join('&');
}

/** `host:port` or `[v6]:port` as OpenTelemetry's peer address and port. */
function peerOf(address: string | undefined): { address: string | undefined; port: number | undefined } {
  if (address === undefined) return { address, port: undefined };
  const colon = address.lastIndexOf(':');
  const port = colon > 0 ? Number(address.slice(colon + 1)) : NaN;
  if (!Number.isInteger(port)) return { address, port: undefined };
  return { address: address.slice(0, colon).replace(/^\[|\]$/g, ''), port };
}

/** The messaging conventions' attributes of a Message span. */
function messagingAttributes(attributes: OtelAttributes, operation: 'send' | 'process', event: string, bytes: number): void {
  attributes['messaging.system'] = 'socketd';
  attributes['messaging.operation.type'] = operation;
  attributes['messaging.destination.name'] = event;
  attributes['messaging.message.body.size'] = bytes;
}

/** The recorder of one session. */
class OtelSession implements SessionTelemetry {
  readonly io;
  private readonly transport: string;
  private readonly peerAddress: string | undefined;
  private readonly peerPort: number | undefined;
  private wasOpen = false;

  constructor(
    private readonly api: OpenTelemetryApi,
    private readonly tracer: OtelTracer | undefined,
    readonly metrics: EngineMetrics | undefined,
    private readonly state: TransportState,
    private readonly session: Session,
    transport: string,
    private readonly fragmentSize: number,
  ) {
    this.io = state.io;
    state.connections++;
    state.live.add(session);
    this.transport = transport;
    const peer = peerOf(session.remoteAddress);
    this.peerAddress = peer.address;
    this.peerPort = peer.port;
  }

  call(kind: 'request' | 'subscribe', event: string, metaString: string, dataBytes: number, observer: StreamObserver): TracedCall {
    let span: OtelSpan | undefined;
    if (this.tracer !== undefined) {
      const active = this.api.context.active();
      const attributes = this.attributes(event, kind, dataBytes);
      attributes['socketd.fragments'] = dataBytes > this.fragmentSize ? Math.ceil(dataBytes / this.fragmentSize) : 1;
      span = this.tracer.startSpan(event, { kind: SpanKinds.CLIENT, attributes }, active);
      metaString = this.inject(metaString, this.api.trace.setSpan(active, span));
    }
    const call = new CallRecord(this, span, event, kind, 'client', observer);
    return { metaString, observer: call };
  }

  cancelled(observer: StreamObserver): void {
    if (observer instanceof CallRecord) observer.finish('cancelled', undefined, undefined);
  }

  failed(observer: StreamObserver, err: Error): void {
    if (observer instanceof CallRecord) observer.finish('error', undefined, err);
  }

  emit(event: string, metaString: string, dataBytes: number): string {
    if (this.tracer !== undefined) {
      const active = this.api.context.active();
      const attributes = this.attributes(event, 'message', dataBytes);
      messagingAttributes(attributes, 'send', event, dataBytes);
      const span = this.tracer.startSpan(event, { kind: SpanKinds.PRODUCER, attributes }, active);
      metaString = this.inject(metaString, this.api.trace.setSpan(active, span));
      span.end();
    }
    this.metrics?.calls.add(1, { 'socketd.event': event, 'socketd.kind': 'message', 'socketd.role': 'client', 'socketd.outcome': 'ok' });
    return metaString;
  }

  serve(message: ReceivedMessage, handle: () => unknown): unknown {
    const served = message as ServedMessage;
    const kind = message.isSubscribe ? 'subscribe' : message.isRequest ? 'request' : 'message';
    let span: OtelSpan | undefined;
    let context: OtelContext | undefined;
    if (this.tracer !== undefined) {
      const parent = message.metaString.length === 0 ? this.api.ROOT_CONTEXT
        : this.api.propagation.extract(this.api.ROOT_CONTEXT, message, GETTER);
      const attributes = this.attributes(message.event, kind, message.data.length);
      if (kind === 'message') messagingAttributes(attributes, 'process', message.event, message.data.length);
      span = this.tracer.startSpan(message.event, { kind: kind === 'message' ? SpanKinds.CONSUMER : SpanKinds.SERVER, attributes }, parent);
      context = this.api.trace.setSpan(parent, span);
    }
    const record = new CallRecord(this, span, message.event, kind, 'server', undefined);
    if (message.isRequest) {
      served.trace = record;
      message.onCancel(() => record.finish('cancelled', undefined, undefined));
    }
    let result: unknown;
    try {
      result = context === undefined ? handle() : this.api.context.with(context, handle);
    } catch (err) {
      if (!message.isRequest) record.finish('error', undefined, err as Error);
      throw err;
    }
    if (!message.isRequest) {
      if (result instanceof Promise) result.then(() => record.finish('ok', undefined, undefined), (err: Error) => record.finish('error', undefined, err));
      else record.finish('ok', undefined, undefined);
    }
    return result;
  }

  answered(to: ReceivedMessage, flag: Flag, dataBytes: number, metaString: string, text: string | undefined): void {
    const record = (to as ServedMessage).trace;
    if (!(record instanceof CallRecord)) return;
    if (flag === Flags.Alarm) {
      const code = parseInt(metaValue(metaString, ALARM_CODE_META) ?? '', 10) || undefined;
      record.finish('alarm', code, text);
      return;
    }
    if (dataBytes > 0 || flag === Flags.Reply) record.item(dataBytes);
    if (flag === Flags.ReplyEnd || to.flag === Flags.Request) record.finish('ok', undefined, undefined);
  }

  refused(): void {
    this.metrics?.handshakesRefused.add(1, this.state.attributes);
  }

  opened(): void {
    this.wasOpen = true;
    this.state.sessions++;
  }

  closed(code: number, err: Error | undefined): void {
    this.state.connections--;
    if (this.wasOpen) this.state.sessions--;
    this.state.live.delete(this.session);
    const errorCode = (err as { code?: unknown } | undefined)?.code;
    if (typeof errorCode === 'string' && errorCode.startsWith('SOCKETD_ERR_') && !NOT_LIMITS.has(errorCode)) {
      this.metrics?.limits.add(1, { ...this.state.attributes, 'socketd.close_code': code, 'error.type': errorCode });
    }
  }

  limitHit(code: string): void {
    this.metrics?.limits.add(1, { ...this.state.attributes, 'error.type': code });
  }

  // One object literal per span (no spreads: this runs per call).
  private attributes(event: string, kind: string, bytes: number): OtelAttributes {
    const attributes: OtelAttributes = {
      'rpc.system': 'socketd', 'rpc.method': event, 'network.protocol.name': 'socket.d', 'socketd.transport': this.transport,
      'socketd.kind': kind, 'socketd.request.bytes': bytes, 'network.peer.address': this.peerAddress, 'network.peer.port': this.peerPort,
    };
    if (this.peerPort === undefined) delete attributes['network.peer.port'];
    if (this.peerAddress === undefined) delete attributes['network.peer.address'];
    return attributes;
  }

  /** `metaString` with the trace metas of `context` (replacing any it had: a broker's forward). */
  private inject(metaString: string, context: OtelContext): string {
    const carrier: Record<string, string> = {};
    this.api.propagation.inject(context, carrier);
    for (const key of TRACE_METAS) {
      const value = carrier[key];
      if (value === undefined || value.includes('&')) continue; // no escaping exists for '&' in a meta value
      const piece = `${key}=${value}`;
      metaString = withoutMeta(metaString, key);
      metaString = metaString.length === 0 ? piece : `${metaString}&${piece}`;
    }
    return metaString;
  }
}

/** One call as recorded: its span (if tracing) and its metrics; also the observer the engine calls. */
class CallRecord implements StreamObserver {
  private readonly start = performance.now();
  private items = 0;
  private bytes = 0;
  private answeredAt = 0;
  private ended = false;

  constructor(
    private readonly owner: OtelSession,
    private readonly span: OtelSpan | undefined,
    private readonly event: string,
    private readonly kind: string,
    private readonly role: 'client' | 'server',
    private readonly inner: StreamObserver | undefined,
  ) {}

  next(reply: ReceivedMessage): void {
    this.item(reply.data.length);
    this.inner!.next(reply);
  }

  complete(end: ReceivedMessage | undefined): void {
    this.finish('ok', undefined, undefined);
    this.inner!.complete(end);
  }

  error(err: Error): void {
    const code = (err as { code?: string }).code;
    if (code === 'SOCKETD_ERR_ALARM') this.finish('alarm', (err as { details?: { alarmCode?: number } }).details?.alarmCode || undefined, err);
    else if (code === 'SOCKETD_ERR_TIMEOUT') this.finish('timeout', undefined, err);
    else if (code === 'SOCKETD_ERR_CONNECTION_CLOSED') this.finish('closed', undefined, err);
    else this.finish('error', undefined, err);
    this.inner!.error(err);
  }

  /** A reply carrying `bytes` of data. */
  item(bytes: number): void {
    if (this.answeredAt === 0) {
      this.answeredAt = performance.now();
      this.owner.metrics?.firstAnswer.record((this.answeredAt - this.start) / 1000, { 'socketd.event': this.event, 'socketd.role': this.role });
    }
    this.items++;
    this.bytes += bytes;
  }

  finish(outcome: Outcome, alarmCode: number | undefined, err: Error | string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const metrics = this.owner.metrics;
    if (metrics !== undefined) {
      const attributes: OtelAttributes = { 'socketd.event': this.event, 'socketd.kind': this.kind, 'socketd.role': this.role, 'socketd.outcome': outcome };
      if (alarmCode !== undefined) attributes['socketd.alarm.code'] = alarmCode;
      metrics.calls.add(1, attributes);
      metrics.duration.record((performance.now() - this.start) / 1000, attributes);
      if (this.items > 0) metrics.items.add(this.items, { 'socketd.event': this.event, 'socketd.role': this.role });
    }
    const span = this.span;
    if (span === undefined) return;
    span.setAttributes({ 'socketd.stream.items': this.items, 'socketd.response.bytes': this.bytes, 'socketd.outcome': outcome });
    if (outcome === 'cancelled' || outcome === 'timeout') span.addEvent(outcome === 'cancelled' ? 'socketd.cancelled' : 'socketd.timeout');
    if (outcome !== 'ok' && outcome !== 'cancelled') {
      const message = typeof err === 'string' ? err : err?.message;
      if (alarmCode !== undefined) span.setAttributes({ 'socketd.alarm.code': alarmCode, 'rpc.response.status_code': String(alarmCode) });
      span.setAttribute('error.type', alarmCode !== undefined ? String(alarmCode) : outcome);
      span.setStatus({ code: SpanStatus.ERROR, message });
    }
    span.end();
  }
}

/**
 * Records spans and metrics through this OpenTelemetry API (`import * as api from
 * '@opentelemetry/api'`), or stops with `false`. The Node entry points do it on their own when
 * `@opentelemetry/api` is installed (`loadOpenTelemetry()`); a browser page passes the API its
 * web tracer registered with. Sessions created from then on record, each only if a tracer or
 * meter provider is registered when it is created.
 */
export function useOpenTelemetry(api: OpenTelemetryApi | false): void {
  setTelemetry(api === false ? undefined : new OtelTelemetry(api));
}
