import { afterEach, describe, expect, it } from '@jest/globals';
import { Flags, type Flag } from '../../lib/protocol/index.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { PARTIAL_MESSAGE_OVERHEAD } from '../../lib/session/message-router.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { Clients, SCHEMAS, deferred, startServer, until } from '../support/engine.js';
import { MemoryLogger, RawPeer, connectFrame, frameBytes } from './raw-peer.js';

const sidOf = (i: number) => `s${String(i).padStart(31, '0')}`;
/** First fragment of a Request declaring 2 bytes and carrying 1: it stays partial. */
const firstFragment = (i: number, flag: Flag = Flags.Request) => frameBytes(flag, sidOf(i), '/up', 'Data-Length=2&Data-Fragment-Idx=1', 'a');
const ping = frameBytes(Flags.Ping, '', '');

/** Sends a Ping and waits for its Pong: the server has handled everything sent before. */
async function roundTrip(peer: RawPeer): Promise<void> {
  const before = peer.frames.filter((f) => f.flag === Flags.Pong).length;
  peer.write(ping);
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (peer.frames.filter((f) => f.flag === Flags.Pong).length > before) resolve();
      else if (peer.socket.destroyed) reject(new Error('closed before the Pong'));
      else setTimeout(check, 5);
    };
    check();
  });
}

