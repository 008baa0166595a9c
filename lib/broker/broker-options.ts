import type { Handshake, ReceivedMessage, ServerOptions, Session } from '../session/types.js';

/** Who may register a player name, and who may call one (both optional: default allow). */
export interface BrokerAuthorize {
  /**
   * Runs during the handshake of a session that names itself (`?@=name`). False (or a
   * rejection) refuses the handshake: Close 1001, the player's connect fails with
   * SOCKETD_ERR_HANDSHAKE_REJECTED.
   */
  register?(name: string, handshake: Handshake, remoteAddress: string | undefined): boolean | Promise<boolean>;
  /**
   * Runs for every routed Message/Request/Subscribe with the target's name (`*` for a
   * broadcast, without the `!`/`*` suffix otherwise). False answers the sender with an Alarm
   * `Broker refused '@target' for this session` and forwards nothing.
   */
  call?(targetName: string, message: ReceivedMessage, from: Session): boolean;
}

/**
 * Options of `SdBroker`: every engine server option (limits, timeouts, `fragmentSize` at which
 * the broker re-fragments what it forwards, `highWaterMark`, logger, `onHandshake`, `onOpen`,
 * `onClose`, ...) except `onMessage`/`onOrphanReply`, which are the broker's.
 */
export interface BrokerOptions extends Omit<ServerOptions, 'onMessage' | 'onOrphanReply'> {
  /** Authorisation hooks (default: anyone may register any name and call anyone). */
  authorize?: BrokerAuthorize;
  /**
   * Milliseconds a forwarded Request/Subscribe waits for the target's (final) answer before the
   * requester gets an Alarm (code 504). Default: the broker's `streamTimeout` (2 h), as upstream.
   */
  forwardTimeout?: number;
  /**
   * Forwarded Request/Subscribe streams one session may have unanswered at once; one more is
   * refused with an Alarm. Default 10 000.
   */
  maxForwardsPerSession?: number;
  /**
   * Bytes queued toward one peer (its `bufferedAmount`) above which a forward to it (or, toward
   * a caller, an answer) fails with an Alarm `code=503` instead of being queued; nobody is
   * paused for it, the sender's calls to other players keep flowing. A peer whose queue is at
   * most `highWaterMark` takes any one message (up to `maxMessageSize`). Default 16 MiB.
   */
  maxTargetBufferedBytes?: number;
  /**
   * Bytes the broker queues toward all peers together: peers over their `highWaterMark` (that
   * do not read) get nothing more once half of it is used (Alarm `code=503`); a fan-out
   * (`name*`, `*`) counts one copy per target and fails whole when its copies do not fit in it.
   * Default 64 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Outlier ejection: milliseconds a player may hold forwarded Requests/Subscribes without
   * answering any of them (no Reply, ReplyEnd or Alarm) before round-robin and hash routing
   * skip it for `ejectionTime`; 0 disables. Default 2 000.
   */
  ejectAfter?: number;
  /**
   * Milliseconds an ejected player stays out (the n-th ejection in a row n times as long, at
   * most 10); then one forward probes it, and its answer puts it back (as does any answer
   * earlier). Default 5 000.
   */
  ejectionTime?: number;
}

/**
 * The `code` meta of the Alarms the broker itself raises for a forward that failed (README,
 * "A broker"): upstream sends none, and no upstream peer gives 502/503/504 a meaning of its own.
 */
export const BrokerAlarmCodes = {
  /**
   * The forward failed: the player was lost (died, closed) before it answered or in the middle
   * of its stream, or the broker could not send the forward (the Alarm's text says which).
   */
  FORWARD_FAILED: 502,
  /**
   * The forward was not sent: the player's queue (`maxTargetBufferedBytes`: it does not read, or its share of the server's `memoryBudget`)
   * or the broker's (`maxBufferedBytes`, a fan-out's copies included) is full; or the caller's
   * own queue was, and its answer was dropped (the forward cancelled). Retry later.
   */
  FORWARD_REFUSED: 503,
  /** The player did not answer (or end its stream) within `forwardTimeout`. */
  FORWARD_TIMEOUT: 504,
} as const;

/**
 * Handshake meta by which a peer announces that it answers a Subscribe with Reply... ReplyEnd
 * (the same key as lib/nest's `NEST_STREAM_META`): a Nest player sends it in its Connect, the
 * broker in its Connack.
 */
export const NEST_STREAM_META = 'X-Nest-Stream';

/**
 * Connack meta of the broker and per-call meta of a Nest client in `callMode` `auto`: a
 * Subscribe marked `X-Nest-Auto=1` goes on as a Subscribe to a player that announced
 * {@link NEST_STREAM_META}, and as a Request (its one answer ends the stream) to any other,
 * the same exchange the client would have had over a direct connection to that player.
 */
export const NEST_AUTO_META = 'X-Nest-Auto';

/** Defaults of the broker's own options. */
export const BROKER_DEFAULTS = {
  maxForwardsPerSession: 10_000,
  maxTargetBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  ejectAfter: 2_000,
  ejectionTime: 5_000,
} as const;

/** The host part of a remote address (`1.2.3.4:5678`, `[::1]:5678`). */
export function hostOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '';
  const m = /^\[(.*)\]:\d+$/.exec(remoteAddress) ?? /^(.*):\d+$/.exec(remoteAddress);
  return m ? m[1]! : remoteAddress;
}
