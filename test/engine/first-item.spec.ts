import { afterEach, describe, expect, it } from '@jest/globals';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { CORK_FIRST_FLUSH_BYTES } from '../../lib/transports/base-connection.js';
import { Clients, SCHEMAS, deferred, startServer } from '../support/engine.js';

/** Replies written by the handler in one synchronous loop (~1 MB: ~250 flushes' worth). */
const LOOP = 20_000;

/** The session's `bufferedAmount` after each reply of a loop that never yields. */
type LoopTrace = number[];

describe.each(SCHEMAS)('engine over %s: the first Reply of a synchronous loop', (schema) => {
  const clients = new Clients();
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await clients.closeAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('leaves for the peer while the loop still runs (bufferedAmount falls after ~4 KiB)', async () => {
    const traced = deferred<LoopTrace>();
    const { server, url } = await startServer(schema, {
      onMessage(session: Session, m: ReceivedMessage) {
        const trace: LoopTrace = [];
        for (let i = 0; i < LOOP; i++) {
          session.reply(m, String(i));
          trace.push(session.bufferedAmount);
        }
        session.replyEnd(m);
        traced.resolve(trace);
      },
    });
    servers.push(server);
    const client = await clients.open(url);
    const items: string[] = [];
    const ended = deferred();
    ended.promise.catch(() => undefined); // awaited below; a failed assertion must not leave it unhandled
    await client.subscribe('/loop', undefined, { next: (r) => items.push(r.dataAsString()), complete: () => ended.resolve(), error: ended.reject });
    const buffered = await traced.promise;

    // Corked for the whole loop, bufferedAmount would only grow until the loop ended. It
    // falls once the first ~4 KiB are flushed to the OS, which on a fresh connection takes
    // them at once: the peer can read the first Reply while the handler is still looping.
    const fell = buffered.findIndex((b, i) => i > 0 && b < buffered[i - 1]!);
    expect(fell).toBeGreaterThan(0);
    expect(fell).toBeLessThan(LOOP);
    // (ws adds a 2-byte header per message to what bufferedAmount counts.)
    expect(Math.max(...buffered.slice(0, fell))).toBeLessThan(2 * CORK_FIRST_FLUSH_BYTES);

    await ended.promise;
    expect(items).toHaveLength(LOOP);
    expect(items.every((d, i) => d === String(i))).toBe(true);
  });
});
