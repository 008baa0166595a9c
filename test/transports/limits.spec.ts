/**
 * Issue 8: no peer can exhaust a server's memory. Every limit of the transports, over real
 * sockets on 127.0.0.1: the write-buffer cap, the decoder's bounded buffering, the frame
 * timeout, the server's budget of partial-frame bytes, connections per server and per
 * address, the WebSocket upgrade inside the handshake timeout, listen-time errors, and
 * Pongs under backpressure.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect as netConnect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EMPTY_BUFFER } from '../../lib/protocol/constants.js';
import { ErrorCodes, type SocketDError } from '../../lib/protocol/errors.js';
import { decodeFrame, encodeFrame } from '../../lib/protocol/frame-codec.js';
import { FrameDecoder } from '../../lib/protocol/frame-decoder.js';
import { Flags } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { SdClient, SdServer } from '../../lib/engine.js';
import type { Session } from '../../lib/session/types.js';
import type { Connection } from '../../lib/session/connection.js';
import { TcpServerTransport } from '../../lib/transports/tcp-transport.js';
import { WsServerTransport } from '../../lib/transports/ws-transport.js';
import {
  cleanups, messageFrame, Recorder, runCleanups, startTcpServer, startWsServer, rawSocket, rawWs,
} from './helpers.js';

jest.setTimeout(60_000);
afterEach(runCleanups);

/** A logger that keeps its lines. */
function recordingLogger(): { warn(m: string): void; log(m: string): void; error(m: string, s?: string): void; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (m) => lines.push(`warn ${m}`),
    log: (m) => lines.push(`log ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

function expectCode(err: Error | undefined, kind: keyof typeof ErrorCodes): void {
  expect(err).toBeDefined();
  expect((err as SocketDError).code).toBe(ErrorCodes[kind].code);
  expect((err as SocketDError).closeCode).toBe(1002);
}

/** Length prefix + flag of a Message frame declaring `len` bytes (the rest is never sent whole). */
function partialHead(len: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(len, 0);
  head.writeInt32BE(Flags.Message, 4);
  return head;
}

/** Resolves once `socket` closed; rejects never (errors are expected). */
function closedOf(socket: Socket): Promise<void> {
  socket.on('error', () => {});
  // Read (and drop) what is left, or a paused socket never sees the server's FIN.
  if (socket.listenerCount('data') === 0) socket.on('data', () => {});
  return socket.destroyed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

/**
 * A raw TCP socket that upgrades to WebSocket (Socket.D subprotocol) by hand, so a test can
 * send a partial WebSocket frame. Resolves once the 101 arrived.
 */
async function rawUpgrade(port: number): Promise<Socket> {
  const s = await rawSocket(port);
  s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Socket.D\r\n\r\n');
  let got = '';
  while (!got.includes('\r\n\r\n')) got += ((await once(s, 'data')) as [Buffer])[0].toString('latin1');
  expect(got.startsWith('HTTP/1.1 101')).toBe(true);
  return s;
}

/** Header of a masked binary WebSocket frame (mask 0: payload bytes go as they are) of `len` bytes. */
function wsHead(len: number): Buffer {
  if (len < 126) return Buffer.from([0x82, 0x80 | len, 0, 0, 0, 0]);
  const head = Buffer.alloc(2 + 8 + 4);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeUInt32BE(0, 2);
  head.writeUInt32BE(len, 6);
  return head; // mask bytes stay 0
}

describe('maxWriteBufferSize', () => {
  const MAX = 1024 * 1024;
  const chunk = messageFrame(0, Buffer.alloc(64 * 1024, 1));

  it.each(['tcp', 'ws'] as const)('%s: a peer that does not read is dropped at the cap with Close 1002 behind what was queued', async (kind) => {
    const options = { highWaterMark: 64 * 1024, maxWriteBufferSize: MAX };
    let conn: Connection;
    let peer: Socket;
    if (kind === 'tcp') {
      const { port, accepted } = await startTcpServer(options);
      peer = await rawSocket(port);
      peer.pause();
      conn = await accepted.next();
    } else {
      const { port, accepted } = await startWsServer(options);
      peer = await rawUpgrade(port);
      peer.pause();
      conn = await accepted.next();
    }
    const rec = new Recorder(conn);
    let writes = 0;
    let peak = 0;
    // 64 MiB offered in one tick: without the cap every byte would be queued.
    while (!conn.closed && writes < 1024) {
      conn.write(chunk);
      writes++;
      peak = Math.max(peak, conn.bufferedAmount);
    }
    expect(conn.closed).toBe(true);
    expect(peak).toBeLessThanOrEqual(MAX);
    expect(writes).toBeLessThan(1024);
    expect(conn.write(chunk)).toBe(false);

    // The peer reads at last: everything queued, then the Close 1002, then the end.
    let received = Buffer.alloc(0);
    peer.on('data', (b: Buffer) => { received = Buffer.concat([received, b]); });
    peer.resume();
    await closedOf(peer);
    await rec.until(() => rec.closes.length === 1);
    expectCode(rec.closes[0], 'WRITE_BUFFER_FULL');
    if (kind === 'tcp') {
      const frames: Frame[] = [];
      new FrameDecoder((f) => frames.push(f)).push(received);
      expect(frames.at(-1)!.flag).toBe(Flags.Close);
      expect(frames.at(-1)!.metaString).toBe('code=1002');
      expect(frames.length - 1).toBe(writes - 1);
    } else {
      // The Close frame travels as the last binary message, before WebSocket's own close.
      const close = encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: 'code=1002', data: EMPTY_BUFFER });
      expect(received.includes(close)).toBe(true);
    }
  });

  it('is at least highWaterMark (SdServer refuses a smaller one)', () => {
    expect(() => new SdServer('sd:tcp://127.0.0.1:0', { highWaterMark: 2 * 1024 * 1024, maxWriteBufferSize: 1024 * 1024 }))
      .toThrow(/maxWriteBufferSize 1048576 must be at least highWaterMark 2097152/);
  });
});

describe('FrameDecoder buffering', () => {
  it('holds at most 32 chunk views and allocates at most ~2x what arrived for a 1 MB frame sent 1 byte at a time', () => {
    const frame = messageFrame(1, Buffer.alloc(1024 * 1024, 7));
    const frames: Frame[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f));
    const held = (): number => (decoder as unknown as { chunks: Buffer[] }).chunks.length;
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    let maxHeld = 0;
    try {
      for (let i = 0; i < frame.length; i++) {
        // Each chunk has its own backing store, as a socket read does.
        const one = Buffer.allocUnsafeSlow(1);
        one[0] = frame[i];
        decoder.push(one);
        if ((i & 0xfff) === 0) {
          if (decoder.bufferedBytes !== i + 1) throw new Error(`bufferedBytes ${decoder.bufferedBytes} after ${i + 1} bytes`);
          maxHeld = Math.max(maxHeld, held());
        }
      }
      const allocated = spy.mock.calls.reduce((n, [size]) => n + (size as number), 0);
      expect(allocated).toBeLessThanOrEqual(3 * frame.length);
    } finally {
      spy.mockRestore();
    }
    expect(maxHeld).toBeLessThanOrEqual(32);
    expect(frames).toHaveLength(1);
    expect(frames[0].data.equals(Buffer.alloc(1024 * 1024, 7))).toBe(true);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('a 17 MiB length prefix followed by a few bytes allocates nothing near 17 MiB', () => {
    const decoder = new FrameDecoder(() => {});
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      decoder.push(partialHead(17 * 1024 * 1024));
      for (let i = 0; i < 100; i++) decoder.push(Buffer.from([i]));
      expect(decoder.bufferedBytes).toBe(108);
      for (const [size] of spy.mock.calls) expect(size as number).toBeLessThanOrEqual(1024);
    } finally {
      spy.mockRestore();
    }
  });

  it('tcp: a frame trickled in small writes is still delivered whole (and the connection counts its bytes)', async () => {
    const { port, accepted } = await startTcpServer();
    const peer = await rawSocket(port);
    const conn = await accepted.next();
    const rec = new Recorder(conn);
    const frame = messageFrame(3, Buffer.alloc(20_000, 3));
    for (let i = 0; i < frame.length; i += 100) {
      peer.write(frame.subarray(i, i + 100));
      // One write per round trip keeps the chunks small on the server.
      if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    await rec.until(() => rec.frames.length === 1);
    expect(rec.frames[0].data.equals(Buffer.alloc(20_000, 3))).toBe(true);
    expect((conn as unknown as { pendingFrameBytes: number }).pendingFrameBytes).toBe(0);
  });
});

describe('frameTimeout', () => {
  it('tcp: a frame trickled one byte at a time closes with FRAME_TIMEOUT (1002) counted from its first byte', async () => {
    const { port, accepted } = await startTcpServer({ frameTimeout: 500 });
    const peer = await rawSocket(port);
    const conn = await accepted.next();
    const rec = new Recorder(conn);
    const start = performance.now();
    peer.write(partialHead(1000));
    // A byte every 50 ms: each one is new progress, none may restart the timer.
    const trickle = setInterval(() => peer.write(Buffer.from([0])), 50);
    cleanups.push(() => clearInterval(trickle));
    await rec.until(() => rec.protocolErrors.length === 1);
    const elapsed = performance.now() - start;
    expectCode(rec.protocolErrors[0], 'FRAME_TIMEOUT');
    expect(rec.protocolErrors[0].message).toMatch(/frameTimeout 500 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5000);
  });

  it('tcp: frames that complete keep the connection up; the timer restarts for each new frame', async () => {
    const { port, accepted } = await startTcpServer({ frameTimeout: 400 });
    const peer = await rawSocket(port);
    const conn = await accepted.next();
    const rec = new Recorder(conn);
    const frame = messageFrame(1);
    // Each frame is split in two halves 150 ms apart: 5 frames take ~1.5 s > frameTimeout.
    for (let i = 0; i < 5; i++) {
      peer.write(frame.subarray(0, 10));
      await new Promise((r) => setTimeout(r, 150));
      peer.write(frame.subarray(10));
      await rec.until(() => rec.frames.length === i + 1);
    }
    expect(rec.protocolErrors).toHaveLength(0);
    expect(conn.closed).toBe(false);
  });

  it('ws: a WebSocket message trickled one byte at a time closes with FRAME_TIMEOUT (1002)', async () => {
    const { port, accepted } = await startWsServer({ frameTimeout: 500 });
    const peer = await rawUpgrade(port);
    const conn = await accepted.next();
    const rec = new Recorder(conn);
    peer.write(wsHead(100));
    const trickle = setInterval(() => peer.write(Buffer.from([0])), 50);
    cleanups.push(() => clearInterval(trickle));
    await rec.until(() => rec.protocolErrors.length === 1);
    expectCode(rec.protocolErrors[0], 'FRAME_TIMEOUT');
  });
});

describe('maxPendingFrameBytes', () => {
  it('tcp: the connection that would push the server over its budget is closed with 1002; the budget comes back on close', async () => {
    const { server, port, accepted } = await startTcpServer({ maxPendingFrameBytes: 64 * 1024 });
    const a = await rawSocket(port);
    const connA = await accepted.next();
    const recA = new Recorder(connA);
    a.write(Buffer.concat([partialHead(1024 * 1024), Buffer.alloc(40 * 1024)]));
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (server.pendingBudget.used >= 40 * 1024) { clearInterval(t); resolve(); } }, 5); });

    const b = await rawSocket(port);
    const connB = await accepted.next();
    const recB = new Recorder(connB);
    b.write(Buffer.concat([partialHead(1024 * 1024), Buffer.alloc(40 * 1024)]));
    await recB.until(() => recB.protocolErrors.length === 1);
    expectCode(recB.protocolErrors[0], 'PENDING_FRAME_BYTES');
    expect(recB.protocolErrors[0].message).toMatch(/maxPendingFrameBytes 65536/);
    expect(recA.protocolErrors).toHaveLength(0);
    expect(server.pendingBudget.used).toBeLessThanOrEqual(64 * 1024);

    connB.destroy();
    connA.destroy();
    await recA.until(() => recA.closes.length === 1);
    await recB.until(() => recB.closes.length === 1);
    expect(server.pendingBudget.used).toBe(0);
  });

  it('ws: partial WebSocket messages count against the same budget', async () => {
    const { server, port, accepted } = await startWsServer({ maxPendingFrameBytes: 64 * 1024 });
    const a = await rawUpgrade(port);
    const recA = new Recorder(await accepted.next());
    a.write(Buffer.concat([wsHead(1024 * 1024), Buffer.alloc(40 * 1024)]));
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (server.pendingBudget.used >= 40 * 1024) { clearInterval(t); resolve(); } }, 5); });
    const b = await rawUpgrade(port);
    const recB = new Recorder(await accepted.next());
    b.write(Buffer.concat([wsHead(1024 * 1024), Buffer.alloc(40 * 1024)]));
    await recB.until(() => recB.protocolErrors.length === 1);
    expectCode(recB.protocolErrors[0], 'PENDING_FRAME_BYTES');
    expect(recA.protocolErrors).toHaveLength(0);
  });
});

describe('maxConnections and maxConnectionsPerAddress', () => {
  it('tcp: connections from one IP beyond maxConnectionsPerAddress are refused with a log line', async () => {
    const logger = recordingLogger();
    const { port, accepted } = await startTcpServer({ maxConnectionsPerAddress: 2, logger });
    await rawSocket(port);
    const c1 = await accepted.next();
    await rawSocket(port);
    await accepted.next();
    const s3 = await rawSocket(port);
    await closedOf(s3);
    expect(logger.lines.some((l) => /^warn Socket\.D TCP server: refused a connection from 127\.0\.0\.1: maxConnectionsPerAddress 2 reached \(SOCKETD_ERR_TOO_MANY_CONNECTIONS\)$/.test(l))).toBe(true);
    // A slot freed is a slot again.
    const rec1 = new Recorder(c1);
    c1.destroy();
    await rec1.until(() => rec1.closes.length === 1);
    const s4 = await rawSocket(port);
    const s4Accepted = await Promise.race([accepted.next().then(() => true), closedOf(s4).then(() => false)]);
    expect(s4Accepted).toBe(true);
  });

  it('tcp: maxConnections refusals are logged', async () => {
    const logger = recordingLogger();
    const { port, accepted } = await startTcpServer({ maxConnections: 1, logger });
    await rawSocket(port);
    await accepted.next();
    const s2 = await rawSocket(port);
    await closedOf(s2);
    expect(logger.lines.some((l) => l.includes('maxConnections 1 reached (SOCKETD_ERR_TOO_MANY_CONNECTIONS)'))).toBe(true);
  });

  it('ws: raw sockets from one IP beyond maxConnectionsPerAddress are refused with a log line; maxConnections refusals are logged', async () => {
    const logger = recordingLogger();
    const { port, accepted } = await startWsServer({ maxConnectionsPerAddress: 2, maxConnections: 1, logger });
    await rawWs(port);
    await accepted.next();
    // Second: under the per-address limit, over maxConnections: 503 and a log line.
    const s2 = await rawSocket(port);
    s2.on('error', () => {});
    s2.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Socket.D\r\n\r\n');
    const [reply] = (await once(s2, 'data')) as [Buffer];
    expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 503/);
    expect(logger.lines.some((l) => l.includes('Socket.D WebSocket server: refused an upgrade from 127.0.0.1: maxConnections 1 reached'))).toBe(true);
    await closedOf(s2);
    // Raw sockets count from their accept: with one idle beside the WebSocket, a third is refused.
    const idle = await rawSocket(port);
    idle.on('error', () => {});
    const s3 = await rawSocket(port);
    await closedOf(s3);
    expect(idle.destroyed).toBe(false);
    expect(logger.lines.some((l) => l.includes('Socket.D WebSocket server: refused a connection from 127.0.0.1: maxConnectionsPerAddress 2 reached'))).toBe(true);
  });

  it('ws (attached httpServer): upgrades from one IP beyond maxConnectionsPerAddress get 503', async () => {
    const http = createHttpServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { http.closeAllConnections(); http.close(r); }));
    const logger = recordingLogger();
    const { port, accepted } = await startWsServer({ httpServer: http, maxConnectionsPerAddress: 1, logger });
    await rawWs(port);
    await accepted.next();
    const ws2 = new (await import('ws')).WebSocket(`ws://127.0.0.1:${port}/`, ['Socket.D']);
    ws2.on('error', () => {});
    const [, res] = (await once(ws2, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
    res.destroy();
    expect(res.statusCode).toBe(503);
    expect(logger.lines.some((l) => l.includes('maxConnectionsPerAddress 1 reached'))).toBe(true);
  });
});

