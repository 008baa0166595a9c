import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { isSocketDError } from '../../lib/protocol/errors.js';
import {
  NO_MESSAGE_HANDLER,
  SocketDClient,
  SocketDRecordBuilder,
  SocketDServer,
} from '../../lib/nest/index.js';
import { state, TestAppModule } from './nest-test.app.js';
import { errorOf, KINDS, waitFor, waitUntilStable, within } from './nest-test.helpers.js';

describe.each(KINDS)('SocketDServer over %s', (kind) => {
  let app: INestMicroservice;
  let server: SocketDServer;
  let client: SocketDClient;
  let url: string;

  beforeAll(async () => {
    server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    url = `sd:${kind}://127.0.0.1:${server.address()!.port}`;
    client = new SocketDClient({ url });
  });

  afterAll(async () => {
    await client.close();
    await app.close();
  });

  beforeEach(() => state.reset());

  it('answers a request (sync and async handlers, object patterns)', async () => {
    expect(await firstValueFrom(client.send('sum', [1, 2, 3]))).toBe(6);
    expect(await firstValueFrom(client.send('async-sum', [4, 5]))).toBe(9);
    expect(await firstValueFrom(client.send({ v: 1, cmd: 'obj' }, 'x'))).toBe('obj:x');
  });

  it('answers a plain Request (record builder mode) with one value', async () => {
    const record = new SocketDRecordBuilder([2, 2]).asRequest().build();
    expect(await lastValueFrom(client.send('sum', record).pipe(toArray()))).toEqual([4]);
    // A streaming handler asked with a Request: an error naming the fix, never its first value alone.
    const err = await errorOf(lastValueFrom(client.send('range', new SocketDRecordBuilder(5).asRequest().build()).pipe(toArray())));
    expect(JSON.stringify(err)).toMatch(/produces several values, but a Request has one answer: call it with a Subscribe/);
  });

  it('completes without a value when the handler returns nothing', async () => {
    expect(await lastValueFrom(client.send('nothing', {}).pipe(toArray()))).toEqual([]);
  });

  it('streams 10,000 items in order', async () => {
    const items = await lastValueFrom(client.send<number>('range', 10_000).pipe(toArray()));
    expect(items).toHaveLength(10_000);
    expect(items.every((value, index) => value === index)).toBe(true);
  });

  it('delivers events to @EventPattern handlers', async () => {
    await lastValueFrom(client.emit('notify', { hello: 'world' }), { defaultValue: undefined });
    expect(await state.eventSignal.promise).toEqual({ hello: 'world' });
    expect(state.events).toEqual([{ hello: 'world' }]);
  });

  it('stops the server-side producer when the client unsubscribes', async () => {
    const firstFive = await lastValueFrom(client.send<number>('ticks', {}).pipe(take(5), toArray()));
    expect(firstFive).toEqual([0, 1, 2, 3, 4]);
    await within(state.producerStopped.promise, 20_000, 'the producer to be unsubscribed');
    const stopped = await waitUntilStable(() => state.produced);
    // The handler stopped soon after the 5th item, not after running on.
    expect(stopped).toBeLessThan(200);
    await waitFor(() => server.pendingHandlers === 0, 20_000, 'the stream to settle');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(state.produced).toBe(stopped);
  });

  it('errors with the Nest error values (RpcException object, text, plain Error)', async () => {
    expect(await errorOf(firstValueFrom(client.send('rpc-object', {})))).toEqual({ code: 42, message: 'nope' });
    expect(await errorOf(firstValueFrom(client.send('rpc-text', {})))).toEqual({ status: 'error', message: 'text' });
    expect(await errorOf(firstValueFrom(client.send('boom', {})))).toEqual({ status: 'error', message: 'Internal server error' });
  });

  it('delivers the values before a mid-stream error, then the error', async () => {
    const seen: number[] = [];
    const err = await new Promise((resolve) => {
      client.send<number>('stream-error', {}).subscribe({
        next: (value) => seen.push(value),
        error: resolve,
        complete: () => resolve('NO ERROR'),
      });
    });
    expect(seen).toEqual([0, 1]);
    expect(err).toEqual({ code: 7, message: 'mid-stream' });
  });

  it('answers an unknown pattern with Nest\'s "no matching message handler" string', async () => {
    expect(await errorOf(firstValueFrom(client.send('does-not-exist', {})))).toBe(NO_MESSAGE_HANDLER);
  });

  it('runs guards, pipes, interceptors and exception filters', async () => {
    expect(await errorOf(firstValueFrom(client.send('guarded', {})))).toEqual({ status: 'error', message: 'Forbidden resource' });
    expect(await firstValueFrom(client.send('guarded', { allow: true }))).toBe('let in');
    expect(await firstValueFrom(client.send('piped', 20))).toBe(41);
    expect(await firstValueFrom(client.send('intercepted', 'abc'))).toEqual({ wrapped: 'ABC' });
    expect(state.interceptorRan).toBe(true);
    expect(await errorOf(firstValueFrom(client.send('filtered', {})))).toEqual({ teapot: true, reason: 'brewing' });
  });

  it('carries record-builder metas and dispatch-hook metadata to @Ctx()', async () => {
    const traced = new SocketDClient({ url: `${url}/app?user=u1` });
    traced.setOnDispatchHook((packet) => {
      packet.metadata = { traceId: 't-123' };
    });
    try {
      const record = new SocketDRecordBuilder({ a: 1 }).setMetas({ tenant: 'acme' }).setMeta('lang', 'fr').build();
      const info = (await firstValueFrom(traced.send('ctx', record))) as Record<string, any>;
      expect(info['data']).toEqual({ a: 1 });
      expect(info['pattern']).toBe('ctx');
      expect(typeof info['sid']).toBe('string');
      expect(info['sid'].length).toBeGreaterThan(0);
      expect(info['tenant']).toBe('acme');
      expect(info['metas']).toMatchObject({ tenant: 'acme', lang: 'fr', traceId: 't-123', 'Data-Type': 'application/json' });
      expect(info['metadata']).toEqual({ tenant: 'acme', lang: 'fr', traceId: 't-123' });
      expect(info['path']).toBe('/app');
      expect(info['params']).toMatchObject({ user: 'u1' });
      expect(info['sessionOpen']).toBe(true);
    } finally {
      await traced.close();
    }
  });

  it('sends a 5 MiB Buffer byte-exact, and it arrives as a Buffer', async () => {
    const payload = randomBytes(5 * 1024 * 1024);
    const echoed = await firstValueFrom(client.send<Buffer>('bytes', payload));
    expect(state.sawBuffer).toBe(true);
    expect(Buffer.isBuffer(echoed)).toBe(true);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
  });

  it('binds handlers to SOCKETD_TRANSPORT but not to another transport', async () => {
    expect(await firstValueFrom(client.send('only-sd', {}))).toBe('socket.d');
    expect(await errorOf(firstValueFrom(client.send('only-tcp', {})))).toBe(NO_MESSAGE_HANDLER);
  });

  it('fails a call with a SocketDError timeout from the record builder', async () => {
    const err = await errorOf(firstValueFrom(client.send('never', new SocketDRecordBuilder({}).setTimeout(200).build()).pipe(toArray())));
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
  });
});

