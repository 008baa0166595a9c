/**
 * Nest's processing hooks (tracing) around SocketDServer handlers: the start hook wraps every
 * Request/Subscribe and event when set; the end hook runs once per handled message, with or
 * without a start hook (the server skips the start hook's async wrapper while it is Nest's
 * default).
 */
import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { SocketDClient, SocketDContext, SocketDServer } from '../../lib/nest/index.js';
import { state, TestAppModule } from './nest-test.app.js';
import { waitFor } from './nest-test.helpers.js';

describe('SocketDServer processing hooks', () => {
  let app: INestMicroservice;
  let server: SocketDServer;
  let client: SocketDClient;
  const started: string[] = [];
  const ended: string[] = [];

  beforeAll(async () => {
    server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    client = new SocketDClient({ url: `sd:tcp://127.0.0.1:${server.address()!.port}` });
  });

  afterAll(async () => {
    await client.close();
    await app.close();
  });

  afterEach(() => {
    started.length = 0;
    ended.length = 0;
    state.reset();
  });

  const pattern = (ctx: unknown) => (ctx as SocketDContext).getPattern();

  it('runs the end hook once per request, stream and event without a start hook', async () => {
    server.setOnProcessingEndHook((_id, ctx) => ended.push(pattern(ctx)));
    expect(await firstValueFrom(client.send('sum', [1, 2]))).toBe(3);
    expect(await lastValueFrom(client.send('range', 3).pipe(toArray()))).toEqual([0, 1, 2]);
    await lastValueFrom(client.emit('notify', { n: 1 }));
    await state.eventSignal.promise;
    await waitFor(() => ended.length === 3);
    expect(ended.sort()).toEqual(['notify', 'range', 'sum']);
  });

  it('wraps requests and events in a start hook when one is set, the end hook after', async () => {
    let inside = 0;
    server.setOnProcessingStartHook((_id, ctx, done) => {
      started.push(pattern(ctx));
      inside++;
      return done().finally(() => inside--);
    });
    server.setOnProcessingEndHook((_id, ctx) => ended.push(pattern(ctx)));
    try {
      expect(await firstValueFrom(client.send('async-sum', [2, 2]))).toBe(4);
      await lastValueFrom(client.emit('notify', { n: 2 }));
      expect(await state.eventSignal.promise).toEqual({ n: 2 });
      await waitFor(() => ended.length === 2 && inside === 0);
      expect(started.sort()).toEqual(['async-sum', 'notify']);
      expect(ended.sort()).toEqual(['async-sum', 'notify']);
    } finally {
      server.setOnProcessingStartHook((_id, _ctx, done) => done());
    }
  });

  it('a start hook that never calls done() stops the handler from running', async () => {
    server.setOnProcessingStartHook((_id, ctx) => {
      started.push(pattern(ctx));
    });
    try {
      client.emit('notify', { n: 3 });
      await waitFor(() => started.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(state.events).toEqual([]);
    } finally {
      server.setOnProcessingStartHook((_id, _ctx, done) => done());
    }
  });
});
