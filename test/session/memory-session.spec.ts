/**
 * Session unit tests on the in-memory connection pair (lib/transports/memory-pair.ts): no
 * socket, no port, so deadlines, held frames, stream tables and close ordering are tested
 * in milliseconds. The same behaviours are covered over real sockets in test/engine.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { CloseCodes } from '../../lib/protocol/constants.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { isSocketDError, type SocketDError } from '../../lib/protocol/errors.js';
import { resolveSessionOptions } from '../../lib/session/options.js';
import { SocketDSession } from '../../lib/session/session.js';
import type { ReceivedMessage, ServerOptions, Session, SessionListener, SessionOptions } from '../../lib/session/index.js';
import { createMemoryPair, type MemoryConnection, type MemoryPairOptions } from '../../lib/transports/memory-pair.js';
import { deferred, until } from '../support/engine.js';

interface Pair {
  client: SocketDSession;
  server: SocketDSession;
  clientEnd: MemoryConnection;
  serverEnd: MemoryConnection;
}

const open: SocketDSession[] = [];

/** A client and a server session over one in-memory pair, handshaken. */
async function openPair(
  server: SessionListener & Pick<ServerOptions, 'onHandshake'> & SessionOptions = {},
  client: SessionListener & SessionOptions = {},
  pair: MemoryPairOptions = {},
): Promise<Pair> {
  const [clientEnd, serverEnd] = createMemoryPair(pair);
  const serverSession = new SocketDSession(serverEnd, 'server', resolveSessionOptions({ logger: false, ...server }), server, {
    onHandshake: server.onHandshake,
    handshakeTimeout: 10_000,
  });
  const clientSession = new SocketDSession(clientEnd, 'client', resolveSessionOptions({ logger: false, ...client }), client);
  open.push(serverSession, clientSession);
  await clientSession.startClient('mem://local/path?u=a', undefined);
  return { client: clientSession, server: serverSession, clientEnd, serverEnd };
}

/** Lengths of the frames `end` writes from now on. */
function countWrites(end: MemoryConnection): number[] {
  const lengths: number[] = [];
  const write = end.write.bind(end);
  end.write = (frame: Buffer) => { lengths.push(frame.length); return write(frame); };
  return lengths;
}

afterEach(() => {
  for (const session of open.splice(0)) session.close();
});

describe('session on the in-memory pair: handshake and messages', () => {
  it('handshakes, answers a request and delivers a message', async () => {
    const messages: string[] = [];
    const { client } = await openPair({
      onMessage(s, m) {
        if (m.isRequest) s.replyEnd(m, `echo ${m.dataAsString()}`);
        else messages.push(m.event);
      },
    });
    expect(client.state).toBe('open');
    expect(client.handshake.path).toBe('/path');
    const reply = await client.request('/echo', 'hi');
    expect(reply.dataAsString()).toBe('echo hi');
    client.send('/note', 'x');
    await until(() => messages.length === 1, 2000, 'the message');
    expect(messages).toEqual(['/note']);
  });

  it('holds frames sent before the Connack while an async handshake hook runs, then handles them in order', async () => {
    const verdict = deferred();
    const seen: string[] = [];
    const [clientEnd, serverEnd] = createMemoryPair();
    const server = new SocketDSession(serverEnd, 'server', resolveSessionOptions({ logger: false }), {
      onMessage(_s, m) { seen.push(m.event); },
    }, { onHandshake: () => verdict.promise, handshakeTimeout: 10_000 });
    open.push(server);
    // A raw client: Connect followed at once by three messages, before any Connack.
    clientEnd.setHandlers({ onFrame() {}, onProtocolError() {}, onDrain() {}, onClose() {} });
    clientEnd.write(encodeFrame({ flag: Flags.Connect, sid: 'c1', event: 'mem://local/', metaString: 'Socket.D=2.0', data: Buffer.from('mem://local/') }));
    for (const n of [1, 2, 3]) clientEnd.write(encodeFrame({ flag: Flags.Message, sid: `m${n}`, event: `/m${n}`, metaString: '', data: Buffer.alloc(0) }));
    await new Promise((r) => setTimeout(r, 20));
    expect(server.state).toBe('handshaking');
    expect(seen).toEqual([]);
    verdict.resolve();
    await until(() => seen.length === 3, 2000, 'the held messages');
    expect(seen).toEqual(['/m1', '/m2', '/m3']);
  });

  it('closes with 1002 when a raw peer sends a Request before Connect', async () => {
    const [clientEnd, serverEnd] = createMemoryPair();
    const closed = deferred<number>();
    const server = new SocketDSession(serverEnd, 'server', resolveSessionOptions({ logger: false }), {
      onClose(_s, code) { closed.resolve(code); },
    }, { onHandshake: undefined, handshakeTimeout: 10_000 });
    open.push(server);
    clientEnd.setHandlers({ onFrame() {}, onProtocolError() {}, onDrain() {}, onClose() {} });
    clientEnd.write(encodeFrame({ flag: Flags.Request, sid: 'r1', event: '/x', metaString: '', data: Buffer.alloc(0) }));
    expect(await closed.promise).toBe(CloseCodes.ILLEGAL);
  });
});

