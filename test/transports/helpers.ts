import type { Frame } from '../../lib/protocol/frame.js';
import type { SocketDError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import type { Connection, ConnectionHandlers } from '../../lib/transports/transport.js';

/** A Message frame with sid = its index, so order can be checked. */
export function messageFrame(i: number, data: Buffer = Buffer.from(`payload-${i}`)): Buffer {
  return encodeFrame({ flag: Flags.Message, sid: String(i), event: '/e', metaString: 'k=v', data });
}

/** Records what a connection reports and lets a test await it. */
export class Recorder implements ConnectionHandlers {
  readonly frames: Frame[] = [];
  readonly protocolErrors: SocketDError[] = [];
  drains = 0;
  closes: (Error | undefined)[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(readonly connection?: Connection) {
    connection?.setHandlers(this);
  }

  onFrame(frame: Frame): void {
    // Copy: data may be a view into a receive buffer.
    this.frames.push({ ...frame, data: Buffer.from(frame.data) });
    this.check();
  }
  onProtocolError(err: SocketDError): void {
    this.protocolErrors.push(err);
    this.check();
  }
  onDrain(): void {
    this.drains++;
    this.check();
  }
  onClose(err?: Error): void {
    this.closes.push(err);
    this.check();
  }

  /** Resolves once `pred` holds (checked on every event). */
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }
}

/** A queue of values pushed by callbacks, awaited one by one. */
export class Queue<T> {
  private items: T[] = [];
  private takers: ((v: T) => void)[] = [];
  push = (v: T): void => {
    const t = this.takers.shift();
    if (t) t(v);
    else this.items.push(v);
  };
  next(): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve) => this.takers.push(resolve));
  }
}
