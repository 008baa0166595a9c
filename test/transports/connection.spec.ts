// The Connection contract, run against both transports. What only one transport does is in
// tcp.spec.ts / ws.spec.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { isSocketDError } from '../../lib/protocol/errors.js';
import type { Connection, ServerTransport, TransportOptions } from '../../lib/session/connection.js';
import {
  dialTcp,
  dialWs,
  messageFrame,
  Queue,
  rawSocket,
  rawWs,
  Recorder,
  runCleanups,
  spyWrites,
  startTcpServer,
  startWsServer,
  upgradeStatus,
  type Started,
} from './helpers.js';

afterEach(runCleanups);

/** A peer that writes raw bytes (a TCP socket, or a ws client sending one message per `send`). */
interface RawPeer {
  send(data: Buffer | string): void;
  /** The bytes of the next whole frame the peer receives. */
  nextFrame(): Promise<Buffer>;
  closed(): Promise<unknown>;
}

interface TransportCase {
  startServer(options?: { maxConnections?: number }): Promise<Started<ServerTransport>>;
  dial(port: number, options?: TransportOptions): Promise<Connection>;
  /** Dials a URL as a configuration writes it (sd: scheme, and for ws a path and query). */
  dialFullUrl(port: number): Promise<Connection>;
  rawPeer(port: number): Promise<RawPeer>;
  /** Input that is a protocol error, and its kind; a valid frame follows it. */
  badInputs: [name: string, input: Buffer | string, kind: 'FRAME_LENGTH' | 'BAD_MESSAGE'][];
  /** Checks that a connection beyond maxConnections is refused. */
  expectRefused(port: number): Promise<void>;
}

const transports: Record<'tcp' | 'ws', TransportCase> = {
  tcp: {
    startServer: startTcpServer,
    dial: dialTcp,
    dialFullUrl: (port) => dialTcp(port),
    async rawPeer(port) {
      const socket = await rawSocket(port);
      const chunks = new Queue<Buffer>();
      socket.on('data', chunks.push);
      let pending = Buffer.alloc(0);
      return {
        send: (data) => socket.write(data),
        async nextFrame() {
          while (pending.length < 4 || pending.length < pending.readInt32BE(0)) pending = Buffer.concat([pending, await chunks.next()]);
          const frame = pending.subarray(0, pending.readInt32BE(0));
          pending = pending.subarray(frame.length);
          return frame;
        },
        closed: () => once(socket, 'close'),
      };
    },
    badInputs: [
      ['a bad length prefix ff ff ff ff', Buffer.from('ffffffff0000002800000000', 'hex'), 'FRAME_LENGTH'],
      ['a bad length prefix 7f ff ff ff', Buffer.from('7fffffff0000002800000000', 'hex'), 'FRAME_LENGTH'],
      ['a bad length prefix 00 00 00 05', Buffer.from('000000050000002800000000', 'hex'), 'FRAME_LENGTH'],
    ],
    async expectRefused(port) {
      await once(await rawSocket(port), 'close');
    },
  },
  ws: {
    startServer: startWsServer,
    dial: (port, options) => dialWs(`ws://127.0.0.1:${port}`, options),
    dialFullUrl: (port) => dialWs(`sd:ws://127.0.0.1:${port}/path?u=a`),
    async rawPeer(port) {
      const ws = await rawWs(port);
      const messages = new Queue<Buffer>();
      ws.on('message', (d) => messages.push(d as Buffer));
      return { send: (data) => ws.send(data), nextFrame: () => messages.next(), closed: () => once(ws, 'close') };
    },
    badInputs: [
      ['a text message', 'hello', 'BAD_MESSAGE'],
      ['two frames in one message', Buffer.concat([messageFrame(1), messageFrame(2)]), 'BAD_MESSAGE'],
      ['a truncated frame', messageFrame(1).subarray(0, 12), 'BAD_MESSAGE'],
      ['length ff ff ff ff', Buffer.from('ffffffff00000028', 'hex'), 'FRAME_LENGTH'],
      ['length 7f ff ff ff', Buffer.from('7fffffff00000028', 'hex'), 'FRAME_LENGTH'],
      ['3 bytes', Buffer.from('000000', 'hex'), 'BAD_MESSAGE'],
    ],
    async expectRefused(port) {
      expect(await upgradeStatus(port, '/', ['Socket.D'])).toBe(503);
    },
  },
};

