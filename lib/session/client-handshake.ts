import { MetaKeys, PROTOCOL_VERSION } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import { appendMetas, serializeMetas } from '../protocol/metas.js';
import { newSid } from '../protocol/sid.js';
import type { FrameWriter } from './frame-writer.js';
import type { Metas } from './types.js';

/** The client side of spec section 6.1: the Connect frame, then the wait for the Connack. */
export class ClientHandshake {
  private waiter: { resolve(): void; reject(err: Error): void } | undefined;

  /** Sends Connect (the link URL as event and data, metas plus `Socket.D`); settles once. */
  start(writer: FrameWriter, linkUrl: string, metas: Metas | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiter = { resolve, reject };
      const metaString = appendMetas(metas ? serializeMetas(metas) : '', { [MetaKeys.VERSION]: PROTOCOL_VERSION });
      writer.writeFrame({ flag: Flags.Connect, sid: newSid(), event: linkUrl, metaString, data: Buffer.from(linkUrl) });
    });
  }

  /** True while a Connect waits for its Connack. */
  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /** The Connack arrived. */
  accepted(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /** Refused, or closed before the Connack (a no-op once settled). */
  failed(err: Error): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }
}