describe('sd:ws handshake timeout covers the upgrade', () => {
  it('own server: a socket that never finishes its upgrade is dropped after handshakeTimeout (not Node\'s header timeout)', async () => {
    const { port } = await startWsServer({ handshakeTimeout: 500 });
    const start = performance.now();
    const s = await rawSocket(port);
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // headers never end
    await closedOf(s);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('the connection carries acceptedAt from the TCP accept, before the upgrade', async () => {
    const { port, accepted } = await startWsServer();
    const before = performance.now();
    const s = await rawSocket(port);
    await new Promise((r) => setTimeout(r, 200));
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Socket.D\r\n\r\n');
    const conn = await accepted.next();
    const upgraded = performance.now();
    expect(conn.acceptedAt).toBeGreaterThanOrEqual(before);
    expect(upgraded - conn.acceptedAt!).toBeGreaterThanOrEqual(150);
  });

  it('SdServer over ws: the session waits only for what is left of handshakeTimeout after a slow upgrade', async () => {
    let closedAt = 0;
    let closeErr: Error | undefined;
    const server = await new SdServer('sd:ws://127.0.0.1:0', {
      handshakeTimeout: 1500,
      logger: false,
      onClose: (_s, _code, err) => { closedAt = performance.now(); closeErr = err; },
    }).listen();
    cleanups.push(() => server.close());
    const port = server.address()!.port;
    const start = performance.now();
    const s = await rawSocket(port);
    await new Promise((r) => setTimeout(r, 1000));
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Socket.D\r\n\r\n');
    // No Connect ever follows the upgrade.
    await closedOf(s);
    expect((closeErr as SocketDError | undefined)?.code).toBe('SOCKETD_ERR_HANDSHAKE_TIMEOUT');
    const elapsed = closedAt - start;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    // Without acceptedAt the session would wait a full 1500 ms after the upgrade (~2500 ms).
    expect(elapsed).toBeLessThan(2300);
  });
});

describe('listen-time errors', () => {
  it.each(['tcp', 'ws'] as const)('%s: an error of the listening server is logged and reaches onError', async (kind) => {
    const logger = recordingLogger();
    const errors: Error[] = [];
    const server = await new SdServer(`sd:${kind}://127.0.0.1:0`, { logger, onError: (err) => errors.push(err) }).listen();
    cleanups.push(() => server.close());
    const native: Server | { server?: unknown } = kind === 'tcp'
      ? server.unwrap<Server>()
      : (server as unknown as { transport: WsServerTransport }).transport.server;
    (native as Server).emit('error', new Error('EMFILE: too many open files'));
    expect(errors).toHaveLength(1);
    expect((errors[0] as SocketDError).code).toBe('SOCKETD_ERR_TRANSPORT');
    expect(errors[0].message).toMatch(/EMFILE/);
    expect(logger.lines.some((l) => l.startsWith('error Socket.D server:') && l.includes('EMFILE'))).toBe(true);
  });

  it('TcpServerTransport hands later errors to options.onError', async () => {
    const errors: Error[] = [];
    const t = new TcpServerTransport('127.0.0.1', 0, { onError: (e) => errors.push(e) });
    await t.listen(() => {});
    cleanups.push(() => t.close());
    t.unwrap().emit('error', new Error('boom'));
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/boom/)]);
  });
});