describe('session on the in-memory pair: deadlines and stream tables', () => {
  it('fails an unanswered request at its own timeout and forgets it', async () => {
    const { client, server } = await openPair({ onMessage() { /* never answers */ } });
    const started = performance.now();
    const err = await client.request('/never', undefined, { timeout: 100 }).catch((e: unknown) => e as SocketDError);
    expect(isSocketDError(err)).toBe(true);
    expect((err as SocketDError).code).toBe('SOCKETD_ERR_TIMEOUT');
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(client.pendingStreams).toBe(0);
    // The timed-out request is cancelled on the wire: the server's table empties too.
    await until(() => server.inboundStreams === 0, 2000, 'the server to forget the request');
  });

  it('tracks a subscription in both tables until its ReplyEnd', async () => {
    let held: ReceivedMessage | undefined;
    const { client, server } = await openPair({ onMessage(_s, m) { held = m; } });
    const items: string[] = [];
    const done = deferred();
    client.subscribe('/feed', undefined, { next: (m) => items.push(m.dataAsString()), complete: () => done.resolve(), error: done.reject });
    await until(() => held !== undefined, 2000, 'the subscribe');
    expect(client.pendingStreams).toBe(1);
    expect(server.inboundStreams).toBe(1);
    server.reply(held!, 'a');
    server.reply(held!, 'b');
    server.replyEnd(held!, 'c');
    await done.promise;
    expect(items).toEqual(['a', 'b', 'c']);
    expect(client.pendingStreams).toBe(0);
    expect(server.inboundStreams).toBe(0);
  });

  it('a cancelled subscription runs the responder onCancel and leaves both tables empty', async () => {
    const cancelled = deferred();
    const { client, server } = await openPair({ onMessage(_s, m) { m.onCancel(() => cancelled.resolve()); } });
    const handle = client.subscribe('/feed', undefined, { next() {}, complete() {}, error() {} });
    await until(() => server.inboundStreams === 1, 2000, 'the subscribe');
    handle.cancel();
    await cancelled.promise;
    expect(client.pendingStreams).toBe(0);
    expect(server.inboundStreams).toBe(0);
  });

  it('a reply delayed by the link past the timeout fails the request and is then an orphan', async () => {
    const orphans: string[] = [];
    const { client } = await openPair(
      { onMessage(s, m) { s.replyEnd(m, 'late'); } },
      { onOrphanReply(_s, m) { orphans.push(m.dataAsString()); } },
      { delayMs: 60 },
    );
    const err = await client.request('/slow', undefined, { timeout: 80 }).catch((e: unknown) => e as SocketDError);
    expect((err as SocketDError).code).toBe('SOCKETD_ERR_TIMEOUT');
    expect(client.pendingStreams).toBe(0);
    await until(() => orphans.length === 1, 2000, 'the late reply');
    expect(orphans).toEqual(['late']);
  });
});

