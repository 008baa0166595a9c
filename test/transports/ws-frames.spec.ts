// The server side of sd:ws frames its WebSocket messages itself (lib/transports/ws-stage.ts):
// what it puts on the wire, read byte by byte by a raw peer and by a plain `ws` client, and its
// backpressure.
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Connection } from '../../lib/session/connection.js';
import { encodeFrameHead } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { WS_COPY_MAX_BYTES, WS_SLAB_BYTES } from '../../lib/transports/ws-stage.js';
import { cleanups, dialWs, listenHttpsWithTestCert, messageFrame, Queue, rawSocket, rawWs, Recorder, runCleanups, startWsServer } from './helpers.js';

afterEach(runCleanups);

/** One WebSocket frame as read off the wire. */
interface WireFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  /** Bytes of the header (2, 4 or 10 unmasked). */
  headerBytes: number;
  payload: Buffer;
}

/**
 * A raw TCP peer that did the WebSocket upgrade by hand and parses what the server sends,
 * frame by frame, without any WebSocket library.
 */
class RawPeer {
  readonly frames = new Queue<WireFrame>();
  private pending: Buffer = Buffer.alloc(0);
  /** Every frame-length field that was not in its shortest form, as `length/headerBytes`. */
  readonly nonMinimal: string[] = [];

  constructor(readonly socket: Socket, rest: Buffer) {
    socket.on('data', (b: Buffer) => this.push(b));
    this.push(rest);
  }

  static async open(port: number): Promise<RawPeer> {
    const s = await rawSocket(port);
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Socket.D\r\n\r\n');
    let got = Buffer.alloc(0);
    while (got.indexOf('\r\n\r\n') === -1) got = Buffer.concat([got, ((await new Promise<Buffer>((r) => s.once('data', r))))]);
    const end = got.indexOf('\r\n\r\n') + 4;
    const head = got.subarray(0, end).toString('latin1');
    expect(head.startsWith('HTTP/1.1 101')).toBe(true);
    expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    return new RawPeer(s, got.subarray(end));
  }

  /** Sends a masked frame, as a client must (RFC 6455 5.3). */
  send(opcode: number, payload: Buffer = Buffer.alloc(0)): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
    expect(payload.length).toBeLessThan(126);
    this.socket.write(Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]));
  }

  private push(b: Buffer): void {
    this.pending = this.pending.length === 0 ? b : Buffer.concat([this.pending, b]);
    for (;;) {
      const p = this.pending;
      if (p.length < 2) return;
      const masked = (p[1]! & 0x80) !== 0;
      let length = p[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (p.length < 4) return;
        length = p.readUInt16BE(2);
        if (length < 126) this.nonMinimal.push(`${length}/4`);
        at = 4;
      } else if (length === 127) {
        if (p.length < 10) return;
        expect(p[2]! & 0x80).toBe(0); // the most significant bit must be 0
        length = p.readUInt32BE(2) * 0x1_0000_0000 + p.readUInt32BE(6);
        if (length < 65536) this.nonMinimal.push(`${length}/10`);
        at = 10;
      }
      if (masked) at += 4;
      if (p.length < at + length) return;
      this.frames.push({ fin: (p[0]! & 0x80) !== 0, opcode: p[0]! & 0x0f, masked, headerBytes: at, payload: Buffer.from(p.subarray(at, at + length)) });
      this.pending = p.subarray(at + length);
    }
  }
}

/** A Message frame of exactly `total` bytes (the WebSocket payload length). */
function frameOfLength(i: number, total: number): Buffer {
  const overhead = messageFrame(i, Buffer.alloc(0)).length;
  const f = messageFrame(i, randomBytes(total - overhead));
  expect(f.length).toBe(total);
  return f;
}

