/**
 * Nest's built-in TCP transport (`Transport.TCP`): JSON frames `<len>#<json>`.
 * A 1 MiB Buffer travels as a base64 string, as a Nest user would send it (a Buffer as is
 * becomes `{"type":"Buffer","data":[...]}`, ~3.6 bytes of JSON per byte).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { BenchAppModule } from './nest-app.js';
import { nestBenchClient } from './nest-client.js';

const HOST = '127.0.0.1';

export const transport: BenchTransportModule = {
  async available() {
    return true;
  },

  bufferNote() {
    return 'base64 string in JSON';
  },

  async startServer(): Promise<BenchServerHandle> {
    const app = await NestFactory.createMicroservice(BenchAppModule, {
      transport: Transport.TCP,
      options: { host: HOST, port: 0 },
      logger: ['error', 'warn'],
    });
    await app.listen();
    const port = (app.unwrap<import('node:net').Server>().address() as AddressInfo).port;
    return { port, close: () => app.close() };
  },

  async createClient(port: number): Promise<BenchClient> {
    const client: ClientProxy = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: HOST, port } });
    await client.connect();
    return nestBenchClient(client, {
      async echoBuffer(buf) {
        const r = await firstValueFrom(client.send<string>('buf', buf.toString('base64')));
        return Buffer.from(r, 'base64').length;
      },
      put: (buf) => firstValueFrom(client.send<number>('put', buf.toString('base64'))),
    });
  },
};
