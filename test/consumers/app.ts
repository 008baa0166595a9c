// A consumer app of the packed package: a Nest microservice on SocketDServer and a Nest app
// whose ClientsModule client (SocketDClient) calls every mapping over a real socket, on tcp and
// ws. scripts/consumer-apps.mjs copies this file into each app of test/consumers (Nest 11
// CommonJS, Nest 12 ESM), compiles it with the app's own tsc (strict, skipLibCheck: false)
// and runs it; it prints one line per check, then "N passed, N failed", and exits 1 on a failure.
import 'reflect-metadata';
import { Controller, Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientsModule, Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { deepStrictEqual } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { finalize, firstValueFrom, interval, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { alarmCodeOf, SocketDClient, SocketDContext, SocketDRecordBuilder, SocketDServer } from 'nestjs-socketd';
import { SdClient } from 'nestjs-socketd/engine';

/** What the server saw: events received, streams whose teardown ran (a cancelled stream). */
const seen = { events: [] as string[], stoppedStreams: 0 };

@Controller()
class DemoController {
  @MessagePattern('value')
  value(@Payload() n: number): number {
    return n * 2;
  }

  @MessagePattern('promise')
  async promise(@Payload() n: number): Promise<{ doubled: number }> {
    await sleep(5);
    return { doubled: n * 2 };
  }

  // Never ends by itself: only the client's unsubscribe stops it (teardown -> finalize).
  @MessagePattern('stream')
  stream(): Observable<number> {
    return interval(10).pipe(finalize(() => seen.stoppedStreams++));
  }

  @MessagePattern('seen')
  seen(): typeof seen {
    return seen;
  }

  @EventPattern('audit')
  audit(@Payload() entry: { action: string }): void {
    seen.events.push(entry.action);
  }

  @MessagePattern('fail')
  fail(): never {
    throw new RpcException({ code: 4001, message: 'no such user' });
  }

  @MessagePattern('metas')
  metas(@Ctx() ctx: SocketDContext): Record<string, string | undefined> {
    return { trace: ctx.getMeta('trace'), tenant: ctx.getMetadata()['tenant'], client: ctx.getParam('client') };
  }
}

@Module({ controllers: [DemoController] })
class ServerModule {}

@Injectable()
class DemoClient {
  constructor(@Inject('DEMO') readonly proxy: ClientProxy) {}
}

function clientModule(url: string): new () => unknown {
  @Module({
    imports: [ClientsModule.register([{ name: 'DEMO', customClass: SocketDClient, options: { url, requestTimeout: 10_000 } }])],
    providers: [DemoClient],
  })
  class ClientModule {}
  return ClientModule;
}

let passed = 0;
let failed = 0;

async function check(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
    passed++;
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAILED ${name}: ${err instanceof Error ? err.stack : String(err)}`);
  }
}

/** Asks the server what it saw until `done` holds (10 s at most). */
async function waitForServer(proxy: ClientProxy, done: (state: typeof seen) => boolean): Promise<typeof seen> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = await firstValueFrom(proxy.send<typeof seen>('seen', {}));
    if (done(state) || Date.now() > deadline) return state;
    await sleep(20);
  }
}

async function callEveryMapping(transport: 'tcp' | 'ws'): Promise<void> {
  const strategy = new SocketDServer({ url: `sd:${transport}://127.0.0.1:0`, gracePeriod: 1_000 });
  const server = await NestFactory.createMicroservice(ServerModule, { strategy, logger: ['error', 'warn'] });
  await server.listen();
  const port = strategy.address()!.port;
  const clientApp = await NestFactory.createApplicationContext(clientModule(`sd:${transport}://127.0.0.1:${port}/?client=app`), {
    logger: ['error', 'warn'],
  });
  const proxy = clientApp.get(DemoClient).proxy;
  const socketd = clientApp.get<SocketDClient>('DEMO');
  socketd.setOnDispatchHook((packet) => {
    if (packet.pattern === 'metas') (packet as { metadata?: Record<string, string> }).metadata = { tenant: 't1' };
  });
  try {
    await check(`${transport} value`, async () => {
      deepStrictEqual(await firstValueFrom(proxy.send<number>('value', 21)), 42);
    });
    await check(`${transport} promise`, async () => {
      deepStrictEqual(await firstValueFrom(proxy.send('promise', 4)), { doubled: 8 });
    });
    await check(`${transport} stream, cancelled mid-stream`, async () => {
      const stopped = seen.stoppedStreams;
      deepStrictEqual(await lastValueFrom(proxy.send<number>('stream', {}).pipe(take(3), toArray())), [0, 1, 2]);
      const state = await waitForServer(proxy, (s) => s.stoppedStreams > stopped);
      deepStrictEqual(state.stoppedStreams, stopped + 1);
    });
    await check(`${transport} event`, async () => {
      await firstValueFrom(proxy.emit('audit', { action: `login-${transport}` }), { defaultValue: undefined });
      const state = await waitForServer(proxy, (s) => s.events.includes(`login-${transport}`));
      deepStrictEqual(state.events.includes(`login-${transport}`), true);
    });
    await check(`${transport} RpcException with a code`, async () => {
      const err: unknown = await firstValueFrom(proxy.send('fail', {})).then(() => new Error('no error'), (e: unknown) => e);
      deepStrictEqual(err, { code: 4001, message: 'no such user' });
      deepStrictEqual(alarmCodeOf(err), 4001);
    });
    await check(`${transport} metas`, async () => {
      const record = new SocketDRecordBuilder({}).setMetas({ trace: 'abc' }).build();
      deepStrictEqual(await firstValueFrom(proxy.send('metas', record)), { trace: 'abc', tenant: 't1', client: 'app' });
    });
    await check(`${transport} engine client`, async () => {
      const engine = new SdClient(`sd:${transport}://127.0.0.1:${port}`, { autoReconnect: false });
      try {
        const session = await engine.connect();
        deepStrictEqual((await session.request('value', '5')).dataAsString(), '10');
      } finally {
        await engine.close();
      }
    });
  } finally {
    await clientApp.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  await callEveryMapping('tcp');
  await callEveryMapping('ws');
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.log(`FAILED: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
