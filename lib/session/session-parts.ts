import { FragmentAggregator } from '../protocol/fragments.js';
import type { Connection } from './connection.js';
import type { FrameWriter } from './frame-writer.js';
import { InboundStreams } from './inbound-streams.js';
import { MessageRouter, PARTIAL_MESSAGE_OVERHEAD } from './message-router.js';
import type { ResolvedSessionOptions } from './options.js';
import { OutboundStreams } from './outbound-streams.js';
import { Requester } from './requester.js';
import { Responder } from './responder.js';
import type { SessionTelemetry } from './telemetry.js';
import type { Session, SessionListener } from './types.js';

/** What a session delegates to, wired once; none of it calls back into the session. */
export interface SessionParts {
  /** Fragmented messages being reassembled (spec section 8). */
  readonly fragments: FragmentAggregator;
  /** Requests and Subscribes from the peer not yet answered to the end. */
  readonly inbound: InboundStreams;
  /** Our Requests and Subscribes waiting for answers. */
  readonly outbound: OutboundStreams;
  /** Writes answers (ours and the engine's own refusals). */
  readonly responder: Responder;
  /** Writes what we start. */
  readonly requester: Requester;
  /** Routes the received message frames. */
  readonly router: MessageRouter;
}

export function wireSessionParts(
  session: Session,
  connection: Connection,
  options: ResolvedSessionOptions,
  listener: SessionListener,
  writer: FrameWriter,
  tel: SessionTelemetry | undefined,
  isClosed: () => boolean,
): SessionParts {
  const log = options.logger;
  const fragments = new FragmentAggregator({
    maxMessageSize: options.maxMessageSize,
    maxPendingBytes: options.maxPendingFragmentBytes,
    entryOverhead: PARTIAL_MESSAGE_OVERHEAD,
    memory: connection.memory,
  });
  const inbound = new InboundStreams(options.maxInboundStreams, log, fragments, connection.memory);
  const responder = new Responder(writer, inbound, log, tel, session.id, isClosed);
  // A timed-out stream is cancelled on the wire too, so the responder stops producing.
  const outbound = new OutboundStreams(log, (sid, event) => responder.cancel(sid, event));
  const router = new MessageRouter({ session, telemetry: tel, responder, fragments }, listener, inbound, outbound, log);
  const requester = new Requester(writer, outbound, responder, tel, options);
  return { fragments, inbound, outbound, responder, requester, router };
}