/** Shortest header for a payload of `n` bytes, unmasked. */
function headerBytes(n: number): number {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

async function serverWithRawPeer(options = {}): Promise<{ server: Connection; peer: RawPeer }> {
  const { port, accepted } = await startWsServer(options);
  const peer = await RawPeer.open(port);
  return { server: await accepted.next(), peer };
}

/** Reads one data frame per `expected` and checks each is exactly that frame as one final, unmasked binary message in the shortest header form. */
async function expectMessages(peer: RawPeer, expected: Buffer[]): Promise<void> {
  for (let i = 0; i < expected.length; i++) {
    const f = await peer.frames.next();
    const want = expected[i]!;
    // Checked by hand, expect() only on a mismatch: some tests read 100k messages.
    if (!f.fin || f.opcode !== 2 || f.masked || f.headerBytes !== headerBytes(want.length) || !f.payload.equals(want)) {
      expect({ i, fin: f.fin, opcode: f.opcode, masked: f.masked, headerBytes: f.headerBytes, length: f.payload.length })
        .toEqual({ i, fin: true, opcode: 2, masked: false, headerBytes: headerBytes(want.length), length: want.length });
      throw new Error(`message ${i} (${want.length} bytes) differs from the frame written`);
    }
  }
  expect(peer.nonMinimal).toEqual([]);
}

// Lengths at each header form's limits (125 | 126, 65535 | 65536), at the copy limit, and
// frames that fill and cross the 64 KiB slabs.
const LENGTHS = [
  40, 125, 126, 127, 1000, WS_COPY_MAX_BYTES, WS_COPY_MAX_BYTES + 1, 65535, 65536, 65537, WS_SLAB_BYTES - 2, WS_SLAB_BYTES - 4,
  200_000,
];

describe('sd:ws server frames', () => {
  it('are RFC 6455 binary messages byte for byte, in the shortest header form, at every length boundary', async () => {
    const { server, peer } = await serverWithRawPeer();
    new Recorder(server);
    const frames = LENGTHS.map((n, i) => frameOfLength(i, n));
    // All in one tick (one cork), then again one per tick.
    for (const f of frames) expect(server.write(f)).toBe(true);
    await expectMessages(peer, frames);
    for (const f of frames) {
      server.write(f);
      await new Promise((r) => setImmediate(r));
    }
    await expectMessages(peer, frames);
  });

  it('carry writeParts() head + data as one message, small and large, in order with whole frames', async () => {
    const { server, peer } = await serverWithRawPeer();
    new Recorder(server);
    const expected: Buffer[] = [];
    for (const [i, n] of [[1, 10], [2, 200], [3, 70_000], [4, 1024 * 1024 + 3]] as const) {
      const data = randomBytes(n);
      const head = encodeFrameHead({ flag: Flags.Message, sid: String(i), event: '/e', metaString: 'k=v', data });
      server.writeParts(head, data);
      server.write(messageFrame(i));
      expected.push(Buffer.concat([head, data]), messageFrame(i));
    }
    await expectMessages(peer, expected);
  });

  it('leave thousands of small frames of one tick whole and in order across slabs', async () => {
    const { server, peer } = await serverWithRawPeer();
    new Recorder(server);
    const frames = Array.from({ length: 6000 }, (_, i) => messageFrame(i)); // ~270 KB: several slabs
    for (const f of frames) server.write(f);
    await expectMessages(peer, frames);
  });

  it('are read by a plain ws client as the same binary messages', async () => {
    const { port, accepted } = await startWsServer();
    const ws: WebSocket = await rawWs(port);
    const messages = new Queue<Buffer>();
    ws.on('message', (d, isBinary) => {
      expect(isBinary).toBe(true);
      messages.push(d as Buffer);
    });
    const server = await accepted.next();
    new Recorder(server);
    const frames = [...LENGTHS.map((n, i) => frameOfLength(i, n)), ...Array.from({ length: 3000 }, (_, i) => messageFrame(i))];
    for (const f of frames) server.write(f);
    for (let i = 0; i < frames.length; i++) expect((await messages.next()).equals(frames[i]!)).toBe(true);
  });

  it('go before the control frames that follow them (pong, close)', async () => {
    const { server, peer } = await serverWithRawPeer();
    new Recorder(server);
    server.write(messageFrame(1));
    server.write(messageFrame(2));
    await expectMessages(peer, [messageFrame(1), messageFrame(2)]);

    // The peer pings while messages are staged: the pong follows them.
    server.write(messageFrame(3));
    peer.send(9, Buffer.from('q'));
    await expectMessages(peer, [messageFrame(3)]);
    const pong = await peer.frames.next();
    expect(pong).toMatchObject({ opcode: 10, masked: false, payload: Buffer.from('q') });

    // end() in the same tick as writes: every message, then the close frame (1000).
    for (let i = 4; i < 100; i++) server.write(messageFrame(i));
    server.end();
    await expectMessages(peer, Array.from({ length: 96 }, (_, k) => messageFrame(k + 4)));
    const close = await peer.frames.next();
    expect(close.opcode).toBe(8);
    expect(close.payload.readUInt16BE(0)).toBe(1000);
  });

  it('count in bufferedAmount while staged, header bytes included', async () => {
    const { server } = await serverWithRawPeer();
    new Recorder(server);
    const frames = [messageFrame(1), frameOfLength(2, 300), frameOfLength(3, 2000)];
    let wire = 0;
    for (const f of frames) {
      server.write(f);
      wire += headerBytes(f.length) + f.length;
      expect(server.bufferedAmount).toBe(wire);
    }
  });
});

/** Resolves true once `rec` has seen `drains` drains, false after `ms` without. */
function drainWithin(rec: Recorder, drains: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void rec.until(() => rec.drains >= drains).then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('sd:ws server backpressure', () => {
  // Below the socket's own high-water mark (16 KiB: the drain comes from a write callback),
  // above it, and the default 1 MiB.
  it.each([4 * 1024, 20 * 1024, 1024 * 1024])('highWaterMark %d: write() is false exactly above it (staged bytes counted), each false gets one onDrain, a peer that stops reading stops the drains, nothing is lost', async (highWaterMark) => {
    const { server, peer } = await serverWithRawPeer({ highWaterMark });
    const rec = new Recorder(server);
    peer.socket.pause();
    const frames: Buffer[] = [];
    let falses = 0;
    let stalled = false;
    for (let i = 0; !stalled; i++) {
      const f = messageFrame(i, Buffer.alloc(50 + (i % 7) * 300, i & 0xff));
      frames.push(f);
      const before = server.bufferedAmount;
      const ok = server.write(f);
      expect(ok).toBe(before + f.length <= highWaterMark);
      if (!ok) {
        falses++;
        // Drains while the kernel takes the bytes; once its buffers are full, none comes.
        stalled = !(await drainWithin(rec, falses, 300));
        if (!stalled) expect(server.bufferedAmount).toBeLessThanOrEqual(highWaterMark);
      }
      expect(i).toBeLessThan(200_000); // ~200 MB: the kernel buffers are far smaller
    }
    expect(rec.drains).toBe(falses - 1);
    expect(server.write(messageFrame(-1))).toBe(false); // still false until drained
    frames.push(messageFrame(-1));
    peer.socket.resume();
    await rec.until(() => rec.drains === falses);
    await expectMessages(peer, frames);
    expect(rec.drains).toBe(falses);
    expect(server.bufferedAmount).toBe(0);
  });

  it('a producer writing until false and resuming on drain delivers 100k frames whole and in order', async () => {
    const { server, peer } = await serverWithRawPeer();
    const rec = new Recorder(server);
    const frames = Array.from({ length: 100_000 }, (_, k) => messageFrame(k));
    const received = expectMessages(peer, frames);
    let falses = 0;
    for (const f of frames) {
      if (server.write(f)) continue;
      falses++;
      await rec.until(() => rec.drains === falses);
    }
    await received;
    expect(rec.drains).toBe(falses);
  });
});

describe('sd:wss server frames', () => {
  it('travel whole and in order over TLS under backpressure, small and large (the slabs are reused as TLS takes them)', async () => {
    const { https, cert } = await listenHttpsWithTestCert();
    const { port, accepted } = await startWsServer({ httpServer: https });
    const client = await dialWs(`sd:wss://127.0.0.1:${port}/`, { tls: { ca: cert } });
    const server = await accepted.next();
    const atServer = new Recorder(server);
    const atClient = new Recorder(client);
    const big = randomBytes(300_000);
    const head = encodeFrameHead({ flag: Flags.Message, sid: 'big', event: '/e', metaString: '', data: big });
    const n = 60_000;
    let falses = 0;
    for (let i = 0; i < n; i++) {
      const ok = i % 10_000 === 5_000 ? server.writeParts(head, big) : server.write(messageFrame(i));
      if (!ok) {
        falses++;
        await atServer.until(() => atServer.drains === falses);
      }
    }
    await atClient.until(() => atClient.frames.length === n);
    atClient.frames.forEach((f, i) => {
      if (i % 10_000 === 5_000) {
        if (f.sid !== 'big' || !f.data.equals(big)) throw new Error(`frame ${i}: the large frame differs`);
      } else if (f.sid !== String(i) || f.data.toString() !== `payload-${i}`) throw new Error(`frame ${i} differs: ${f.sid}`);
    });
    expect(falses).toBeGreaterThan(0);
  });
});
