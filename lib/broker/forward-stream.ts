import { MetaKeys } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import { removeMeta } from '../protocol/metas.js';
import type { SocketDError } from '../protocol/errors.js';
import type { ReceivedMessage, Session, StreamHandle } from '../session/types.js';

/**
 * The metaString without what fragment aggregation leaves behind (`Data-Length`,
 * `Data-Fragment-*`): the broker re-fragments at its own `fragmentSize`, so a frame that then
 * fits whole must not look like a fragment (upstream's leftover, spec section 10).
 */
export function withoutFragmentMetas(metaString: string): string {
  if (!metaString.includes('Data-')) return metaString;
  let out = removeMeta(metaString, MetaKeys.DATA_LENGTH);
  out = removeMeta(out, MetaKeys.DATA_FRAGMENT_IDX);
  return removeMeta(out, MetaKeys.DATA_FRAGMENT_TOTAL);
}

/** Writes with backpressure: when `to` is over its high-water mark, `source` waits for it. */
export function relayed(written: boolean, to: Session, source: Session): void {
  if (!written && source.pauseUntil !== undefined) source.pauseUntil(to.drain());
}

/**
 * The Alarm text and extra metas for a forward that failed with `err`. A target's Alarm keeps
 * its own metas (its `code`, and what else it added, such as a Nest server's exact error value),
 * without the echo of the forwarded request's metas, which the requester's Alarm echoes anyway.
 */
export function alarmFor(err: Error, target: string, forwardedMetas: string): { text: string; metas: string } {
  const details = (err as SocketDError).details;
  const code = (err as SocketDError).code;
  if (code === 'SOCKETD_ERR_ALARM') {
    const raw = (details?.['alarm'] as ReceivedMessage | undefined)?.metaString ?? '';
    const own = forwardedMetas.length > 0 && raw.startsWith(forwardedMetas) ? raw.slice(forwardedMetas.length).replace(/^&/, '') : raw;
    return { text: err.message, metas: own };
  }
  if (code === 'SOCKETD_ERR_CONNECTION_CLOSED') {
    return { text: `Broker lost the '@${target}' session before it answered (${err.message})`, metas: '' };
  }
  return { text: `Broker forward to '@${target}' failed: ${err.message}`, metas: '' };
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
 * data or metas). A target's Alarm, loss or timeout fails only its own part; the requester gets
 * an Alarm when no target answered. The requester's cancel (or loss) cancels every forward.
 */
export class ForwardStream {
  private readonly handles: StreamHandle[] = [];
  private remaining: number;
  private answered = false;
  private lastError: Error | undefined;
  private finished = false;

  constructor(
    private readonly from: Session,
    private readonly message: ReceivedMessage,
    private readonly target: string,
    private readonly metaString: string,
    targets: readonly Session[],
    timeout: number | undefined,
    highWaterMark: number,
    private readonly onDone: () => void,
  ) {
    this.remaining = targets.length;
    const kind = message.isSubscribe ? 'subscribe' : 'request';
    // Cancel hooks first: a target that fails synchronously must find the stream wired.
    message.onCancel(() => this.cancelAll());
    for (const to of targets) {
      if (this.finished) break;
      try {
        this.handles.push(to.stream(kind, message.event, message.data, this.observer(to), { metas: metaString, timeout }));
      } catch (err) {
        this.partFailed(err as Error);
        continue;
      }
      relayed(to.bufferedAmount <= highWaterMark, to, from);
    }
  }

  private observer(to: Session) {
    // The engine hands a ReplyEnd with data to `next` (then `complete(undefined)`): the broker
    // relays it as the ReplyEnd it is, so the requester sees the target's frames unchanged.
    let endedWithData = false;
    return {
      next: (reply: ReceivedMessage) => {
        if (reply.flag !== Flags.ReplyEnd || !this.message.isSubscribe) {
          this.onNext(to, reply);
          return;
        }
        endedWithData = true;
        this.onComplete(reply);
      },
      complete: (end: ReceivedMessage | undefined) => {
        if (!endedWithData) this.onComplete(end);
      },
      error: (err: Error) => this.partFailed(err),
    };
  }

  private onNext(to: Session, reply: ReceivedMessage): void {
    if (this.finished || this.message.isDone) return;
    const metas = withoutFragmentMetas(reply.metaString);
    this.answered = true;
    if (!this.message.isSubscribe) {
      // Request: the first answer is the answer (always a Reply, as upstream), others cancelled.
      this.finish();
      relayed(this.from.reply(this.message, reply.data, metas), this.from, to);
      this.cancelAll();
      return;
    }
    relayed(this.from.reply(this.message, reply.data, metas), this.from, to);
  }

  private onComplete(end: ReceivedMessage | undefined): void {
    if (this.finished || !this.message.isSubscribe) return;
    this.remaining--;
    if (this.remaining > 0) {
      if (end !== undefined && (end.data.length > 0 || end.metaString.length > 0)) {
        this.answered = true;

        this.from.reply(this.message, end.data, withoutFragmentMetas(end.metaString));
      }
      return;
    }
    this.finish();
    if (this.message.isDone) return;
    this.from.replyEnd(this.message, end?.data, end === undefined ? '' : withoutFragmentMetas(end.metaString));
  }

  private partFailed(err: Error): void {
    if (this.finished) return;
    this.remaining--;
    this.lastError = err;
    if (this.remaining > 0) return;
    this.finish();
    if (this.message.isDone) return;
    if (this.message.isSubscribe && this.answered) {
      this.from.replyEnd(this.message, undefined, '');
      return;
    }
    const { text, metas } = alarmFor(this.lastError, this.target, this.metaString);
    this.from.alarm(this.message, text, metas);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone();
  }

  private cancelAll(): void {
    if (!this.finished) this.finish();
    for (const handle of this.handles.splice(0)) handle.cancel();
  }
}
