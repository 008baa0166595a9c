/**
 * The Observable semantics of SocketDClient.send()/emit(), which override ClientProxy's
 * (leaner per call) and must behave as Nest's: cold send, hot emit, InvalidMessageException,
 * connect on first use, dispatch hook at dispatch time, late emit subscribers.
 */
import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InvalidMessageException } from '@nestjs/microservices/errors/invalid-message.exception.js';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { SocketDClient, SocketDServer, type SocketDEntity } from '../../lib/nest/index.js';
import { state, TestAppModule } from './nest-test.app.js';
import { errorOf, waitFor } from './nest-test.helpers.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SocketDClient send()/emit() semantics', () => {
  let app: INestMicroservice;
  let url: string;
  const clients: SocketDClient[] = [];
  const newClient = (options: ConstructorParameters<typeof SocketDClient>[0] = {}) => {
    const c = new SocketDClient({ url, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await app.close();
  });

  beforeEach(() => state.reset());

  it('send() is cold: nothing is dispatched until subscribed, and each subscription is a call', async () => {
    const client = newClient();
    await client.connect();
    let dispatched = 0;
    client.setOnDispatchHook(() => {
      dispatched++;
    });
    const call = client.send<number>('sum', [1, 2]);
    await tick();
    expect(dispatched).toBe(0);
    expect(await firstValueFrom(call)).toBe(3);
    expect(await firstValueFrom(call)).toBe(3);
    expect(dispatched).toBe(2);
  });

  it('send() before connect() connects first, then calls', async () => {
    const client = newClient();
    expect(await firstValueFrom(client.send<number>('sum', [2, 2]))).toBe(4);
  });

  it('send() unsubscribed while connecting dispatches nothing', async () => {
    const client = newClient();
    let dispatched = 0;
    client.setOnDispatchHook(() => {
      dispatched++;
    });
    client.send('sum', [1]).subscribe().unsubscribe();
    await client.connect();
    await tick();
    expect(dispatched).toBe(0);
  });

  it('send() and emit() refuse a null/undefined pattern or data with InvalidMessageException', async () => {
    const client = newClient();
    for (const [p, d] of [[null, 1], [undefined, 1], ['sum', null], ['sum', undefined]] as const) {
      expect(await errorOf(firstValueFrom(client.send(p, d)))).toBeInstanceOf(InvalidMessageException);
      expect(await errorOf(lastValueFrom(client.emit(p, d)))).toBeInstanceOf(InvalidMessageException);
    }
  });

  it('send() reports a connect failure as it is', async () => {
    const client = newClient({ url: 'sd:tcp://127.0.0.1:1', connectTimeout: 2000 });
    const err = await errorOf(firstValueFrom(client.send('sum', [1])));
    expect(err).toBeInstanceOf(Error);
  });

  it('emit() is hot: the event is sent without a subscriber', async () => {
    const client = newClient();
    await client.connect();
    client.emit('notify', { n: 1 });
    expect(await state.eventSignal.promise).toEqual({ n: 1 });
  });

  it('emit() before connect() connects and sends', async () => {
    const client = newClient();
    client.emit('notify', { n: 2 });
    expect(await state.eventSignal.promise).toEqual({ n: 2 });
  });

  it('emit(): an early subscriber gets undefined then completion; a late one only the completion', async () => {
    const client = newClient();
    await client.connect();
    const sent = client.emit('notify', { n: 3 });
    expect(await lastValueFrom(sent.pipe(toArray()))).toEqual([undefined]);
    expect(await lastValueFrom(sent.pipe(toArray()))).toEqual([]);
    // Before connect, too.
    const fresh = newClient();
    expect(await lastValueFrom(fresh.emit('notify', { n: 4 }).pipe(toArray()))).toEqual([undefined]);
    await waitFor(() => state.events.length === 2);
  });

  it('emit() calls the dispatch hook and carries its metadata', async () => {
    const client = newClient();
    await client.connect();
    const seen: unknown[] = [];
    client.setOnDispatchHook((packet) => {
      seen.push(packet.pattern);
    });
    await lastValueFrom(client.emit('notify', { n: 5 }));
    expect(seen).toEqual(['notify']);
  });

  it('emit(): a serializer failure is the error of the returned Observable, early or late', async () => {
    const client = newClient({
      serializer: {
        serialize(): SocketDEntity {
          throw new Error('cannot encode');
        },
      },
    });
    await client.connect();
    const sent = client.emit('notify', { n: 6 });
    expect(((await errorOf(lastValueFrom(sent))) as Error).message).toBe('cannot encode');
    expect(((await errorOf(lastValueFrom(sent))) as Error).message).toBe('cannot encode');
  });

  it('emit(): an asynchronous serializer still sends, in order', async () => {
    const client = newClient({
      serializer: {
        serialize(value: unknown): Promise<SocketDEntity> {
          return Promise.resolve({ data: JSON.stringify(value), metas: { 'Data-Type': 'application/json' } });
        },
      },
    });
    await client.connect();
    client.emit('notify', 1);
    await lastValueFrom(client.emit('notify', 2));
    await waitFor(() => state.events.length === 2);
    expect(state.events).toEqual([1, 2]);
  });

  it('emit() on a client whose connection fails errors the returned Observable', async () => {
    const client = newClient({ url: 'sd:tcp://127.0.0.1:1', connectTimeout: 2000 });
    expect(await errorOf(lastValueFrom(client.emit('notify', 1)))).toBeInstanceOf(Error);
  });
});
