import type { Flag } from '../protocol/flags.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { CloseCodes, MAX_META_BYTES, MetaKeys } from '../protocol/constants.js';
import { parseMetas } from '../protocol/metas.js';
import { safeCall } from './callbacks.js';
import type { EngineLogger, Metas, ReceivedMessage } from './types.js';

/** Meta that marks a requester's Alarm as a cancel (our choice; upstream ignores it). */
export const CANCEL_META = 'X-Cancel';

/**
 * A received Message/Request/Subscribe/Reply/ReplyEnd/Alarm. Metas are parsed on first use
 * (most hot-path frames carry none, and the Nest layer reads only a few keys).
 */
export class InboundMessage implements ReceivedMessage {
  readonly flag: Flag;
  readonly sid: string;
  readonly event: string;
  readonly metaString: string;
  readonly data: Buffer;
  private parsed: Metas | undefined;
  private done = false;
  private cancelHooks: (() => void)[] | undefined;
  private alarmHooks: ((alarm: ReceivedMessage) => void)[] | undefined;

  constructor(frame: Frame) {
    this.flag = frame.flag;
    this.sid = frame.sid;
    this.event = frame.event;
    this.metaString = frame.metaString;
    this.data = frame.data;
  }

  get metas(): Readonly<Metas> {
    return (this.parsed ??= parseMetas(this.metaString));
  }

  meta(name: string): string | undefined {
    if (this.metaString.length === 0) return undefined;
    return this.metas[name];
  }

  dataAsString(): string {
    return this.data.toString('utf8');
  }

  get isRequest(): boolean {
    return this.flag === Flags.Request || this.flag === Flags.Subscribe;
  }

  get isSubscribe(): boolean {
    return this.flag === Flags.Subscribe;
  }

  get isDone(): boolean {
    return this.done;
  }

  onCancel(fn: () => void): void {
    if (this.done) return;
    (this.cancelHooks ??= []).push(fn);
  }

  onAlarm(fn: (alarm: ReceivedMessage) => void): void {
    if (this.done) return;
    (this.alarmHooks ??= []).push(fn);
  }

  /** The requester sent an Alarm that is not a cancel: the alarm hooks run, the stream stays. */
  alarmed(alarm: ReceivedMessage, log: EngineLogger): void {
    const hooks = this.alarmHooks;
    if (hooks) for (const hook of hooks) safeCall(log, `onAlarm hook of '${this.event}'`, () => hook(alarm));
  }

  /** Marks an inbound stream answered to the end; cancel hooks are dropped. */
  finish(): void {
    this.done = true;
    this.cancelHooks = undefined;
    this.alarmHooks = undefined;
  }

  /**
   * Marks it cancelled (requester's Alarm or session closed) and runs the cancel hooks once;
   * a hook that throws is logged through `log` and the others still run.
   */
  cancel(log: EngineLogger): void {
    if (this.done) return;
    this.done = true;
    const hooks = this.cancelHooks;
    this.cancelHooks = undefined;
    this.alarmHooks = undefined;
    if (hooks) for (const hook of hooks) safeCall(log, `onCancel hook of '${this.event}'`, hook);
  }
}

/**
 * The metaString of an Alarm about `to` (spec 7.3): the offending message's metas plus the
 * alarm's own (`extra`), or only the latter when both would pass the meta limit.
 */
export function alarmMetaString(to: ReceivedMessage, extra: string): string {
  if (extra.length === 0) return to.metaString;
  if (to.metaString.length === 0) return extra;
  const both = `${to.metaString}&${extra}`;
  return Buffer.byteLength(both) > MAX_META_BYTES ? extra : both;
}

/** The code a Close frame carries (its `code` meta; 1001 when absent or not a number). */
export function closeCodeOf(frame: Frame): number {
  return parseInt(new InboundMessage(frame).meta(MetaKeys.CODE) ?? '', 10) || CloseCodes.CLOSE;
}