describe.each(KINDS)('errors over %s match Nest TCP', (kind) => {
  let sdApp: INestMicroservice;
  let tcpApp: INestMicroservice;
  let sdClient: SocketDClient;
  let tcpClient: ClientProxy;

  beforeAll(async () => {
    const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    sdApp = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await sdApp.listen();
    sdClient = new SocketDClient({ url: `sd:${kind}://127.0.0.1:${server.address()!.port}` });
    tcpApp = await NestFactory.createMicroservice(TestAppModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger: false,
    });
    await tcpApp.listen();
    const port = (tcpApp.unwrap<NetServer>().address() as AddressInfo).port;
    tcpClient = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  });

  afterAll(async () => {
    await sdClient.close();
    tcpClient.close();
    await sdApp.close();
    await tcpApp.close();
  });

  it.each(['rpc-object', 'rpc-text', 'boom', 'guarded', 'filtered', 'stream-error', 'does-not-exist'])('%s', async (pattern) => {
    const viaTcp = await errorOf(lastValueFrom(tcpClient.send(pattern, {}).pipe(toArray())));
    const viaSocketD = await errorOf(lastValueFrom(sdClient.send(pattern, {}).pipe(toArray())));
    expect(viaTcp).not.toBe('NO ERROR');
    expect(viaSocketD).toEqual(viaTcp);
  });
});
