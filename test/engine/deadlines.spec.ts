/**
 * Stream deadlines (lib/session/deadlines.ts): one timer per distinct duration instead of one
 * per stream. Requests and Subscribes fail at their own bound, in deadline order, whatever the
 * order they were sent in; a Subscribe's first-answer bound cancels it at the server; settled
 * streams never fire; a bound beyond setTimeout's range does not fire at once.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { isSocketDError, type SocketDError } from '../../lib/protocol/errors.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { Clients, SCHEMAS, deferred, startServer, until } from '../support/engine.js';

/** Streams a session still waits on (the engine session's own counter). */
const pendingOf = (session: Session | undefined) => (session as unknown as { pendingStreams: number }).pendingStreams;

/** '/never' is never answered; '/late' is answered after 300 ms; '/tick' replies every 50 ms, 10 times. */
function serverWith(cancelled: string[]) {
  return {
    logger: false as const,
    onMessage(s: Session, m: ReceivedMessage) {
      m.onCancel(() => cancelled.push(m.event));
      if (m.event === '/late') setTimeout(() => s.replyEnd(m, 'late'), 300);
      if (m.event === '/tick') {
        let n = 0;
        const timer = setInterval(() => {
          if (m.isDone) return clearInterval(timer);
          if (++n < 10) s.reply(m, String(n));
          else {
            clearInterval(timer);
            s.replyEnd(m, 'end');
          }
        }, 50);
      }
    },
  };
}

describe.each(SCHEMAS)('stream deadlines (sd:%s)', (schema) => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it('requests with different timeouts fail in deadline order, not send order, naming their bound', async () => {
    const { url } = await startServer(schema, serverWith([]));
    const client = clients.create(url, { logger: false });
    await client.connect();
    const order: number[] = [];
    const errors: SocketDError[] = [];
    const t0 = performance.now();
    const calls = [900, 300, 600, 300].map((ms) =>
      client.request('/never', undefined, { timeout: ms }).then(
        () => { throw new Error('answered'); },
        (err: SocketDError) => { order.push(ms); errors.push(err); return performance.now() - t0; },
      ));
    const elapsed = await Promise.all(calls);
    expect(order).toEqual([300, 300, 600, 900]);
    for (const err of errors) {
      expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
      expect(err.details).toMatchObject({ bound: 'end', event: '/never' });
    }
    // Never early (timers may round down by a millisecond).
    expect(elapsed[0]).toBeGreaterThanOrEqual(899);
    expect(elapsed[1]).toBeGreaterThanOrEqual(299);
    expect(elapsed[2]).toBeGreaterThanOrEqual(599);
    expect(pendingOf(client.session)).toBe(0);
  });

  it("a Subscribe's firstReplyTimeout cancels it at the server and fails it with bound 'firstReply'", async () => {
    const cancelled: string[] = [];
    const { url } = await startServer(schema, serverWith(cancelled));
    const client = clients.create(url, { logger: false });
    await client.connect();
    const failed = deferred<SocketDError>();
    const t0 = performance.now();
    client.subscribe('/never', undefined, { next() {}, complete() {}, error: (e) => failed.resolve(e as SocketDError) }, { timeout: 60_000, firstReplyTimeout: 200 });
    const err = await failed.promise;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(199);
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    expect(err.details).toMatchObject({ bound: 'firstReply', ms: 200, event: '/never' });
    expect(err.message).toContain('first answer');
    await until(() => cancelled.includes('/never'), 10_000, 'the server to hear the cancel');
    expect(pendingOf(client.session)).toBe(0);
  });

  it('a first answer within firstReplyTimeout lifts that bound: a stream longer than it completes', async () => {
    const { url } = await startServer(schema, serverWith([]));
    const client = clients.create(url, { logger: false });
    await client.connect();
    const items: string[] = [];
    const done = deferred<string>();
    const t0 = performance.now();
    client.subscribe('/tick', undefined, {
      next: (m) => items.push(m.dataAsString()),
      complete: (end) => done.resolve(String(end)),
      error: (e) => done.reject(e),
    }, { timeout: 60_000, firstReplyTimeout: 250 });
    // The ReplyEnd carries 'end': the last value, given to next (complete gets no message then).
    expect(await done.promise).toBe('undefined');
    expect(items).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'end']);
    expect(performance.now() - t0).toBeGreaterThan(250);
  });

  it('answered and cancelled streams never fire; later streams of the same duration still do', async () => {
    const { url } = await startServer(schema, serverWith([]));
    const client = clients.create(url, { logger: false });
    await client.connect();
    const answered = await client.request('/late', undefined, { timeout: 600 });
    expect(answered.dataAsString()).toBe('late');
    const handle = await client.subscribe('/never', undefined, { next() {}, complete() {}, error: () => { throw new Error('a cancelled stream fired'); } }, { timeout: 600 });
    handle.cancel();
    const late = await client.request('/never', undefined, { timeout: 600 }).catch((e: SocketDError) => e);
    expect(isSocketDError(late, 'TIMEOUT')).toBe(true);
    // The answered request's deadline passed during the last one: had it fired, it would have thrown there.
    expect(pendingOf(client.session)).toBe(0);
  });

  it('a timeout beyond setTimeout\'s range (2^31 - 1 ms) does not fire at once', async () => {
    const { url } = await startServer(schema, serverWith([]));
    const client = clients.create(url, { logger: false });
    await client.connect();
    const reply = await client.request('/late', undefined, { timeout: 3_000_000_000 });
    expect(reply.dataAsString()).toBe('late');
  });
});