describe('limits on what a peer may start', () => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it('tcp: partial fragmented messages count against maxInboundStreams; the first one past it closes with 1002', async () => {
    const logger = new MemoryLogger();
    const { server, port } = await startServer('tcp', { maxInboundStreams: 10, logger, onMessage() {} });
    const peer = await RawPeer.open(port);
    // 4 unanswered Requests and 6 partial messages (Request, Subscribe, Message alike) fill the 10.
    for (let i = 0; i < 4; i++) peer.write(frameBytes(Flags.Request, sidOf(100 + i), '/never'));
    for (let i = 0; i < 6; i++) peer.write(firstFragment(i, [Flags.Request, Flags.Subscribe, Flags.Message][i % 3]!));
    // A later fragment of an open partial message starts nothing new.
    peer.write(frameBytes(Flags.Request, sidOf(0), '/up', 'Data-Fragment-Idx=2', ''));
    await roundTrip(peer);
    expect([...server.sessions][0]!.state).toBe('open');
    peer.write(firstFragment(6));
    expect(await peer.closeCode()).toBe('code=1002');
    expect(logger.has('warn', /TOO_MANY_STREAMS/)).toBe(true);
    await server.close();
  });

  it('tcp: Requests our handler leaves unanswered fill OUR budget: the one past maxInboundStreams gets an Alarm (one warning), the session stays, and answering frees room', async () => {
    const logger = new MemoryLogger();
    const held: ReceivedMessage[] = [];
    const { server, port } = await startServer('tcp', { maxInboundStreams: 10, logger, onMessage: (_s, m) => { held.push(m); } });
    const peer = await RawPeer.open(port);
    // An upstream-like peer: it never cancels; our handler never answers.
    for (let i = 0; i < 10; i++) peer.write(frameBytes(Flags.Request, sidOf(200 + i), '/never'));
    for (let i = 0; i < 3; i++) peer.write(frameBytes(i === 1 ? Flags.Subscribe : Flags.Request, sidOf(300 + i), '/more'));
    // (A Ping right behind them would get no Pong: the engine skips Pongs while bytes are queued.)
    await peer.next((f) => f.flag === Flags.Alarm && f.sid === sidOf(302));
    const alarms = peer.frames.filter((f) => f.flag === Flags.Alarm);
    expect(alarms.map((f) => f.sid)).toEqual([sidOf(300), sidOf(301), sidOf(302)]);
    expect(alarms[0]!.data.toString()).toMatch(/'\/more' refused: 10 requests are already unanswered here \(maxInboundStreams\)/);
    const session = [...server.sessions][0]!;
    expect(session.state).toBe('open');
    expect(held).toHaveLength(10);
    expect(logger.lines.filter((l) => /still unanswered by local handlers/.test(l))).toHaveLength(1);
    expect(logger.has('warn', /TOO_MANY_STREAMS/)).toBe(false);
    // Answering one frees one place: the next Request reaches the handler.
    session.replyEnd(held[0]!, 'done');
    peer.write(frameBytes(Flags.Request, sidOf(400), '/again'));
    await until(() => held.some((m) => m.event === '/again'), 20_000, 'the Request after an answer');
    expect(peer.frames.some((f) => f.flag === Flags.Alarm && f.sid === sidOf(400))).toBe(false);
    peer.destroy();
    await server.close();
  });

  it('tcp: each partial message costs its declared bytes plus 1 KiB against maxPendingFragmentBytes; past it the Request gets an Alarm and the connection stays', async () => {
    const logger = new MemoryLogger();
    const { server, port } = await startServer('tcp', {
      maxPendingFragmentBytes: 10 * (2 + PARTIAL_MESSAGE_OVERHEAD),
      logger,
      onMessage: (s: Session, m: ReceivedMessage) => s.replyEnd(m, `got ${m.data.length}`),
    });
    const peer = await RawPeer.open(port);
    for (let i = 0; i < 10; i++) peer.write(firstFragment(i));
    await roundTrip(peer);
    expect(peer.frames.some((f) => f.flag === Flags.Alarm)).toBe(false);
    peer.write(firstFragment(10));
    const alarm = await peer.next((f) => f.flag === Flags.Alarm);
    expect(alarm.sid).toBe(sidOf(10));
    expect(alarm.data.toString()).toMatch(/over maxPendingFragmentBytes|over maxPendingBytes/);
    // Its second fragment is dropped without complaint; the others still complete.
    peer.write(frameBytes(Flags.Request, sidOf(10), '/up', 'Data-Fragment-Idx=2', 'b'));
    peer.write(frameBytes(Flags.Request, sidOf(3), '/up', 'Data-Fragment-Idx=2', 'b'));
    const end = await peer.next((f) => f.flag === Flags.ReplyEnd);
    expect([end.sid, end.data.toString()]).toEqual([sidOf(3), 'got 2']);
    await roundTrip(peer);
    expect(peer.frames.filter((f) => f.flag === Flags.Alarm)).toHaveLength(1);
    peer.destroy();
    await server.close();
  });

  it('tcp: Close 1002 as soon as a frame carries a 00 byte in its sid or event, before or after the handshake', async () => {
    const { server, port } = await startServer('tcp', { logger: false, onMessage: (s: Session, m: ReceivedMessage) => s.replyEnd(m, 'x') });
    const withNul = (buf: Buffer, marker: string) => {
      buf[buf.indexOf(marker)] = 0;
      return buf;
    };
    const started = Date.now();
    // A Connect whose sid holds 00: its Connack could never be encoded.
    const early = await RawPeer.open(port, false);
    early.write(withNul(connectFrame(port), 'aaaa'));
    expect(await early.closeCode()).toBe('code=1002');
    // A Request whose sid, then one whose event, holds 00.
    for (const [sid, event] of [[`s#${'0'.repeat(30)}`, '/x'], [sidOf(1), '/#x']] as const) {
      const peer = await RawPeer.open(port);
      peer.write(withNul(frameBytes(Flags.Request, sid, event), '#'));
      expect(await peer.closeCode()).toBe('code=1002');
    }
    expect(Date.now() - started).toBeLessThan(8_000); // not the 10 s handshake timeout
    await server.close();
  });

  it('tcp: a Connack that cannot be encoded closes the connection with 1002 (sync and async onHandshake)', async () => {
    for (const sync of [true, false]) {
      const logger = new MemoryLogger();
      const tooLong = (outMetas: Record<string, string>) => { outMetas.big = 'x'.repeat(5000); return true; };
      const { server, port } = await startServer('tcp', {
        logger,
        onHandshake: sync ? (_h, outMetas) => tooLong(outMetas) : async (_h, outMetas) => tooLong(outMetas),
      });
      const peer = await RawPeer.open(port, false);
      peer.write(connectFrame(port));
      expect(await peer.closeCode()).toBe('code=1002');
      expect(logger.has('error', /Connack failed: metaString is \d+ bytes/)).toBe(true);
      await server.close();
    }
  });

  describe.each(SCHEMAS)('over sd:%s', (schema) => {
    it('a fragmented message over maxMessageSize is answered and skipped; the connection stays open', async () => {
      const messages: string[] = [];
      const logger = new MemoryLogger();
      const { server, url } = await startServer(schema, {
        maxMessageSize: 4096,
        logger,
        onMessage(s: Session, m: ReceivedMessage) {
          if (m.event === '/note') messages.push(`${m.data.length}`);
          else if (m.event === '/notes') s.replyEnd(m, messages.join(','));
          else if (m.event === '/big-reply') s.replyEnd(m, Buffer.alloc(20_000));
          else s.replyEnd(m, `got ${m.data.length}`);
        },
      });
      const client = await clients.open(url, { fragmentSize: 1024, logger: false });
      const big = Buffer.alloc(10_000, 1);
      // Request and Subscribe: an Alarm on their sid.
      const requestErr = await client.request('/up', big).catch((e) => e);
      expect(isSocketDError(requestErr, 'ALARM')).toBe(true);
      expect(requestErr.message).toMatch(/10000 bytes exceeds maxMessageSize 4096/);
      const subErr = deferred<Error>();
      await client.subscribe('/up', big, { next() {}, complete() {}, error: subErr.resolve });
      expect((await subErr.promise).message).toMatch(/exceeds maxMessageSize/);
      // Message: dropped and logged.
      await client.send('/note', big);
      await client.send('/note', 'small');
      expect((await client.request('/notes')).dataAsString()).toBe('5');
      expect(logger.has('warn', /Message '\/note' .* dropped/)).toBe(true);
      // Still the same connection, still serving.
      expect((await client.request('/up', Buffer.alloc(4096))).dataAsString()).toBe('got 4096');
      expect(server.sessions.size).toBe(1);
      await server.close();
    });

    it('a fragmented Reply over the requester\'s maxMessageSize fails that request and cancels it at the responder', async () => {
      const cancelled = deferred();
      const { server, url } = await startServer(schema, {
        fragmentSize: 1024,
        logger: false,
        onMessage(s: Session, m: ReceivedMessage) {
          if (m.event === '/big') {
            m.onCancel(() => cancelled.resolve());
            s.reply(m, Buffer.alloc(20_000));
          } else {
            s.replyEnd(m, 'fine');
          }
        },
      });
      const client = await clients.open(url, { maxMessageSize: 4096, logger: false });
      const errs = deferred<Error>();
      await client.subscribe('/big', undefined, { next() {}, complete() {}, error: errs.resolve });
      expect(isSocketDError(await errs.promise, 'MESSAGE_TOO_LARGE')).toBe(true);
      await cancelled.promise;
      expect((await client.request('/ok')).dataAsString()).toBe('fine');
      await server.close();
    });
  });
});