describe('Pongs under backpressure', () => {
  it('tcp: a peer flooding Pings without reading keeps the server\'s buffered bytes bounded; another client keeps getting answers', async () => {
    const HWM = 16 * 1024;
    let flooder: Session | undefined;
    const server = await new SdServer('sd:tcp://127.0.0.1:0', {
      highWaterMark: HWM,
      logger: false,
      onOpen: (s) => { if (flooder === undefined) flooder = s; },
      onMessage: (s, m) => { s.replyEnd(m, m.data); },
    }).listen();
    cleanups.push(() => server.close());
    const port = server.address()!.port;

    // The flooder: handshake, then Pings only, never reading again.
    const sock = netConnect({ host: '127.0.0.1', port });
    cleanups.push(() => sock.destroy());
    sock.on('error', () => {});
    await once(sock, 'connect');
    const url = `tcp://127.0.0.1:${port}/`;
    sock.write(encodeFrame({ flag: Flags.Connect, sid: 'c'.repeat(32), event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) }));
    const [connack] = (await once(sock, 'data')) as [Buffer];
    expect(decodeFrame(connack.subarray(0, connack.readInt32BE(0))).flag).toBe(Flags.Connack);
    sock.pause();
    const ping = encodeFrame({ flag: Flags.Ping, sid: '', event: '', metaString: '', data: EMPTY_BUFFER });
    const burst = Buffer.concat(Array.from({ length: 8192 }, () => ping)); // 64 KiB of Pings
    let peak = 0;
    const watch = setInterval(() => { peak = Math.max(peak, flooder?.bufferedAmount ?? 0); }, 1);
    cleanups.push(() => clearInterval(watch));
    // 32 MiB of Pings (4 Mi Pongs owed); stop offering once the server stops reading us.
    for (let i = 0; i < 512; i++) {
      if (!sock.write(burst)) {
        const drained = await Promise.race([once(sock, 'drain').then(() => true), new Promise((r) => setTimeout(() => r(false), 1500))]);
        if (!drained) break;
      }
    }
    peak = Math.max(peak, flooder!.bufferedAmount);
    // Bounded by the high-water mark plus the Pongs of one received chunk (64 KiB of Pings).
    expect(peak).toBeLessThanOrEqual(HWM + 128 * 1024);

    const client = new SdClient(`sd:tcp://127.0.0.1:${port}`, { logger: false, autoReconnect: false });
    cleanups.push(() => client.close());
    const reply = await client.request('/echo', 'still here');
    expect(reply.dataAsString()).toBe('still here');
  });
});
