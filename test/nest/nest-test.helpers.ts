import { Flags } from '../../lib/protocol/flags.js';
import { InboundMessage } from '../../lib/session/received-message.js';
import type { Metas, ReceivedMessage } from '../../lib/session/types.js';

/** Both transports every Nest test runs over. */
export const KINDS = ['tcp', 'ws'] as const;
export type Kind = (typeof KINDS)[number];

/** Polls `predicate` every 10 ms until it is true; fails after `timeout` ms. */
export async function waitFor(predicate: () => boolean, timeout = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls until `read()` returns the same value over `window` ms (a counter stopped growing). */
export async function waitUntilStable(read: () => number, window = 300, timeout = 20_000): Promise<number> {
  const deadline = Date.now() + timeout;
  let last = read();
  let since = Date.now();
  while (Date.now() - since < window) {
    if (Date.now() > deadline) throw new Error(`value kept changing (last ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return last;
}

/** `promise`, or a rejection naming `what` after `ms` milliseconds. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolver, for handler-side signals. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}


/** What a subscriber's error callback receives (or a marker when the call succeeded). */
export async function errorOf(source: Promise<unknown>): Promise<unknown> {
  try {
    await source;
  } catch (err) {
    return err;
  }
  return 'NO ERROR';
}

/** A received Reply as the engine builds it (a real InboundMessage), for codec tests. */
export function receivedMessage(data: Buffer | string, metas: Metas = {}): ReceivedMessage {
  const metaString = Object.entries(metas).map(([k, v]) => `${k}=${v}`).join('&');
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return new InboundMessage({ flag: Flags.Reply, sid: 's', event: 'e', metaString, data: buf });
}
