import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import { newSid } from '../protocol/sid.js';
import { metaStringOf, payloadBytes, toPayload, type FrameWriter } from './frame-writer.js';
import type { ResolvedSessionOptions } from './options.js';
import { streamTimeout, type OutboundStreams } from './outbound-streams.js';
import type { Responder } from './responder.js';
import type { SessionTelemetry } from './telemetry.js';
import type { Payload, RequestOptions, SendOptions, StreamHandle, StreamObserver } from './types.js';

/**
 * What a session starts: Messages, and Requests and Subscribes whose answers the outbound
 * table routes to their observers (within `maxPendingStreams` and their timeouts). The session
 * decides whether anything may start; this writes it.
 */
export class Requester {
  constructor(
    private readonly writer: FrameWriter,
    private readonly outbound: OutboundStreams,
    private readonly responder: Responder,
    private readonly tel: SessionTelemetry | undefined,
    private readonly options: ResolvedSessionOptions,
  ) {}

  send(event: string, data?: Payload, options?: SendOptions): boolean {
    const payload = toPayload(data);
    let metaString = metaStringOf(options?.metas);
    if (this.tel !== undefined) metaString = this.tel.emit(event, metaString, payloadBytes(payload));
    return this.writer.write(Flags.Message, newSid(), event, metaString, payload);
  }

  stream(kind: 'request' | 'subscribe', event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): StreamHandle {
    if (this.outbound.size >= this.options.maxPendingStreams) {
      throw socketDError('TOO_MANY_PENDING', `${this.outbound.size} streams already pending on this session (maxPendingStreams)`);
    }
    const sid = newSid();
    const timeout = streamTimeout(kind, options?.timeout, this.options);
    const payload = toPayload(data);
    let metaString = metaStringOf(options?.metas);
    if (this.tel !== undefined) ({ metaString, observer } = this.tel.call(kind, event, metaString, payloadBytes(payload), observer));
    this.outbound.add(sid, kind, event, observer, timeout, kind === 'subscribe' ? options?.firstReplyTimeout : undefined);
    try {
      this.writer.write(kind === 'request' ? Flags.Request : Flags.Subscribe, sid, event, metaString, payload);
    } catch (err) {
      this.outbound.forget(sid);
      this.tel?.failed(observer, err as Error);
      throw err;
    }
    return { sid, cancel: () => this.cancel(sid) };
  }

  /** The caller gave up on stream `sid`: forget it and tell the responder. */
  private cancel(sid: string): void {
    const stream = this.outbound.forget(sid);
    if (stream === undefined) return;
    this.tel?.cancelled(stream.observer);
    this.responder.cancel(sid, stream.event);
  }
}
