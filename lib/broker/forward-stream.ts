import { MetaKeys } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import { removeMeta } from '../protocol/metas.js';
import type { SocketDError } from '../protocol/errors.js';
import type { ReceivedMessage, Session, StreamHandle } from '../session/types.js';
import { BrokerAlarmCodes, NEST_AUTO_META } from './broker-options.js';
import type { QueueLimit } from './forward-queues.js';
import type { PlayerHealth } from './outlier-ejection.js';

/**
 * The metaString the broker relays: without what fragment aggregation leaves behind
 * (`Data-Length`, `Data-Fragment-*`): the broker re-fragments at its own `fragmentSize`, so a
 * frame that then fits whole must not look like a fragment (upstream's leftover, spec section 10).
 */
export function relayedMetas(metaString: string): string {
  if (!metaString.includes('Data-')) return metaString;
  let out = removeMeta(metaString, MetaKeys.DATA_LENGTH);
  out = removeMeta(out, MetaKeys.DATA_FRAGMENT_IDX);
  return removeMeta(out, MetaKeys.DATA_FRAGMENT_TOTAL);
}

/** A forwarded message's metaString: {@link relayedMetas}, without the broker's own `X-Nest-Auto` marker. */
export function forwardedMetas(metaString: string): string {
  const out = relayedMetas(metaString);
  return out.includes(NEST_AUTO_META) ? removeMeta(out, NEST_AUTO_META) : out;
}

/**
 * `raw` without the pieces that `echoed` already holds, whatever their order: the requester's
 * Alarm echoes its own metas, so a target's Alarm that echoed them too (Java reorders them)
 * must not add them a second time.
 */
export function metasNotIn(raw: string, echoed: string): string {
  if (raw.length === 0 || echoed.length === 0) return raw;
  if (raw === echoed) return '';
  const seen = new Set(echoed.split('&'));
  return raw.split('&').filter((piece) => piece !== '' && !seen.has(piece)).join('&');
}

/**
 * The Alarm text and extra metas for a forward that failed with `err`. A target's Alarm keeps
 * its own metas (its `code`, and what else it added, such as a Nest server's exact error value),
 * without the echo of the requester's metas, which the requester's Alarm echoes anyway. A lost
 * target (or a forward that could not be sent) is `code=502`, a forward that timed out
 * `code=504` (README, "Errors").
 */
export function alarmFor(err: Error, target: string, requestMetas: string, midStream: boolean): { text: string; metas: string } {
  const details = (err as SocketDError).details;
  const code = (err as SocketDError).code;
  if (code === 'SOCKETD_ERR_ALARM') {
    const raw = (details?.['alarm'] as ReceivedMessage | undefined)?.metaString ?? '';
    return { text: err.message, metas: metasNotIn(raw, requestMetas) };
  }
  if (code === 'SOCKETD_ERR_CONNECTION_CLOSED') {
    const when = midStream ? 'in the middle of its answer' : 'before it answered';
    return { text: `Broker lost the '@${target}' session ${when} (${err.message})`, metas: `${MetaKeys.CODE}=${BrokerAlarmCodes.FORWARD_FAILED}` };
  }
  if (code === 'SOCKETD_ERR_TIMEOUT') {
    return { text: `Broker forward to '@${target}' timed out: ${err.message}`, metas: `${MetaKeys.CODE}=${BrokerAlarmCodes.FORWARD_TIMEOUT}` };
  }
  return { text: `Broker forward to '@${target}' failed: ${err.message}`, metas: `${MetaKeys.CODE}=${BrokerAlarmCodes.FORWARD_FAILED}` };
}

/** How one target gets a forward: as the requester sent it, or a Subscribe sent as a Request. */
export type ForwardKind = 'request' | 'subscribe';

/** What every {@link ForwardStream} of a broker needs from it (one object per broker). */
export interface ForwardContext {
  /** Milliseconds each forward waits for its (final) answer (negative: the streamTimeout). */
  readonly timeout: number;
  /** The answering health of a target (outlier ejection). */
  healthOf(to: Session): PlayerHealth;
  /** After a forward or an answer was written toward `to`: its queue is charged. */
  charge(to: Session): void;
  /** Undefined when `bytes` more toward `to` fit its queue, else the bound they would pass. */
  refusal(to: Session, bytes: number): QueueLimit | undefined;
}

/**
 * One Request or Subscribe from `from` forwarded to one or more targets (fan-out for `name*`
 * and `*`), answered on the requester's sid and event:
 *
 *   requester --Request(sid A, @=svc)--> broker --Request(sid B, same metas/data)--> player
 *   requester <--Reply(sid A, player's metas/data)-- broker <--Reply|ReplyEnd(sid B)-- player
 *
 * A Request gets one Reply (the first answer of any target; the other forwards are cancelled).
 * A Subscribe gets every target's Replies in arrival order and one ReplyEnd once every target
 * has ended (a target's ReplyEnd that is not the last is relayed as a Reply when it carries
 * data or metas). A Subscribe forwarded to a target as a Request (`kindOf`: a Nest client's
 * auto Subscribe toward a player that does not stream) takes that target's one answer as its
 * end. A target's Alarm, loss or timeout before it answered fails only its own part (the
 * requester gets an Alarm when no target answered); a target lost after it relayed part of a
 * stream fails the whole stream with an Alarm (code 502), never a ReplyEnd over missing data.
 * A requester that does not read gets an Alarm (code 503) instead of what would pass its queue's
 * bounds, and every forward is cancelled: the player is never paused for it. The requester's
 * cancel (or loss) cancels every forward. Each target's first answer (or its lack) is reported
 * to its health record (outlier ejection).
 */
