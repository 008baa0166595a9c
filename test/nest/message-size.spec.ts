import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { lastValueFrom, toArray } from 'rxjs';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SocketDClient, SocketDServer } from '../../lib/nest/index.js';
import { TestAppModule } from './nest-test.app.js';
import { errorOf, KINDS } from './nest-test.helpers.js';

const MIB = 1024 * 1024;

describe.each(KINDS)('a call over maxMessageSize through Nest, over %s', (kind) => {
  let app: INestMicroservice;
  let client: SocketDClient;

  beforeAll(async () => {
    const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    client = new SocketDClient({ url: `sd:${kind}://127.0.0.1:${server.address()!.port}`, logger: false });
  });

  afterAll(async () => {
    await client.close();
    await app.close();
  });

  it('fails alone with MESSAGE_TOO_LARGE before anything is sent, while a stream on the same client completes', async () => {
    const stream = lastValueFrom(client.send<number>('range', 20_000).pipe(toArray()));
    const err = await errorOf(lastValueFrom(client.send('bytes', Buffer.alloc(70 * MIB))));
    expect(isSocketDError(err, 'MESSAGE_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toMatch(/over maxMessageSize 67108864; nothing was sent/);
    const values = await stream;
    expect(values.length).toBe(20_000);
    expect(values[19_999]).toBe(19_999);
    const echoed = await lastValueFrom(client.send<Buffer>('bytes', Buffer.from([1, 2, 3])));
    expect(Buffer.from(echoed)).toEqual(Buffer.from([1, 2, 3]));
  });
});
