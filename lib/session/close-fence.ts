import { MetaKeys } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { isFragment } from '../protocol/fragments.js';
import type { FrameWriter } from './frame-writer.js';
import { alarmMetaString, InboundMessage } from './received-message.js';
import type { EngineLogger } from './types.js';
import { Waiters } from './waiters.js';

/** How often the fence repeats its Ping until the peer's Pong comes. */
const FENCE_PING_INTERVAL = 50;

/**
 * What `preclose()` waits on after sending Close 1000: a Ping right behind it. The peer reads
 * the Close before it answers the Ping, so once its Pong arrives, everything it started before
 * it knew has arrived too, and anything it starts later ignores the Close. The Ping is repeated
 * (a peer skips Pongs while its own bytes are queued, see `FrameWriter.pong`) until a Pong
 * passes the fence or the session closes.
 */
export class CloseFence {
  private readonly waiters = new Waiters();
  private passedValue = false;
  private refused = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(ping: () => void) {
    ping();
    this.timer = setInterval(ping, FENCE_PING_INTERVAL);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** True once the peer's Pong came (or the session closed). */
  get passed(): boolean {
    return this.passedValue;
  }

  /** Resolves once {@link passed}. */
  wait(): Promise<void> {
    return this.passedValue ? Promise.resolve() : this.waiters.wait();
  }

  /**
   * The peer started `frame` after it read our Close 1000 (spec 6.2: start nothing new): a
   * Request or Subscribe gets an Alarm (on its first fragment only), a Message is dropped; the
   * first one is logged.
   */
  refuse(frame: Frame, writer: FrameWriter, log: EngineLogger, who: string): void {
    if (this.refused++ === 0) log.warn(`Socket.D session ${who}: the peer started '${frame.event}' after our Close 1000 (start nothing new); refused`);
    if (frame.flag === Flags.Message || (isFragment(frame) && new InboundMessage(frame).meta(MetaKeys.DATA_FRAGMENT_IDX) !== '1')) return;
    writer.write(Flags.Alarm, frame.sid, frame.event, alarmMetaString(new InboundMessage(frame), ''), `'${frame.event}' refused: this side is closing (Close 1000 sent)`);
  }

  /** A Pong arrived, or the session closed. */
  pass(): void {
    if (this.passedValue) return;
    this.passedValue = true;
    clearInterval(this.timer);
    this.waiters.release();
  }
}