describe.each(['tcp', 'ws'] as const)('%s Connection', (name) => {
  const t = transports[name];

  it('delivers many small frames written in one tick, whole and in order, both ways', async () => {
    const { port, accepted } = await t.startServer();
    const client = await t.dialFullUrl(port);
    const server = await accepted.next();
    const atServer = new Recorder(server);
    const atClient = new Recorder(client);
    expect(client.remoteAddress).toBe(`127.0.0.1:${port}`);
    expect(server.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    const n = 5000;
    let ok = 0;
    for (let i = 0; i < n; i++) if (client.write(messageFrame(i))) ok++;
    expect(ok).toBe(n);
    for (let i = 0; i < n; i++) server.write(messageFrame(i));
    await atServer.until(() => atServer.frames.length === n);
    await atClient.until(() => atClient.frames.length === n);
    const expected = Array.from({ length: n }, (_, i) => `${i}|/e|k=v|payload-${i}`);
    for (const rec of [atServer, atClient]) {
      expect(rec.frames.map((f) => `${f.sid}|${f.event}|${f.metaString}|${f.data.toString()}`)).toEqual(expected);
    }
  });

  it('leaves the frames of one tick in one write (corked)', async () => {
    const { port, accepted } = await t.startServer();
    const client = await t.dial(port);
    new Recorder(await accepted.next());
    new Recorder(client);
    const writes = spyWrites(client);
    for (let i = 0; i < 100; i++) client.write(messageFrame(i));
    await new Promise((r) => setImmediate(r));
    expect(writes.calls).toBe(1);
    // tcp: a writev of the 100 frames; ws: the 100 messages framed into one staged chunk.
    expect(writes.chunks).toBe(name === 'tcp' ? 100 : 1);
  });

  it('carries a 16 MiB frame', async () => {
    const { port, accepted } = await t.startServer();
    const client = await t.dial(port);
    const atServer = new Recorder(await accepted.next());
    new Recorder(client);
    const data = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    client.write(messageFrame(1, data));
    client.write(messageFrame(2));
    await atServer.until(() => atServer.frames.length === 2);
    expect(atServer.frames[0]!.data.equals(data)).toBe(true);
    expect(atServer.frames[1]!.sid).toBe('2');
  });

  it('returns false above the high-water mark and calls onDrain once the paused peer resumes', async () => {
    const { port, accepted } = await t.startServer();
    const client = await t.dial(port);
    const server = await accepted.next();
    const atServer = new Recorder(server);
    server.pause();
    const atClient = new Recorder(client);
    const frame = messageFrame(0, Buffer.alloc(64 * 1024));
    let written = 0;
    // Write until backpressure shows; the kernel buffers of both sides absorb a few MiB first.
    while (client.write(frame)) {
      written++;
      if (written % 16 === 0) await new Promise((r) => setImmediate(r));
      expect(written).toBeLessThan(10_000);
    }
    written++;
    expect(client.bufferedAmount).toBeGreaterThan(1024 * 1024);
    expect(client.write(frame)).toBe(false); // still false until drained
    written++;
    expect(atClient.drains).toBe(0);
    server.resume();
    await atClient.until(() => atClient.drains === 1);
    expect(client.bufferedAmount).toBeLessThanOrEqual(1024 * 1024);
    await atServer.until(() => atServer.frames.length === written);
    expect(atClient.drains).toBe(1);
  });

  it.each(t.badInputs)('reports %s as a protocol error (1002) and keeps serving', async (_name, input, kind) => {
    const { port, accepted } = await t.startServer();
    const raw = await t.rawPeer(port);
    const first = await accepted.next();
    const atFirst = new Recorder(first);
    raw.send(input);
    raw.send(messageFrame(9)); // never delivered: decoding stopped
    await atFirst.until(() => atFirst.protocolErrors.length === 1);
    const err = atFirst.protocolErrors[0]!;
    expect(isSocketDError(err, kind)).toBe(true);
    expect(err.closeCode).toBe(1002);
    // The session writes Close 1002 then ends: both must still work after the error.
    expect(first.write(messageFrame(0))).toBe(true);
    first.end();
    expect(first.closed).toBe(true);
    const got = await raw.nextFrame();
    expect(got.readInt32BE(0)).toBe(messageFrame(0).length);
    expect(got.equals(messageFrame(0))).toBe(true);
    await raw.closed();
    await atFirst.until(() => atFirst.closes.length === 1);
    expect(atFirst.protocolErrors).toHaveLength(1);
    expect(atFirst.frames).toHaveLength(0);

    const client = await t.dial(port);
    const atSecond = new Recorder(await accepted.next());
    new Recorder(client);
    client.write(messageFrame(42));
    await atSecond.until(() => atSecond.frames.length === 1);
    expect(atSecond.frames[0]!.sid).toBe('42');
  });

  it('end() flushes, closes (tcp: FIN, ws: close handshake) and reports onClose once on both sides', async () => {
    const { port, accepted } = await t.startServer();
    const client = await t.dial(port);
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    client.write(messageFrame(1));
    client.end();
    expect(client.closed).toBe(true);
    expect(client.write(messageFrame(2))).toBe(false);
    await atServer.until(() => atServer.closes.length === 1);
    await atClient.until(() => atClient.closes.length === 1);
    expect(atServer.frames.map((f) => f.sid)).toEqual(['1']);
    expect(atServer.closes).toEqual([undefined]);
    expect(atClient.closes).toEqual([undefined]);
    client.destroy();
    client.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(atClient.closes).toHaveLength(1);
  });

  it('refuses connections beyond maxConnections (tcp: closes the socket, ws: HTTP 503)', async () => {
    const { port, accepted } = await t.startServer({ maxConnections: 1 });
    await t.dial(port);
    await accepted.next();
    await t.expectRefused(port);
  });

  it('rejects a refused connect with SOCKETD_ERR_TRANSPORT', async () => {
    const { server, port } = await t.startServer();
    await server.close();
    await expect(t.dial(port)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
  });
});
