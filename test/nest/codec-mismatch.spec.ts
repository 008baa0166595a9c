import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import type { ReceivedMessage } from '../../lib/session/types.js';
import {
  SocketDClient, SocketDDataTypeError, SocketDDeserializer, SocketDDeserializerMisuseError, SocketDRecordBuilder, SocketDServer, type SocketDDeserializerLike,
  type SocketDHandlingOptions,
} from '../../lib/nest/index.js';
import { decodeMessage } from '../../lib/nest/socketd.deserializer.js';
import { SocketDMsgpackDeserializer, SocketDMsgpackSerializer } from '../../lib/nest/socketd.msgpack.js';
import { state, TestAppModule } from './nest-test.app.js';
import { receivedMessage, within } from './nest-test.helpers.js';

/** A Nest logger that keeps its lines, so a test can count what was reported. */
class MemoryNestLogger implements LoggerService {
  readonly lines: string[] = [];
  log(m: unknown): void { this.lines.push(`log ${String(m)}`); }
  warn(m: unknown): void { this.lines.push(`warn ${String(m)}`); }
  error(m: unknown): void { this.lines.push(`error ${String(m)}`); }
  count(level: string, pattern: RegExp): number {
    return this.lines.filter((l) => l.startsWith(`${level} `) && pattern.test(l)).length;
  }
}

/** What a call failed with (its error value), or 'no error'. */
function failureOf(call: Promise<unknown>): Promise<unknown> {
  return within(call.then(() => 'no error', (err: unknown) => err), 20_000, 'the call to fail');
}

const msgpack = () => ({ serializer: new SocketDMsgpackSerializer(), deserializer: new SocketDMsgpackDeserializer() });
const identity: SocketDDeserializerLike = { deserialize: (message: ReceivedMessage) => message };

