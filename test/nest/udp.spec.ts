import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { SdClient, udpStats, type UdpStats } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { SocketDClient, SocketDServer } from '../../lib/nest/index.js';
import { state, TestAppModule } from './nest-test.app.js';
import { errorOf, waitFor, waitUntilStable } from './nest-test.helpers.js';

// The Nest server and client over sd:udp (spec 3.3) on real sockets: events and small
// requests; a frame over maxDatagramSize fails its call; liveness is heartbeat + idle timeout.

describe('Nest over sd:udp', () => {
  let app: INestMicroservice;
  let server: SocketDServer;
  let client: SocketDClient;
  let port: number;
  const raw: Socket[] = [];
  const engineClients: SdClient[] = [];

  const counters = (): UdpStats => udpStats(server.unwrap())!;

  async function rawUdp(): Promise<Socket> {
    const socket = createSocket('udp4');
    raw.push(socket);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket;
  }

  beforeAll(async () => {
    server = new SocketDServer({ url: 'sd:udp://127.0.0.1:0', idleTimeout: 1500, maxConnections: 12, logger: false });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    port = server.address()!.port;
    client = new SocketDClient({ url: `sd:udp://127.0.0.1:${port}`, heartbeatInterval: 200, requestTimeout: 2000, logger: false });
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await Promise.all(engineClients.map((c) => c.close()));
    for (const socket of raw) socket.close();
    await app.close();
  });

  beforeEach(() => state.reset());

  it('carries requests, replies and events', async () => {
    expect(await lastValueFrom(client.send<number>('sum', [1, 2, 3]))).toBe(6);
    expect(await lastValueFrom(client.send<number>('async-sum', [4, 5]))).toBe(9);
    const echoed = await lastValueFrom(client.send<Buffer>('bytes', Buffer.from([1, 2, 3])));
    expect(Buffer.from(echoed)).toEqual(Buffer.from([1, 2, 3]));
    await lastValueFrom(client.emit('notify', { hello: 'udp' }), { defaultValue: undefined });
    expect(await state.eventSignal.promise).toEqual({ hello: 'udp' });
    expect(server.unwrap<Socket>().address().port).toBe(port); // the dgram socket
  });

  it('refuses a call whose frame is over maxDatagramSize with DATAGRAM_TOO_LARGE; the client carries on', async () => {
    const err = await errorOf(lastValueFrom(client.send('bytes', Buffer.alloc(4000))));
    expect(isSocketDError(err, 'DATAGRAM_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toMatch(/does not fit in one datagram of maxDatagramSize 2048; nothing was sent/);
    expect(await lastValueFrom(client.send<number>('sum', [2, 2]))).toBe(4);
  });

  it('a request with no answer fails clearly by its timeout', async () => {
    const quick = new SocketDClient({ url: `sd:udp://127.0.0.1:${port}`, requestTimeout: 300, logger: false });
    try {
      const err = await errorOf(lastValueFrom(quick.send('never', 1)));
      expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    } finally {
      await quick.close();
    }
  });

  it('heartbeats keep the Nest client open while the idle timeout closes a silent peer', async () => {
    const silent = new SdClient(`sd:udp://127.0.0.1:${port}`, { heartbeatInterval: 0, autoReconnect: false, logger: false });
    engineClients.push(silent);
    const session = await silent.connect();
    const closed = new Promise<number>((resolve) => session.onClose((code) => resolve(code)));
    expect(await closed).toBe(1001); // the server's idle close, announced with a Close frame
    await new Promise((r) => setTimeout(r, 1700)); // past idleTimeout again
    expect(await lastValueFrom(client.send<number>('sum', [10, 1]))).toBe(11);
    expect(server.sessions.size).toBe(1);
  });

  it('drops garbage and strangers (counted) and bounds the sessions under a flood of Connects that never echo their token', async () => {
    const before = { ...counters() };
    const attacker = await rawUdp();
    for (let i = 0; i < 30; i++) {
      attacker.send(Buffer.from('not a frame at all'), port, '127.0.0.1');
      attacker.send(encodeFrame({ flag: Flags.Request, sid: `x${i}`, event: 'sum', metaString: '', data: Buffer.from('[1,1]') }), port, '127.0.0.1');
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    const flooders = await Promise.all(Array.from({ length: 40 }, () => rawUdp()));
    for (const [i, s] of flooders.entries()) {
      const url = `udp://127.0.0.1:${port}/`;
      const connect = encodeFrame({ flag: Flags.Connect, sid: `f${i}`, event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
      s.send(Buffer.concat([connect, Buffer.from('SdToken?')]), port, '127.0.0.1'); // asks for a token, never echoes it
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    // (datagramsIn keeps growing with the good client's heartbeats: wait on what the flood moves.)
    await waitUntilStable(() => { const c = counters(); return c.droppedGarbage + c.droppedStrangers + c.evictedHalfOpen + c.replacedSessions; });
    const now = counters();
    // 11 free slots (the good client holds one): each Connect past them evicts the oldest half-open one.
    expect(server.sessions.size).toBeLessThanOrEqual(12);
    expect(now.droppedGarbage - before.droppedGarbage).toBeGreaterThanOrEqual(24); // of 30 (UDP may lose some)
    expect(now.droppedStrangers - before.droppedStrangers).toBeGreaterThanOrEqual(24);
    expect(now.evictedHalfOpen - before.evictedHalfOpen).toBeGreaterThanOrEqual(40 - 11 - 8); // UDP may lose some
    expect(now.evictedHalfOpen - before.evictedHalfOpen).toBeLessThanOrEqual(40 - 11);
    expect(now.refusedConnects - before.refusedConnects).toBe(0);
    // The good client never noticed.
    expect(await lastValueFrom(client.send<number>('sum', [20, 22]))).toBe(42);
  });
});
