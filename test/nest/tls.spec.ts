import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SocketDClient, SocketDServer } from '../../lib/index.js';
import { generateTestCerts } from '../transports/tls-certs.js';
import { TestAppModule } from './nest-test.app.js';
import { errorOf } from './nest-test.helpers.js';

describe('SocketDServer and SocketDClient over TLS (mutual, sd:tcps)', () => {
  const certs = generateTestCerts();
  let app: INestMicroservice;
  let server: SocketDServer;
  let url: string;
  const clients: SocketDClient[] = [];

  beforeAll(async () => {
    server = new SocketDServer({
      url: 'sd:tcps://127.0.0.1:0',
      tls: { key: certs.server.key, cert: certs.server.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
      logger: false,
    });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    url = `sd:tcps://127.0.0.1:${server.address()!.port}`;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await app.close();
  });

  it('answers requests and streams to a client with a certificate signed by the CA', async () => {
    const client = new SocketDClient({ url, tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key } });
    clients.push(client);
    expect(await firstValueFrom(client.send('sum', [1, 2, 3]))).toBe(6);
    const items = await lastValueFrom(client.send<number>('range', 1000).pipe(toArray()));
    expect(items).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('a client without a certificate fails with SOCKETD_ERR_TLS', async () => {
    const client = new SocketDClient({ url, tls: { ca: certs.ca }, autoReconnect: false, logger: false });
    clients.push(client);
    const err = await errorOf(client.connect());
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect((err as Error).message).toMatch(/requires a client certificate/);
  });
});