export class ForwardStream {
  private readonly handles: StreamHandle[] = [];
  /** Health records of the targets that have not answered yet (each answers at most once here). */
  private readonly unanswered = new Set<PlayerHealth>();
  private remaining: number;
  private answered = false;
  private finished = false;

  constructor(
    private readonly from: Session,
    private readonly message: ReceivedMessage,
    private readonly target: string,
    metaString: string,
    targets: readonly Session[],
    kindOf: (to: Session) => ForwardKind,
    private readonly context: ForwardContext,
    /** The stream ended (answered, failed or cancelled). */
    private readonly onDone: () => void,
  ) {
    this.remaining = targets.length;
    // Cancel hooks first: a target that fails synchronously must find the stream wired.
    message.onCancel(() => this.cancelAll());
    const now = Date.now();
    for (const to of targets) {
      if (this.finished) break;
      const kind = kindOf(to);
      const health = context.healthOf(to);
      health.sent(now);
      this.unanswered.add(health);
      try {
        this.handles.push(to.stream(kind, message.event, message.data, this.observer(to, kind, health), { metas: metaString, timeout: context.timeout }));
      } catch (err) {
        this.heard(health, false);
        this.partFailed(err as Error, false);
        continue;
      }
      context.charge(to);
    }
  }

  // A target's first answer (or its end without one): its health hears it once.
  private heard(health: PlayerHealth, answered: boolean): void {
    if (!this.unanswered.delete(health)) return;
    if (answered) health.answered(Date.now());
    else health.unanswered(Date.now());
  }

  private observer(to: Session, kind: ForwardKind, health: PlayerHealth) {
    // A Subscribe sent on as a Request: the target's one answer is its part's end.
    const single = kind === 'request' && this.message.isSubscribe;
    let relayedData = false;
    let ended = false;
    return {
      next: (reply: ReceivedMessage) => {
        relayedData = true;
        this.heard(health, true);
        if (single || (reply.flag === Flags.ReplyEnd && this.message.isSubscribe)) {
          // That one answer, or a ReplyEnd with data (the engine hands its data to `next`,
          // then completes): this part's end, relayed as the ReplyEnd it is.
          ended = true;
          this.onComplete(reply, single);
        } else {
          this.onNext(reply);
        }
      },
      complete: (end: ReceivedMessage | undefined) => {
        this.heard(health, true);
        if (!ended) this.onComplete(end, false);
      },
      error: (err: Error) => {
        // A player's Alarm is an answer; a timeout or its loss is not.
        this.heard(health, (err as SocketDError).code === 'SOCKETD_ERR_ALARM');
        this.partFailed(err, relayedData);
      },
    };
  }

  private onNext(reply: ReceivedMessage): void {
    if (this.finished || this.message.isDone || !this.fitsRequester(reply.data.length)) return;
    const metas = relayedMetas(reply.metaString);
    this.answered = true;
    if (!this.message.isSubscribe) {
      // Request: the first answer is the answer (always a Reply, as upstream), others cancelled.
      this.finish();
      this.from.reply(this.message, reply.data, metas);
      this.context.charge(this.from);
      this.cancelAll();
      return;
    }
    this.from.reply(this.message, reply.data, metas);
    this.context.charge(this.from);
  }

  // One target's end. `answer`: the one answer of a Subscribe sent on as a Request, relayed
  // even when empty (it is the end of a stream the requester waits for).
  private onComplete(end: ReceivedMessage | undefined, answer: boolean): void {
    if (this.finished || !this.message.isSubscribe) return;
    if (end !== undefined && !this.message.isDone && !this.fitsRequester(end.data.length)) return;
    this.remaining--;
    if (this.remaining > 0) {
      if (end !== undefined && (answer || end.data.length > 0 || end.metaString.length > 0)) {
        this.answered = true;
        this.from.reply(this.message, end.data, relayedMetas(end.metaString));
        this.context.charge(this.from);
      }
      return;
    }
    this.finish();
    if (this.message.isDone) return;
    this.from.replyEnd(this.message, end?.data, end === undefined ? '' : relayedMetas(end.metaString));
    this.context.charge(this.from);
  }

  // Answers never pause the player (its other callers would wait too): a requester that does
  // not read loses its own stream instead, with an Alarm code=503, once its queue is full.
  private fitsRequester(bytes: number): boolean {
    const limit = this.context.refusal(this.from, bytes);
    if (limit === undefined) return true;
    this.finish();
    this.cancelAll();
    const text = `Broker dropped the answer of '@${this.target}': its caller does not read (${this.from.bufferedAmount} bytes queued to it) (${limit})`;
    this.from.alarm(this.message, text, `${MetaKeys.CODE}=${BrokerAlarmCodes.FORWARD_REFUSED}`);
    return false;
  }

  // `midStream`: this target had relayed part of its answer, which is now incomplete.
  private partFailed(err: Error, midStream: boolean): void {
    if (this.finished) return;
    this.remaining--;
    if (this.remaining > 0 && !midStream) return;
    this.finish();
    this.cancelAll();
    if (this.message.isDone) return;
    if (this.message.isSubscribe && this.answered && !midStream) {
      // Fan-out: the other targets' parts arrived whole; this one never started.
      this.from.replyEnd(this.message, undefined, '');
      return;
    }
    const { text, metas } = alarmFor(err, this.target, this.message.metaString, midStream);
    this.from.alarm(this.message, text, metas);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone();
  }

  // The requester cancelled (or left), or the stream is over: the targets still silent did not answer.
  private cancelAll(): void {
    if (!this.finished) this.finish();
    for (const handle of this.handles.splice(0)) handle.cancel();
    for (const health of this.unanswered) this.heard(health, false);
  }
}
