import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { SocketDClient, SocketDContext, SocketDServer } from '../../lib/nest/index.js';
import { DATA_TYPE_MSGPACK, SocketDMsgpackDeserializer, SocketDMsgpackSerializer } from '../../lib/nest/socketd.msgpack.js';
import { KINDS } from './nest-test.helpers.js';

@Controller()
class MsgpackController {
  @MessagePattern('echo')
  echo(@Payload() value: unknown, @Ctx() ctx: SocketDContext): unknown {
    return { value, dataType: ctx.getMessage().meta('Data-Type') };
  }

  @MessagePattern('items')
  items(@Payload() value: unknown[]): unknown {
    return from(value);
  }
}

@Module({ controllers: [MsgpackController] })
class MsgpackModule {}

const value = {
  bytes: Buffer.from([0, 1, 2, 255]),
  nested: [{ inner: { buf: Buffer.from('hé') } }],
  when: new Date(1_700_000_000_123),
  map: new Map<unknown, unknown>([['k', { n: 1n }], [2, [new Date(0)]]]),
  big: 2n ** 70n,
  neg: -(2n ** 63n),
  set: new Set(['a', 'b']),
  text: 'plain',
};

describe.each(KINDS)('msgpack codec through a real Nest server and client over %s', (kind) => {
  let app: INestMicroservice;
  let client: SocketDClient;

  beforeAll(async () => {
    const server = new SocketDServer({
      url: `sd:${kind}://127.0.0.1:0`,
      serializer: new SocketDMsgpackSerializer(),
      deserializer: new SocketDMsgpackDeserializer(),
    });
    app = await NestFactory.createMicroservice(MsgpackModule, { strategy: server, logger: false });
    await app.listen();
    client = new SocketDClient({
      url: `sd:${kind}://127.0.0.1:${server.address()!.port}`,
      serializer: new SocketDMsgpackSerializer(),
      deserializer: new SocketDMsgpackDeserializer(),
    });
  });

  afterAll(async () => {
    await client.close();
    await app.close();
  });

  it('round-trips nested Buffers, Dates, Maps, BigInts and Sets, marked application/msgpack', async () => {
    const answer = await firstValueFrom(client.send<{ value: typeof value; dataType: string }>('echo', value));
    expect(answer.dataType).toBe(DATA_TYPE_MSGPACK);
    expect(answer.value).toEqual(value);
    expect(Buffer.isBuffer(answer.value.bytes)).toBe(true);
    expect(Buffer.isBuffer(answer.value.nested[0]!.inner.buf)).toBe(true);
    expect(answer.value.when).toBeInstanceOf(Date);
    expect(answer.value.map).toBeInstanceOf(Map);
    expect(answer.value.map.get('k')).toEqual({ n: 1n });
    expect(answer.value.big).toBe(2n ** 70n);
  });

  it('streams items', async () => {
    const items = [1n, new Date(5), Buffer.from([7]), new Map([[1, 2]])];
    expect(await lastValueFrom(client.send('items', items).pipe(toArray()))).toEqual(items);
  });
});

describe('msgpack deserializer fallback', () => {
  it('reads JSON and unmarked data as the default deserializer does', () => {
    const d = new SocketDMsgpackDeserializer();
    const msg = (metaString: string, data: string) => ({
      metaString,
      data: Buffer.from(data),
      meta: (name: string) => (name === 'Data-Type' ? metaString.split('=')[1] : undefined),
      dataAsString: () => data,
    });
    expect(d.deserialize(msg('Data-Type=application/json', '{"a":1}') as never)).toEqual({ a: 1 });
    expect(d.deserialize(msg('', 'hello') as never)).toBe('hello');
    expect(new SocketDMsgpackSerializer().serialize(undefined)).toEqual({});
  });
});