describe('the default deserializer and Data-Type', () => {
  const de = new SocketDDeserializer();

  it('reads JSON, text and bytes whatever the case or parameters of the type', () => {
    expect(de.deserialize(receivedMessage('{"a":1}', { 'Data-Type': 'application/json; charset=utf-8' }))).toEqual({ a: 1 });
    expect(de.deserialize(receivedMessage('[1]', { 'Data-Type': 'Application/JSON' }))).toEqual([1]);
    expect(de.deserialize(receivedMessage('{"title":"x"}', { 'Data-Type': 'application/problem+json' }))).toEqual({ title: 'x' });
    expect(de.deserialize(receivedMessage('<b>hi</b>', { 'Data-Type': 'text/html; charset=utf-8' }))).toBe('<b>hi</b>');
    expect(Buffer.isBuffer(de.deserialize(receivedMessage('ab', { 'Data-Type': 'application/octet-stream' })))).toBe(true);
  });

  it('refuses a type it does not read, naming it, instead of handing over the bytes', () => {
    for (const type of ['application/msgpack', 'image/png', 'application/x-protobuf']) {
      let thrown: unknown;
      try {
        de.deserialize(receivedMessage(Buffer.from([0x81, 0xa1, 0x61, 0x01]), { 'Data-Type': type }));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(SocketDDataTypeError);
      expect([(thrown as SocketDDataTypeError).dataType, (thrown as SocketDDataTypeError).code]).toEqual([type, 'SOCKETD_ERR_DATA_TYPE']);
    }
  });

  it('decodeMessage refuses a deserializer that returns the received message, synchronously or not', async () => {
    const message = receivedMessage('{"a":1}', { 'Data-Type': 'application/json' });
    expect(() => decodeMessage(identity, message)).toThrow(SocketDDeserializerMisuseError);
    await expect(decodeMessage({ deserialize: async (m: ReceivedMessage) => m }, message)).rejects.toThrow(/returned the received message itself/);
    expect(decodeMessage(new SocketDDeserializer(), message)).toEqual({ a: 1 });
  });
});

describe('codecs that do not match, end to end', () => {
  let app: INestMicroservice | undefined;
  let client: SocketDClient | undefined;
  let logs: MemoryNestLogger;

  async function start(serverCodec: SocketDHandlingOptions, clientCodec: SocketDHandlingOptions): Promise<SocketDClient> {
    logs = new MemoryNestLogger();
    const server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0', ...serverCodec });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: logs });
    await app.listen();
    client = new SocketDClient({ url: `sd:tcp://127.0.0.1:${server.address()!.port}`, ...clientCodec });
    return client;
  }

  afterEach(async () => {
    await client?.close();
    await app?.close();
    client = undefined;
    app = undefined;
    state.reset();
  });

  it('a msgpack client calling a JSON server: the call fails with an Alarm naming the type and the option to set', async () => {
    const caller = await start({}, msgpack());
    const err = await failureOf(firstValueFrom(caller.send('sum', [1, 2])));
    expect(err).toEqual({
      status: 'error',
      message: "Invalid request data: data of Data-Type 'application/msgpack', which the SocketDServer's deserializer does not read: "
        + "set the `deserializer` option of the SocketDServer to one that does (SocketDMsgpackDeserializer from 'nestjs-socketd/msgpack')",
    });
    // A Request (not only a Subscribe) too.
    const asRequest = new SocketDRecordBuilder([1, 2]).asRequest().build();
    expect(await failureOf(firstValueFrom(caller.send('sum', asRequest)))).toEqual(err);
  });

  it('a msgpack client emitting to a JSON server: the events are dropped, the type reported once', async () => {
    const caller = await start({}, msgpack());
    await lastValueFrom(caller.emit('notify', { n: 1 }), { defaultValue: undefined });
    await lastValueFrom(caller.emit('notify', { n: 2 }), { defaultValue: undefined });
    // A call on the same connection, answered after both events were decoded (in order).
    await failureOf(firstValueFrom(caller.send('sum', [1])));
    expect(state.events).toEqual([]);
    expect(logs.count('warn', /Data-Type 'application\/msgpack'.*SocketDServer.*dropping events with such data \(first: 'notify'\)/)).toBe(1);
    expect(logs.count('warn', /Data-Type 'application\/msgpack'/)).toBe(1);
  });

  it('a JSON client calling a msgpack server: the reply cannot be decoded and the call fails saying what to set', async () => {
    const caller = await start(msgpack(), {});
    const err = await failureOf(firstValueFrom(caller.send('sum', [1, 2])));
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("Socket.D: cannot decode the reply to 'sum': data of Data-Type 'application/msgpack', which the "
      + "SocketDClient's deserializer does not read: set the `deserializer` option of the SocketDClient to one that does "
      + "(SocketDMsgpackDeserializer from 'nestjs-socketd/msgpack')");
    expect(((err as Error).cause as SocketDDataTypeError).code).toBe('SOCKETD_ERR_DATA_TYPE');
  });

  it('a server deserializer that returns the message itself: callers get an internal error, the log says why, once', async () => {
    const caller = await start({ deserializer: identity }, {});
    expect(await failureOf(firstValueFrom(caller.send('sum', [1, 2])))).toEqual({ status: 'error', message: 'Internal server error' });
    expect(await failureOf(firstValueFrom(caller.send('sum', [3])))).toEqual({ status: 'error', message: 'Internal server error' });
    await lastValueFrom(caller.emit('notify', { n: 1 }), { defaultValue: undefined });
    await failureOf(firstValueFrom(caller.send('sum', [4])));
    expect(state.events).toEqual([]);
    expect(logs.count('error', /returned the received message itself/)).toBe(1);
  });

  it('a client deserializer that returns the message itself: the call fails with a clear message', async () => {
    const caller = await start({}, { deserializer: identity });
    const err = await failureOf(firstValueFrom(caller.send('sum', [1, 2])));
    expect((err as Error).message).toMatch(/^Socket.D: cannot decode the reply to 'sum': the deserializer's deserialize\(\) returned the received message itself/);
  });
});
