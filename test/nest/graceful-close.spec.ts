import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern } from '@nestjs/microservices';
import { firstValueFrom, interval, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { SdClient } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SocketDClient, SocketDServer } from '../../lib/nest/index.js';
import { ServerChild } from '../support/server-child.js';
import { waitFor } from './nest-test.helpers.js';

/** Prints measured times when SOCKETD_TIMINGS is set (they are asserted with generous bounds). */
function record(what: string, values: number[]): void {
  if (process.env.SOCKETD_TIMINGS !== undefined) process.stderr.write(`${what}: ${values.join(', ')}\n`);
}

function serviceModule(name: string) {
  @Controller()
  class ServiceController {
    @MessagePattern('slow')
    async slow(n: number): Promise<string> {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return `${name}:${n}`;
    }

    @MessagePattern('feed')
    feed(n: number): Observable<string> {
      return interval(100).pipe(take(5), map((i) => `${name}:${n}:${i}`));
    }

    @MessagePattern('who')
    who(): string {
      return name;
    }
  }
  @Module({ controllers: [ServiceController] })
  class ServiceModule {}
  return ServiceModule;
}

const apps = new Set<INestMicroservice>();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await Promise.all([...apps].map((app) => app.close()));
  apps.clear();
  await ServerChild.killAll();
});

async function startApp(name: string, port = 0): Promise<{ app: INestMicroservice; strategy: SocketDServer; port: number }> {
  const strategy = new SocketDServer({ url: `sd:tcp://127.0.0.1:${port}`, gracePeriod: 20_000 });
  const app = await NestFactory.createMicroservice(serviceModule(name), { strategy, logger: false });
  await app.listen();
  apps.add(app);
  return { app, strategy, port: strategy.address()!.port };
}

describe('graceful close under load', () => {
  it('SocketDServer.close() with 100 calls and 10 streams in flight: every one completes; the client carries on against the restarted server without an error', async () => {
    const a = await startApp('a');
    const client = new SocketDClient({ url: `sd:tcp://127.0.0.1:${a.port}`, reconnectDelay: 50, maxReconnectDelay: 200, requestTimeout: 20_000 });
    closers.push(() => client.close());
    await client.connect();

    const calls = Array.from({ length: 100 }, (_, i) => firstValueFrom(client.send<string>('slow', i)));
    const streams = Array.from({ length: 10 }, (_, i) => lastValueFrom(client.send<string>('feed', i).pipe(toArray())));
    await waitFor(() => a.strategy.pendingHandlers === 110, 20_000, '110 handlers in flight');

    const closeStarted = Date.now();
    const closing = a.app.close().then(() => Date.now() - closeStarted);
    apps.delete(a.app);
    // Calls made while the server closes: they wait for the next server (no error reaches them).
    const during: Promise<string>[] = [];
    const ticker = setInterval(() => during.push(firstValueFrom(client.send<string>('who', 0))), 20);
    const closedIn = await closing;
    const b = await startApp('b', a.port);
    await waitFor(() => during.length >= 20, 20_000, 'calls during the switch');
    clearInterval(ticker);

    const results = await Promise.allSettled([...calls, ...streams]);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect((results[0] as PromiseFulfilledResult<string>).value).toBe('a:0');
    expect((results[100] as PromiseFulfilledResult<string[]>).value).toEqual(['a:0:0', 'a:0:1', 'a:0:2', 'a:0:3', 'a:0:4']);
    // The grace period was not used up: close() returned once the work was done.
    expect(closedIn).toBeLessThan(20_000);

    const switched = await Promise.allSettled(during);
    expect(switched.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(new Set(switched.map((r) => (r as PromiseFulfilledResult<string>).value))).toContain('b');
    expect(await firstValueFrom(client.send<string>('who', 0))).toBe('b');
    expect(b.strategy.pendingHandlers).toBe(0);
    record('graceful close: close() ms', [closedIn]);
  });
});

describe('calls while the server is down fail within their own timeout', () => {
  it('engine SdClient and Nest SocketDClient, requestTimeout 300: each call fails with SOCKETD_ERR_UNREACHABLE naming the last error and the next attempt; both reach the restarted server', async () => {
    const server = await ServerChild.start('tcp', 'one');
    const url = server.url('tcp');
    const engine = new SdClient(url, { requestTimeout: 300, logger: false });
    closers.push(() => engine.close());
    const nest = new SocketDClient({ url, requestTimeout: 300, logger: false });
    closers.push(() => nest.close());
    expect((await engine.request('who')).dataAsString()).toBe('one');
    expect(await firstValueFrom(nest.send<string>('who', 1))).toBe('one');

    await server.kill();
    await waitFor(() => engine.status !== 'connected', 20_000, 'the engine client sees the loss');
    const engineTimes: number[] = [];
    const nestTimes: number[] = [];
    for (let i = 0; i < 8; i++) {
      let started = Date.now();
      const err = await engine.request('who').catch((e: unknown) => e);
      engineTimes.push(Date.now() - started);
      expect(isSocketDError(err, 'UNREACHABLE')).toBe(true);
      expect((err as Error).message).toMatch(/is unreachable: .*last connect error: .+; (next attempt in \d+ ms|an attempt is under way)/);
      started = Date.now();
      const nestErr = await firstValueFrom(nest.send<string>('who', 1)).catch((e: unknown) => e);
      nestTimes.push(Date.now() - started);
      expect(isSocketDError(nestErr, 'UNREACHABLE')).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    record('down: engine request fail ms', engineTimes);
    record('down: Nest send fail ms', nestTimes);
    // requestTimeout + 100 ms is the goal; the bound here leaves room for a loaded machine.
    for (const ms of [...engineTimes, ...nestTimes]) expect(ms).toBeLessThan(300 + 1_000);

    const again = await ServerChild.start('tcp', 'two', server.port);
    expect(again.port).toBe(server.port);
    await waitFor(() => engine.status === 'connected', 20_000, 'the engine client back');
    expect((await engine.request('who')).dataAsString()).toBe('two');
    // Its backoff grew while down (up to maxReconnectDelay): wait for its next attempt.
    await waitFor(() => nest.unwrap<SdClient>().status === 'connected', 20_000, 'the Nest client back');
    expect(await firstValueFrom(nest.send<string>('who', 1))).toBe('two');
  });

  it('autoReconnect off: once the connection is lost a call fails at once', async () => {
    const server = await ServerChild.start('tcp', 'one');
    const engine = new SdClient(server.url('tcp'), { requestTimeout: 5_000, autoReconnect: false, logger: false });
    closers.push(() => engine.close());
    await engine.connect();
    await server.kill();
    await waitFor(() => engine.status === 'disconnected', 20_000, 'the loss');
    const started = Date.now();
    const err = await engine.request('who').catch((e: unknown) => e);
    const took = Date.now() - started;
    record('autoReconnect off: fail ms', [took]);
    expect(isSocketDError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/not connected; last connect error: connection closed \(code \d+\); no further attempt/);
    expect(took).toBeLessThan(1_000); // at once, not after requestTimeout (5 s)
  });
});
