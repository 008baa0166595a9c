/**
 * Our transport through Nest: `SocketDServer` (strategy) + `SocketDClient` (ClientProxy),
 * both from lib/index.ts, over `sd:tcp` (kind `tcp`) or `sd:ws` (kind `ws`). Same controller
 * as the Nest TCP row (nest-app.ts). A 1 MiB Buffer is sent as is (binary payload).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { BenchAppModule } from './nest-app.js';
import { nestBenchClient } from './nest-client.js';
import { findPort, replyBytes, requireExports, type Lib } from './lib-loader.js';
import { benchServerOptions } from './index.js';

const HOST = '127.0.0.1';
const NEEDS = ['SocketDServer', 'SocketDClient'] as const;

async function lib(): Promise<Lib> {
  const l = await requireExports(NEEDS);
  if (typeof l === 'string') throw new Error(l);
  return l;
}

export const transport: BenchTransportModule = {
  async available() {
    const l = await requireExports(NEEDS);
    return typeof l === 'string' ? l : true;
  },

  bufferNote() {
    return 'Buffer as is';
  },

  async startServer(kind: string): Promise<BenchServerHandle> {
    const { SocketDServer } = await lib();
    const strategy = new SocketDServer({ ...benchServerOptions(), url: `sd:${kind}://${HOST}:0` });
    const app = await NestFactory.createMicroservice(BenchAppModule, { strategy, logger: ['error', 'warn'] });
    await app.listen();
    const port = findPort(strategy) ?? findPort(app);
    if (!port) throw new Error('socketd-nest: cannot find the bound port (expected server.unwrap()/address())');
    return { port, close: () => app.close() };
  },

  async createClient(port: number, kind: string): Promise<BenchClient> {
    const { SocketDClient } = await lib();
    const client = new SocketDClient({ url: `sd:${kind}://${HOST}:${port}` }) as ClientProxy;
    await client.connect();
    return nestBenchClient(client, {
      async echoBuffer(buf) {
        return replyBytes(await firstValueFrom(client.send('buf', buf)));
      },
      async put(buf) {
        return Number(await firstValueFrom(client.send('put', buf)));
      },
    });
  },
};
