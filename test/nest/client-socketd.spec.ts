import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Inject, Injectable, Module, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientProxyFactory, ClientsModule, Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { isSocketDError } from '../../lib/protocol/errors.js';
import {
  SocketDClient,
  SocketDClientStrategy,
  SocketDContext,
  SocketDServer,
  SocketDStatus,
  type SocketDClientOptions,
} from '../../lib/nest/index.js';
import { TestAppModule } from './nest-test.app.js';
import { deferred, KINDS, waitFor, within } from './nest-test.helpers.js';

const SD = 'SD_CLIENT';

async function startServer(kind: string, port = 0, extra: Partial<ConstructorParameters<typeof SocketDServer>[0]> = {}) {
  const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:${port}`, ...extra });
  const app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
  await app.listen();
  return { app, server, url: `sd:${kind}://127.0.0.1:${server.address()!.port}` };
}

@Injectable()
class SumService {
  constructor(@Inject(SD) readonly client: ClientProxy) {}
  sum(values: number[]): Promise<number> {
    return firstValueFrom(this.client.send<number>('sum', values));
  }
}

/** The client app's handlers for what the server starts on the connection. */
const fromServer = { news: deferred<unknown>(), newsCtxPattern: '' };

@Controller()
class ClientSideController {
  @MessagePattern('client.ping')
  ping(@Payload() data: unknown, @Ctx() ctx: SocketDContext): unknown {
    return { pong: data, via: ctx.getPattern() };
  }

  // The explicit type argument picks EventPattern's untyped overload: under strict the typed one
  // wants every parameter after the data to accept unknown, which a typed @Ctx() does not.
  @EventPattern<string>('client.news')
  news(@Payload() data: unknown, @Ctx() ctx: SocketDContext): void {
    fromServer.newsCtxPattern = ctx.getPattern();
    fromServer.news.resolve(data);
  }
}

