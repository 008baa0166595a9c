import { afterEach, describe, expect, it } from '@jest/globals';
import { isSocketDError, SdServer } from '../../lib/engine.js';
import { Clients, SCHEMAS, startServer } from '../support/engine.js';

const MIB = 1024 * 1024;

describe.each(SCHEMAS)('a payload over maxMessageSize fails its own call alone, over %s', (schema) => {
  const clients = new Clients();
  let server: SdServer | undefined;
  afterEach(async () => {
    await clients.closeAll();
    await server?.close();
  });

  it('on the sending side: nothing is sent, the connection and the other calls go on', async () => {
    const received: string[] = [];
    ({ server } = await startServer(schema, {
      logger: false,
      onMessage: (session, message) => {
        received.push(message.event);
        if (message.isRequest) session.replyEnd(message, `got ${message.data.length}`);
      },
    }));
    const url = `sd:${schema}://127.0.0.1:${server.address()!.port}`;
    const client = await clients.open(url, { maxMessageSize: 4 * MIB, logger: false });
    const small = client.request('small', 'x');
    const big = client.request('big', Buffer.alloc(5 * MIB));
    const err = await big.then(() => undefined, (e: unknown) => e);
    expect(isSocketDError(err, 'MESSAGE_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toContain('maxMessageSize');
    expect((await small).dataAsString()).toBe('got 1');
    expect(client.session!.state).toBe('open');
    expect(() => client.session!.send('big-event', Buffer.alloc(5 * MIB))).toThrow(/maxMessageSize/);
    expect((await client.request('after', 'yz')).dataAsString()).toBe('got 2');
    expect(received).toEqual(['small', 'after']);
  });

  it('on the answering side: an answer over the server\'s maxMessageSize fails that request with an Alarm', async () => {
    ({ server } = await startServer(schema, {
      logger: false,
      maxMessageSize: 2 * MIB,
      onMessage: (session, message) => {
        session.replyEnd(message, Buffer.alloc(message.event === 'huge' ? 3 * MIB : 10));
      },
    }));
    const client = await clients.open(`sd:${schema}://127.0.0.1:${server.address()!.port}`, { logger: false });
    const err = await client.request('huge').then(() => undefined, (e: unknown) => e);
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect((err as Error).message).toContain('maxMessageSize');
    expect((await client.request('small')).data.length).toBe(10);
  });
});

describe('an answer that would not fit one datagram over udp', () => {
  const clients = new Clients();
  let server: SdServer | undefined;
  afterEach(async () => {
    await clients.closeAll();
    await server?.close();
  });

  it('fails its request with an Alarm at once (not by the requester\'s timeout); the session goes on', async () => {
    server = await new SdServer('sd:udp://127.0.0.1:0', {
      logger: false,
      onMessage: (session, message) => {
        session.replyEnd(message, Buffer.alloc(message.event === 'huge' ? 3000 : 10));
      },
    }).listen();
    const client = await clients.open(`sd:udp://127.0.0.1:${server.address()!.port}`, { logger: false, requestTimeout: 20_000 });
    const started = Date.now();
    const err = await client.request('huge').then(() => undefined, (e: unknown) => e);
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect((err as Error).message).toContain('does not fit in one datagram');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await client.request('small')).data.length).toBe(10);
  });
});
