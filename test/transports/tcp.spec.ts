import { afterEach, describe, expect, it } from '@jest/globals';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { TcpClientTransport, TcpServerTransport } from '../../lib/transports/tcp-transport.js';
import { parseUrl } from '../../lib/transports/url.js';
import type { Connection } from '../../lib/transports/transport.js';
import { messageFrame, Queue, Recorder } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startServer(options = {}): Promise<{ server: TcpServerTransport; port: number; accepted: Queue<Connection> }> {
  const server = new TcpServerTransport('127.0.0.1', 0, options);
  const accepted = new Queue<Connection>();
  await server.listen((c) => {
    cleanups.push(() => c.destroy());
    accepted.push(c);
  });
  cleanups.push(() => server.close());
  return { server, port: server.address()!.port, accepted };
}

async function dial(port: number, options = {}): Promise<Connection> {
  const c = await new TcpClientTransport().connect(parseUrl(`sd:tcp://127.0.0.1:${port}`), { connectTimeout: 5000, ...options });
  cleanups.push(() => c.destroy());
  return c;
}

async function rawSocket(port: number): Promise<Socket> {
  const s = netConnect({ host: '127.0.0.1', port });
  cleanups.push(() => s.destroy());
  await once(s, 'connect');
  return s;
}

describe('TcpServerTransport / TcpClientTransport', () => {
  it('binds a random port and reports it', async () => {
    const { server, port } = await startServer();
    expect(port).toBeGreaterThan(0);
    expect(server.address()).toEqual({ host: '127.0.0.1', port });
  });

  it('delivers many small frames written in one tick, whole and in order, both ways', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
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
    const raw = createServer();
    cleanups.push(() => raw.close());
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const port = (raw.address() as { port: number }).port;
    const connection = once(raw, 'connection');
    const client = await dial(port);
    const [peer] = (await connection) as [Socket];
    cleanups.push(() => peer.destroy());
    new Recorder(client);
    const writev = jestSpyWritev(client);
    for (let i = 0; i < 100; i++) client.write(messageFrame(i));
    await new Promise((r) => setImmediate(r));
    expect(writev.calls).toBe(1);
    expect(writev.chunks).toBe(100);
  });

  it('carries a 16 MiB frame', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
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

  it('decodes a frame split over many writes of a raw socket', async () => {
    const { port, accepted } = await startServer();
    const raw = await rawSocket(port);
    const atServer = new Recorder(await accepted.next());
    const bytes = Buffer.concat([messageFrame(7, Buffer.from('split me please')), messageFrame(8)]);
    for (let i = 0; i < bytes.length; i += 3) {
      await new Promise<void>((resolve, reject) => raw.write(bytes.subarray(i, i + 3), (e) => (e ? reject(e) : resolve())));
    }
    await atServer.until(() => atServer.frames.length === 2);
    expect(atServer.frames[0]!.data.toString()).toBe('split me please');
    expect(atServer.frames[1]!.sid).toBe('8');
  });

  it('holds frames received before setHandlers', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
    new Recorder(client);
    for (let i = 0; i < 10; i++) client.write(messageFrame(i));
    const server = await accepted.next();
    // Let the frames reach the server before it attaches its handlers.
    await new Promise((r) => setTimeout(r, 50));
    const atServer = new Recorder(server);
    await atServer.until(() => atServer.frames.length === 10);
    expect(atServer.frames.map((f) => f.sid)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('returns false above the high-water mark and calls onDrain once the paused peer resumes', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
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

  it('calls onDrain with a high-water mark below the socket\'s own', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port, { highWaterMark: 100 });
    new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    expect(client.write(messageFrame(0, Buffer.alloc(50)))).toBe(true);
    expect(client.write(messageFrame(1, Buffer.alloc(50)))).toBe(false);
    await atClient.until(() => atClient.drains === 1);
    expect(client.write(messageFrame(2))).toBe(true);
  });

  it.each([
    ['ff ff ff ff', 'ffffffff'],
    ['7f ff ff ff', '7fffffff'],
    ['00 00 00 05', '00000005'],
  ])('reports a bad length prefix %s as a protocol error and keeps serving', async (_name, hex) => {
    const { port, accepted } = await startServer();
    const raw = await rawSocket(port);
    const first = await accepted.next();
    const atFirst = new Recorder(first);
    raw.write(Buffer.from(hex + '0000002800000000', 'hex'));
    await atFirst.until(() => atFirst.protocolErrors.length === 1);
    const err = atFirst.protocolErrors[0]!;
    expect(isSocketDError(err, 'FRAME_LENGTH')).toBe(true);
    expect(err.closeCode).toBe(1002);
    // The session writes Close 1002 then ends: both must still work after the error.
    expect(first.write(messageFrame(0))).toBe(true);
    first.end();
    expect(first.closed).toBe(true);
    const rawGot = new Queue<Buffer>();
    raw.on('data', rawGot.push);
    expect((await rawGot.next()).readInt32BE(0)).toBe(messageFrame(0).length);
    await once(raw, 'close');
    await atFirst.until(() => atFirst.closes.length === 1);
    expect(atFirst.protocolErrors).toHaveLength(1);
    expect(atFirst.frames).toHaveLength(0);

    const client = await dial(port);
    const atSecond = new Recorder(await accepted.next());
    new Recorder(client);
    client.write(messageFrame(42));
    await atSecond.until(() => atSecond.frames.length === 1);
    expect(atSecond.frames[0]!.sid).toBe('42');
  });

  it('end() flushes, sends FIN and reports onClose once on both sides', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
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

  it('end() destroys the socket after endTimeout when the peer never closes', async () => {
    const raw: Server = createServer({ allowHalfOpen: true }, (s) => {
      cleanups.push(() => s.destroy());
      s.resume(); // reads our FIN but never ends its side
    });
    cleanups.push(() => raw.close());
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const client = await dial((raw.address() as { port: number }).port, { endTimeout: 200 });
    const atClient = new Recorder(client);
    const started = Date.now();
    client.end();
    await atClient.until(() => atClient.closes.length === 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('destroy(err) reports that error', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    const boom = new Error('boom');
    client.destroy(boom);
    await atClient.until(() => atClient.closes.length === 1);
    expect(atClient.closes[0]).toBe(boom);
    await atServer.until(() => atServer.closes.length === 1);
  });

  it('refuses sockets beyond maxConnections', async () => {
    const { port, accepted } = await startServer({ maxConnections: 1 });
    await dial(port);
    await accepted.next();
    const second = await rawSocket(port);
    await once(second, 'close');
  });

  it('rejects a refused connect with SOCKETD_ERR_TRANSPORT', async () => {
    const { server, port } = await startServer();
    await server.close();
    await expect(dial(port)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
  });

  it('close() stops accepting but keeps open connections', async () => {
    const { server, port, accepted } = await startServer();
    const client = await dial(port);
    const atServer = new Recorder(await accepted.next());
    new Recorder(client);
    await server.close();
    client.write(messageFrame(5));
    await atServer.until(() => atServer.frames.length === 1);
    await expect(dial(port)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
  });
});

/** Counts the writev calls of a connection's socket (the socket is private: test-only access). */
function jestSpyWritev(c: Connection): { calls: number; chunks: number } {
  const socket = (c as unknown as { socket: Socket & { _writev(chunks: unknown[], cb: unknown): void } }).socket;
  const stats = { calls: 0, chunks: 0 };
  const orig = socket._writev.bind(socket);
  socket._writev = (chunks, cb) => {
    stats.calls++;
    stats.chunks += chunks.length;
    orig(chunks, cb);
  };
  const origWrite = (socket as unknown as { _write(c: unknown, e: unknown, cb: unknown): void })._write.bind(socket);
  (socket as unknown as { _write(c: unknown, e: unknown, cb: unknown): void })._write = (chunk, enc, cb) => {
    stats.calls++;
    stats.chunks++;
    origWrite(chunk, enc, cb);
  };
  return stats;
}