describe('session on the in-memory pair: backpressure and close ordering', () => {
  it('write() reports backpressure while the peer does not read, drain() resolves once it reads', async () => {
    const { client, serverEnd } = await openPair({ onMessage() {} }, { highWaterMark: 4096 }, { highWaterMark: 4096 });
    serverEnd.pause();
    let accepted = true;
    let sent = 0;
    while (accepted && sent < 100) { accepted = client.send('/bulk', Buffer.alloc(1024)); sent++; }
    expect(accepted).toBe(false);
    expect(client.bufferedAmount).toBeGreaterThan(4096);
    let drained = false;
    const drain = client.drain().then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    serverEnd.resume();
    await drain;
    expect(client.bufferedAmount).toBeLessThanOrEqual(4096);
  });

  it('a server whose peer does not read its answers stops reading requests until it drains', async () => {
    const answered: number[] = [];
    const { client, clientEnd } = await openPair(
      { highWaterMark: 2048, onMessage(s, m) { s.replyEnd(m, Buffer.alloc(1024)); } },
      {},
      { highWaterMark: 2048 },
    );
    clientEnd.pause(); // the client stops reading the answers
    const requests = Array.from({ length: 20 }, (_, n) => client.request('/big', undefined, { timeout: 5000 }).then(() => answered.push(n)));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toEqual([]);
    clientEnd.resume();
    await Promise.all(requests);
    expect(answered).toHaveLength(20);
  });

  it('pauseUntil(): frames wait until the last of two nested holds settles, then are handled in order', async () => {
    const seen: string[] = [];
    const { client, server } = await openPair({ onMessage(_s, m) { seen.push(m.dataAsString()); } });
    const first = deferred<void>();
    const second = deferred<void>();
    server.pauseUntil(first.promise);
    server.pauseUntil(second.promise);
    for (let n = 0; n < 5; n++) client.send('/note', String(n));
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([]);
    first.resolve();
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([]); // one hold still stands
    second.reject(new Error('a rejected hold releases too'));
    await until(() => seen.length === 5);
    expect(seen).toEqual(['0', '1', '2', '3', '4']);
    client.send('/note', 'after'); // reading resumed
    await until(() => seen.length === 6);
    expect(seen[5]).toBe('after');
  });

  it('an async handler fails and its Alarm cannot be written (too large): the session closes with 1002, the caller is not left waiting', async () => {
    const { client, server } = await openPair({
      maxMessageSize: 4096,
      async onMessage() { throw new Error('x'.repeat(10_000)); },
    });
    const closed = deferred<number>();
    server.onClose((code) => closed.resolve(code));
    const err = await client.request('/fails', 'hi', { timeout: 10_000 }).then(() => undefined, (e: SocketDError) => e);
    expect(err?.code).toBe('SOCKETD_ERR_CONNECTION_CLOSED');
    expect(await closed.promise).toBe(CloseCodes.ILLEGAL);
    expect(client.closeCode).toBe(CloseCodes.ILLEGAL);
  });

  it('close(): the peer sees Close 1001 after every frame sent before it, pending streams fail with CONNECTION_CLOSED', async () => {
    const order: string[] = [];
    const serverClosed = deferred<number>();
    const { client } = await openPair({
      onMessage(_s, m) { order.push(m.event); },
      onClose(_s, code) { order.push(`close ${code}`); serverClosed.resolve(code); },
    });
    const pending = client.request('/never', undefined, { timeout: 5000 }).catch((e: unknown) => e as SocketDError);
    client.send('/a');
    client.send('/b');
    client.close();
    expect(client.state).toBe('closed');
    const err = await pending;
    expect((err as SocketDError).code).toBe('SOCKETD_ERR_CONNECTION_CLOSED');
    expect(await serverClosed.promise).toBe(CloseCodes.CLOSE);
    expect(order).toEqual(['/never', '/a', '/b', `close ${CloseCodes.CLOSE}`]);
  });

  it('preclose(): Close 1000 then Ping; resolves on the Pong; the peer is closing and starts nothing new', async () => {
    let serverSide: Session | undefined;
    const closing = deferred();
    const { client, server } = await openPair({ onOpen(s) { serverSide = s; }, onMessage() {} }, { onClosing: () => closing.resolve() });
    await server.preclose();
    await closing.promise;
    expect(server.state).toBe('closing');
    expect(client.state).toBe('closing');
    expect(() => client.send('/late')).toThrow(/closing/);
    expect(serverSide).toBe(server);
  });

  it('a destroyed transport closes both sessions once, with the disconnection code', async () => {
    const codes: number[] = [];
    const { client, clientEnd } = await openPair({ onClose(_s, code) { codes.push(code); } }, { onClose(_s, code) { codes.push(code); } });
    clientEnd.destroy();
    await until(() => codes.length === 2, 2000, 'both closes');
    expect(codes).toEqual([CloseCodes.DISCONNECTION, CloseCodes.DISCONNECTION]);
    expect(client.state).toBe('closed');
  });
});

describe('session on the in-memory pair: capabilities', () => {
  it('over a datagram connection a frame is never fragmented: one over maxFrameSize fails its call alone, nothing sent', async () => {
    const received: number[] = [];
    const { client, clientEnd } = await openPair(
      { fragmentSize: 1024, onMessage(s, m) { received.push(m.data.length); if (m.isRequest) s.replyEnd(m, 'ok'); } },
      { fragmentSize: 1024 },
      { capabilities: { datagram: true, maxFrameSize: 2048 } },
    );
    const writes = countWrites(clientEnd);
    expect(() => client.send('/big', Buffer.alloc(4096))).toThrow(/does not fit in one datagram of maxDatagramSize 2048/);
    // 1500 bytes: above fragmentSize, under the datagram: sent whole, not in fragments.
    expect((await client.request('/fits', Buffer.alloc(1500))).dataAsString()).toBe('ok');
    expect(received).toEqual([1500]);
    expect(writes).toHaveLength(1);
    expect(client.state).toBe('open');
  });

  it('over a stream connection the same message is fragmented and reassembled', async () => {
    const received: number[] = [];
    const { client, clientEnd } = await openPair(
      { fragmentSize: 1024, onMessage(s, m) { received.push(m.data.length); if (m.isRequest) s.replyEnd(m, 'ok'); } },
      { fragmentSize: 1024 },
      { maxFrameSize: 1024 + 512 },
    );
    const writes = countWrites(clientEnd);
    expect((await client.request('/fits', Buffer.alloc(4096))).dataAsString()).toBe('ok');
    expect(received).toEqual([4096]);
    expect(writes).toHaveLength(4);
  });
});