describe.each(KINDS)('SocketDClient over %s', (kind) => {
  let serverApp: INestMicroservice;
  let server: SocketDServer;
  let url: string;

  beforeAll(async () => {
    ({ app: serverApp, server, url } = await startServer(kind));
  });

  afterAll(async () => {
    await serverApp.close();
  });

  it('works as a ClientsModule customClass (register and registerAsync)', async () => {
    @Module({
      imports: [ClientsModule.register([{ name: SD, customClass: SocketDClient, options: { url } satisfies SocketDClientOptions }])],
      providers: [SumService],
    })
    class SyncModule {}
    @Module({
      imports: [
        ClientsModule.registerAsync([
          { name: SD, useFactory: async () => ({ customClass: SocketDClient, options: { url } }) },
        ]),
      ],
      providers: [SumService],
    })
    class AsyncModule {}

    for (const module of [SyncModule, AsyncModule]) {
      const ctx = await NestFactory.createApplicationContext(module, { logger: false });
      try {
        const service = ctx.get(SumService);
        expect(service.client).toBeInstanceOf(SocketDClient);
        expect(await service.sum([10, 20, 12])).toBe(42);
        // One shared connection for every call.
        const session = (service.client as SocketDClient).session;
        expect(await service.sum([1])).toBe(1);
        expect((service.client as SocketDClient).session).toBe(session);
      } finally {
        await ctx.close();
      }
    }
  });

  it('works from ClientProxyFactory.create', async () => {
    const client = ClientProxyFactory.create({ customClass: SocketDClient, options: { url } });
    try {
      expect(client).toBeInstanceOf(SocketDClient);
      expect(await firstValueFrom(client.send('sum', [3, 4]))).toBe(7);
      expect(client.unwrap()).toBeDefined();
    } finally {
      await client.close();
    }
  });

  it('reports status across a server restart and reconnects', async () => {
    const first = await startServer(kind);
    const port = first.server.address()!.port;
    const client = new SocketDClient({ url: first.url, reconnectDelay: 50, maxReconnectDelay: 200 });
    const viaEvent: string[] = [];
    const viaObservable: string[] = [];
    client.on('status', (status) => viaEvent.push(status));
    const subscription = client.status.subscribe((status) => viaObservable.push(status));
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      expect(await firstValueFrom(client.send('sum', [1, 1]))).toBe(2);
      expect(viaEvent).toEqual([SocketDStatus.CONNECTING, SocketDStatus.CONNECTED]);

      await first.app.close();
      await waitFor(() => viaEvent.includes(SocketDStatus.DISCONNECTED), 20_000, 'disconnected');
      await waitFor(() => viaEvent.includes(SocketDStatus.RECONNECTING), 20_000, 'reconnecting');

      second = await startServer(kind, port);
      await waitFor(() => viaEvent.at(-1) === SocketDStatus.CONNECTED, 30_000, 'connected again');
      expect(viaEvent.slice(0, 4)).toEqual([
        SocketDStatus.CONNECTING,
        SocketDStatus.CONNECTED,
        SocketDStatus.DISCONNECTED,
        SocketDStatus.RECONNECTING,
      ]);
      expect(viaObservable.at(-1)).toBe(SocketDStatus.CONNECTED);
      expect(await firstValueFrom(client.send('sum', [2, 3]))).toBe(5);
    } finally {
      subscription.unsubscribe();
      await client.close();
      await second?.app.close();
    }
  });

  it('lets the server request and push to the client app (SocketDClientStrategy)', async () => {
    fromServer.news = deferred<unknown>();
    @Module({
      imports: [ClientsModule.register([{ name: SD, customClass: SocketDClient, options: { url } }])],
      controllers: [ClientSideController],
    })
    class ClientAppModule {}
    const clientApp = await NestFactory.create(ClientAppModule, { logger: false });
    try {
      const client = clientApp.get<SocketDClient>(SD);
      clientApp.connectMicroservice({ strategy: new SocketDClientStrategy(client) });
      await clientApp.startAllMicroservices();
      await clientApp.init();

      // The server handler asks the client over the same connection (ctx.request).
      expect(await firstValueFrom(client.send('ask-client', { n: 1 }))).toEqual({
        fromClient: { pong: { n: 1 }, via: 'client.ping' },
      });

      // The server reaches every client with a Message.
      await waitFor(() => server.sessions.size > 0, 20_000, 'a session');
      expect(await server.broadcast('client.news', { headline: 'hi' })).toBeGreaterThan(0);
      expect(await within(fromServer.news.promise, 20_000, 'the broadcast')).toEqual({ headline: 'hi' });
      expect(fromServer.newsCtxPattern).toBe('client.news');
    } finally {
      await clientApp.close();
    }
  });

  it('answers server requests with "no handler" when the client app serves nothing', async () => {
    const client = new SocketDClient({ url });
    try {
      const err = await firstValueFrom(client.send('ask-client', {})).catch((e: unknown) => e);
      expect(err).toEqual({ status: 'error', message: 'Internal server error' });
    } finally {
      await client.close();
    }
  });

  it('refuses clients through the handshake hook', async () => {
    const guarded = await startServer(kind, 0, { onHandshake: (handshake) => handshake.params['token'] === 'secret' });
    const refused = new SocketDClient({ url: `${guarded.url}?token=wrong`, autoReconnect: false });
    const accepted = new SocketDClient({ url: `${guarded.url}?token=secret` });
    try {
      const err = await firstValueFrom(refused.send('sum', [1])).catch((e: unknown) => e);
      expect(isSocketDError(err, 'HANDSHAKE_REJECTED')).toBe(true);
      expect(await firstValueFrom(accepted.send('sum', [1, 2]))).toBe(3);
    } finally {
      await refused.close();
      await accepted.close();
      await guarded.app.close();
    }
  });

  it('lets in-flight handlers finish on a graceful close', async () => {
    const slow = await startServer(kind, 0, { gracePeriod: 10_000 });
    const client = new SocketDClient({ url: slow.url, autoReconnect: false });
    try {
      await client.connect();
      const answer = firstValueFrom(client.send('slow', 300));
      await waitFor(() => slow.server.pendingHandlers === 1, 20_000, 'the handler to start');
      const closing = slow.app.close();
      expect(await answer).toBe('done after 300 ms');
      await closing;
      expect(slow.server.pendingHandlers).toBe(0);
    } finally {
      await client.close();
    }
  });
});

@Controller('http')
class HealthController {
  @Get('health')
  health() {
    return { ok: true };
  }
}

@Module({ imports: [TestAppModule], controllers: [HealthController] })
class HybridAppModule {}

describe.each(KINDS)('hybrid app over %s', (kind) => {
  let app: INestApplication;
  let server: SocketDServer;

  afterEach(async () => {
    await app?.close();
  });

  it('serves HTTP (Express) and Socket.D handlers from one NestFactory.create + connectMicroservice app', async () => {
    app = await NestFactory.create(HybridAppModule, { logger: false });
    server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app.connectMicroservice({ strategy: server }, { inheritAppConfig: true });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    const httpPort = (app.getHttpServer().address() as { port: number }).port;
    const client = new SocketDClient({ url: `sd:${kind}://127.0.0.1:${server.address()!.port}` });
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/http/health`);
      expect(await res.json()).toEqual({ ok: true });
      expect(await firstValueFrom(client.send('sum', [5, 6]))).toBe(11);
      expect(await firstValueFrom(client.send('only-sd', {}))).toBe('socket.d');
    } finally {
      await client.close();
    }
  });
});
