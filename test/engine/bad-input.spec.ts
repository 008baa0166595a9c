import { afterEach, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, Flags, FrameDecoder } from '../../lib/protocol/index.js';
import type { Frame } from '../../lib/protocol/index.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { Clients, deferred, startServer, until } from '../support/engine.js';

const echo = {
  onMessage(session: Session, m: ReceivedMessage) {
    session.replyEnd(m, m.data);
  },
};

function connectFrame(port: number): Buffer {
  const url = `tcp://127.0.0.1:${port}/raw`;
  return encodeFrame({ flag: Flags.Connect, sid: 'a'.repeat(32), event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
}

function message(flag: number, event = '/x'): Buffer {
  const frame = encodeFrame({ flag: Flags.Message, sid: 'b'.repeat(32), event, metaString: '', data: Buffer.from('d') });
  frame.writeInt32BE(flag, 4); // the encoder refuses unknown flags, so patch the bytes
  return frame;
}

/** Header of a frame with an arbitrary length and flag (bytes a valid encoder never writes). */
function header(len: number, flag: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(len, 0);
  head.writeInt32BE(flag, 4);
  return Buffer.concat([head, body]);
}

const closeCodeOf = (f: Frame | undefined) => (f?.flag === Flags.Close ? f.metaString : undefined);

/** Writes `bad` on a raw TCP socket (after a handshake unless `handshake` is false); resolves with the frames received until the server closed. */
async function rawTcp(port: number, bad: Buffer, handshake = true): Promise<Frame[]> {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f));
  const socket = net.connect(port, '127.0.0.1');
  const closed = deferred();
  socket.on('data', (chunk) => {
    decoder.push(chunk);
    if (frames.length === 1 && frames[0]!.flag === Flags.Connack) socket.write(bad);
  });
  socket.on('close', () => closed.resolve());
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(handshake ? connectFrame(port) : bad);
  await closed.promise;
  return frames;
}

/** Same over a raw WebSocket: every binary message received until the server closed. */
async function rawWs(port: number, bad: Buffer | string, handshake = true): Promise<Frame[]> {
  const frames: Frame[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${port}/raw`, 'Socket.D');
  const closed = deferred();
  ws.on('message', (data: Buffer) => {
    frames.push(decodeFrame(data));
    if (frames.length === 1 && frames[0]!.flag === Flags.Connack) ws.send(bad);
  });
  ws.on('close', () => closed.resolve());
  ws.on('error', () => undefined);
  await new Promise((r) => ws.once('open', r));
  ws.send(handshake ? connectFrame(port) : bad);
  await closed.promise;
  return frames;
}

const cases: [string, (port: number) => Buffer, boolean][] = [
  ['a length above the 17 MiB limit', () => header(0x7fffffff, Flags.Message), true],
  ['a negative length', () => header(-1, Flags.Message), true],
  ['a field with no terminator', () => header(20, Flags.Message, Buffer.from('abcdefghijkl')), true],
  ['an unknown flag', () => message(99), true],
  ['data before Connect', () => message(Flags.Request), false],
];

describe('bad input closes only the offending connection', () => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it.each(cases)('tcp: %s -> Close 1002', async (_name, bad, handshake) => {
    const { server, port, url } = await startServer('tcp', echo);
    const good = await clients.open(url);
    expect((await good.request('/a', 'before')).dataAsString()).toBe('before');
    const frames = await rawTcp(port, bad(port), handshake);
    expect(frames.map((f) => f.flag)).toEqual(handshake ? [Flags.Connack, Flags.Close] : [Flags.Close]);
    expect(closeCodeOf(frames.at(-1))).toBe('code=1002');
    expect((await good.request('/a', 'after')).dataAsString()).toBe('after');
    expect(server.sessions.size).toBe(1);
    await server.close();
  });

  it.each(cases)('ws: %s -> Close 1002', async (_name, bad, handshake) => {
    const { server, port, url } = await startServer('ws', echo);
    const good = await clients.open(url);
    const frames = await rawWs(port, bad(port), handshake);
    expect(frames.map((f) => f.flag)).toEqual(handshake ? [Flags.Connack, Flags.Close] : [Flags.Close]);
    expect(closeCodeOf(frames.at(-1))).toBe('code=1002');
    expect((await good.request('/a', 'after')).dataAsString()).toBe('after');
    await server.close();
  });

  it('ws: a text message -> Close 1002', async () => {
    const { server, port, url } = await startServer('ws', echo);
    const good = await clients.open(url);
    const frames = await rawWs(port, 'hello');
    expect(closeCodeOf(frames.at(-1))).toBe('code=1002');
    expect((await good.request('/a', 'after')).dataAsString()).toBe('after');
    await server.close();
  });

  it('tcp: a peer that pipelines requests but never reads gets no more answers than the buffer allows', async () => {
    let handled = 0;
    const reply = Buffer.alloc(64 * 1024, 7);
    const { server, port } = await startServer('tcp', {
      onMessage(session, m) {
        handled++;
        session.replyEnd(m, reply);
      },
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.pause(); // never read until told to
    const requests: Buffer[] = [connectFrame(port)];
    for (let i = 0; i < 2000; i++) {
      requests.push(encodeFrame({ flag: Flags.Request, sid: String(i).padStart(32, '0'), event: '/big', metaString: '', data: Buffer.alloc(0) }));
    }
    socket.write(Buffer.concat(requests));
    // Wait until the server stops making progress (its buffer is full and it stopped reading).
    let last = -1;
    await until(() => {
      const stable = handled > 0 && handled === last;
      last = handled;
      return stable;
    }, 20_000, 'the server to stop answering');
    const session = [...server.sessions][0]!;
    // 2000 answers of 64 KiB would be 125 MiB; the server holds about its 1 MiB high-water mark.
    expect(handled).toBeLessThan(2000);
    expect(session.bufferedAmount).toBeLessThan(4 * 1024 * 1024);
    // Reading again releases everything, in order.
    const frames: Frame[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f));
    const all = deferred();
    socket.on('data', (chunk) => {
      decoder.push(chunk);
      if (frames.length === 2001) all.resolve();
    });
    socket.resume();
    await all.promise;
    expect(frames.slice(1).map((f) => Number(f.sid))).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(handled).toBe(2000);
    socket.destroy();
    await server.close();
  });

  it('tcp: a silent connection is dropped by the handshake timeout', async () => {
    const { server, port } = await startServer('tcp', { ...echo, handshakeTimeout: 200 });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const started = Date.now();
    await new Promise((r) => socket.once('close', r));
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await server.close();
  });
});
