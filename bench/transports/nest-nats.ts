/**
 * Nest's NATS transport (`Transport.NATS`, @nats-io/transport-node) through a real
 * nats-server (bench/nats-broker.ts, started by the bench parent; its port is in
 * BENCH_NATS_PORT). Same controller as the other Nest rows (nest-app.ts); Nest's JSON
 * serializer, so a 1 MiB Buffer travels as a base64 string (as over Nest TCP).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { BenchAppModule } from './nest-app.js';
import { nestBenchClient } from './nest-client.js';
import { NATS_PORT_ENV, natsServerVersion } from '../nats-broker.js';

function natsPort(): number {
  const port = Number(process.env[NATS_PORT_ENV]);
  if (!port) throw new Error(`${NATS_PORT_ENV} not set: the bench parent starts nats-server`);
  return port;
}

const options = (port: number) => ({ servers: [`nats://127.0.0.1:${port}`] });

export const transport: BenchTransportModule = {
  async available() {
    if (!natsServerVersion()) return 'nats-server not installed';
    try {
      await import('@nats-io/transport-node');
    } catch {
      return '@nats-io/transport-node not installed';
    }
    return true;
  },

  bufferNote() {
    return 'base64 string in JSON';
  },

  async startServer(): Promise<BenchServerHandle> {
    const port = natsPort();
    const app = await NestFactory.createMicroservice(BenchAppModule, {
      transport: Transport.NATS,
      options: options(port),
      logger: ['error', 'warn'],
    });
    await app.listen();
    // the clients connect to the broker, not to this process
    return { port, close: () => app.close() };
  },

  async createClient(port: number): Promise<BenchClient> {
    const client: ClientProxy = ClientProxyFactory.create({ transport: Transport.NATS, options: options(port) });
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
