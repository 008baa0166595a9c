/**
 * Issue 9: a Nest app and plain (upstream-like) Socket.D peers, both ways, over real sockets:
 * calls that complete against any server (Request unless the Connack announces X-Nest-Stream),
 * payloads as other peers expect them (text unquoted, bytes untouched), Alarm codes, and the
 * requestTimeout / streamTimeout bounds of send().
 */
import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { isSocketDError, type SocketDError } from '../../lib/protocol/errors.js';
import { SdClient, SdServer } from '../../lib/engine.js';
import type { ReceivedMessage, Session } from '../../lib/session/types.js';
import { alarmCodeOf, SocketDClient, SocketDRecordBuilder, SocketDServer, type SocketDClientOptions } from '../../lib/nest/index.js';
import { interopState, InteropAppModule, type Described } from './interop-test.app.js';
import { errorOf, KINDS, within } from './nest-test.helpers.js';

/** 5 bytes that are not valid UTF-8 (0xff never occurs in UTF-8; 0x80 is a lone continuation byte). */
const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x01]);

/** What the upstream-like server saw of one call. */
interface Seen {
  event: string;
  kind: 'request' | 'subscribe' | 'message';
  data: Buffer;
  metaString: string;
}

/**
 * A raw engine server answering as an upstream Java/JS/Python server does: exactly one Reply
 * to any Request or Subscribe (never a ReplyEnd), data without Data-Type, Alarms with `code`.
 */
function upstreamServer(kind: string, seen: Seen[]): SdServer {
  return new SdServer(`sd:${kind}://127.0.0.1:0`, {
    logger: false,
    onMessage: (session: Session, message: ReceivedMessage) => {
      seen.push({
        event: message.event,
        kind: message.isSubscribe ? 'subscribe' : message.isRequest ? 'request' : 'message',
        data: Buffer.from(message.data),
        metaString: message.metaString,
      });
      if (!message.isRequest) return;
      switch (message.event) {
        case 'text':
          session.reply(message, 'hello world');
          break;
        case 'json':
          session.reply(message, '{"id":1,"name":"ann"}');
          break;
        case 'bytes':
          session.reply(message, BINARY);
          break;
        case 'echo':
          session.reply(message, message.data);
          break;
        case 'fail':
          session.alarm(message, 'no such user', { code: '4001' });
          break;
        case 'silent':
          break;
        default:
          session.alarm(message, `no handler for ${message.event}`);
      }
    },
  });
}

describe.each(KINDS)('SocketDClient calling an upstream-like Socket.D server over %s', (kind) => {
  let upstream: SdServer;
  let url: string;
  const seen: Seen[] = [];
  const clients: SocketDClient[] = [];
  const newClient = (options: SocketDClientOptions = {}) => {
    const c = new SocketDClient({ url, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    upstream = upstreamServer(kind, seen);
    await upstream.listen();
    url = `sd:${kind}://127.0.0.1:${upstream.address()!.port}`;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await upstream.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('send() is a Request toward a server without X-Nest-Stream, and completes with its one Reply', async () => {
    const client = newClient();
    const values = await within(lastValueFrom(client.send('text', 'x').pipe(toArray())), 5_000, 'the call to complete');
    expect(values).toEqual(['hello world']);
    expect(seen.map((s) => [s.event, s.kind])).toEqual([['text', 'request']]);
    expect(client.session?.handshake.params['X-Nest-Stream']).toBeUndefined();
  });

  it('reads unmarked JSON as its value and unmarked text as a string', async () => {
    const client = newClient();
    expect(await firstValueFrom(client.send('json', {}))).toEqual({ id: 1, name: 'ann' });
    expect(await firstValueFrom(client.send('text', {}))).toBe('hello world');
  });

  it('hands unmarked binary data over as a Buffer, byte for byte', async () => {
    const client = newClient();
    const value = await firstValueFrom(client.send<Buffer>('bytes', {}));
    expect(Buffer.isBuffer(value)).toBe(true);
    expect(value.equals(BINARY)).toBe(true);
  });

  it('sends a string as raw text (Data-Type=text/plain), bytes raw, objects as JSON', async () => {
    const client = newClient();
    expect(await firstValueFrom(client.send('echo', 'hi'))).toBe('hi');
    expect(await firstValueFrom(client.send('echo', '42'))).toBe(42); // unmarked on the way back: read leniently
    const bytes = await firstValueFrom(client.send<Buffer>('echo', BINARY));
    expect(Buffer.isBuffer(bytes) && bytes.equals(BINARY)).toBe(true);
    expect(await firstValueFrom(client.send('echo', { a: [1, 'x'] }))).toEqual({ a: [1, 'x'] });
    expect(seen.map((s) => [s.data.toString('latin1'), s.metaString])).toEqual([
      ['hi', 'Data-Type=text/plain'],
      ['42', 'Data-Type=text/plain'],
      [BINARY.toString('latin1'), 'Data-Type=application/octet-stream'],
      ['{"a":[1,"x"]}', 'Data-Type=application/json'],
    ]);
  });

  it('fails with the Alarm: its text and its code', async () => {
    const client = newClient();
    const err = (await errorOf(firstValueFrom(client.send('fail', {})))) as SocketDError;
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect(err.message).toBe('no such user');
    expect(err.details?.['alarmCode']).toBe(4001);
    expect(alarmCodeOf(err)).toBe(4001);
  });

  it('callMode subscribe (or a record mode) forces a Subscribe, which only streamTimeout ends', async () => {
    const client = newClient({ callMode: 'subscribe', streamTimeout: 300 });
    const values: unknown[] = [];
    const err = await new Promise<unknown>((resolve) => {
      client.send('text', {}).subscribe({ next: (v) => values.push(v), error: resolve, complete: () => resolve('NO ERROR') });
    });
    expect(values).toEqual(['hello world']);
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    expect((err as Error).message).toBe("streamTimeout 300 ms: 'text' did not end");
    // The record's mode wins over the client's callMode.
    expect(await firstValueFrom(client.send('text', new SocketDRecordBuilder({}).asRequest().build()))).toBe('hello world');
    expect(seen.map((s) => s.kind)).toEqual(['subscribe', 'request']);
  });

  it('a Request nobody answers fails after requestTimeout, naming it', async () => {
    const client = newClient({ requestTimeout: 300 });
    const started = Date.now();
    const err = await errorOf(firstValueFrom(client.send('silent', {})));
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    expect((err as Error).message).toBe("requestTimeout 300 ms: no first answer to 'silent'");
    expect(Date.now() - started).toBeLessThan(5_000);
    // Per call.
    const perCall = await errorOf(firstValueFrom(client.send('silent', new SocketDRecordBuilder({}).setRequestTimeout(150).build())));
    expect((perCall as Error).message).toBe("requestTimeout 150 ms: no first answer to 'silent'");
  });
});

describe.each(KINDS)('a Nest service called by a raw Socket.D client over %s', (kind) => {
  let app: INestMicroservice;
  let peer: SdClient;

  beforeAll(async () => {
    const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app = await NestFactory.createMicroservice(InteropAppModule, { strategy: server, logger: false });
    await app.listen();
    peer = new SdClient(`sd:${kind}://127.0.0.1:${server.address()!.port}`, { logger: false });
    await peer.connect();
  });

  afterAll(async () => {
    await peer.close();
    await app.close();
  });

  beforeEach(() => interopState.reset());

  it('announces X-Nest-Stream=1 in the Connack', () => {
    expect(peer.session?.handshake.params['X-Nest-Stream']).toBe('1');
  });

  it('hands unmarked text to handlers as a string, and answers a string unquoted as text/plain', async () => {
    const described = await peer.request('describe', 'hi');
    expect(JSON.parse(described.dataAsString())).toEqual({ type: 'string', value: 'hi' });
    const greeting = await peer.request('greet', 'ann');
    expect(greeting.dataAsString()).toBe('hello ann');
    expect(greeting.meta('Data-Type')).toBe('text/plain');
  });

  it('hands unmarked binary data to handlers as a Buffer, byte for byte', async () => {
    const described = await peer.request('describe', BINARY);
    expect(JSON.parse(described.dataAsString())).toEqual({ type: 'buffer', value: [...BINARY] });
  });

  it('sends an RpcException code as the Alarm\'s code meta', async () => {
    const err = (await errorOf(peer.request('user.get', '{}'))) as SocketDError;
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect(err.message).toBe('no such user');
    expect(err.details?.['alarmCode']).toBe(4001);
    expect((err.details?.['alarm'] as ReceivedMessage).meta('code')).toBe('4001');
    // A code that is no integer stays in the Nest value only.
    const bad = (await errorOf(peer.request('user.bad-code', '{}'))) as SocketDError;
    expect(bad.message).toBe('no such user');
    expect(bad.details?.['alarmCode']).toBe(0);
  });
});

describe.each(KINDS)('SocketDClient calling a Nest service over %s', (kind) => {
  let app: INestMicroservice;
  let url: string;
  const clients: SocketDClient[] = [];
  const newClient = (options: SocketDClientOptions = {}) => {
    const c = new SocketDClient({ url, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app = await NestFactory.createMicroservice(InteropAppModule, { strategy: server, logger: false });
    await app.listen();
    url = `sd:${kind}://127.0.0.1:${server.address()!.port}`;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await app.close();
  });

  beforeEach(() => interopState.reset());

  it('streams (a Subscribe, as the Connack announced)', async () => {
    const client = newClient();
    expect(await lastValueFrom(client.send('slow-stream', 3).pipe(toArray()))).toEqual([0, 1, 2]);
  });

  it('keeps every value type as it was: what the handler gets and what the client gets back', async () => {
    const client = newClient();
    const cases: [unknown, Described['type']][] = [
      ['hi', 'string'], ['', 'string'], ['42', 'string'], ['{"not":"parsed"}', 'string'], ['true', 'string'],
      [42, 'number'], [true, 'boolean'], [{ a: [1, 'x'] }, 'object'], [[1, 2], 'object'], [Buffer.from(BINARY), 'buffer'],
    ];
    for (const [value, type] of cases) {
      const described = await firstValueFrom(client.send<Described>('describe', value));
      expect(described.type).toBe(type);
      const echoed = await firstValueFrom(client.send('echo', value));
      expect(echoed).toEqual(value);
      expect(Buffer.isBuffer(echoed)).toBe(Buffer.isBuffer(value));
    }
  });

  it('gives the Nest error value of an RpcException with its code', async () => {
    const client = newClient();
    const err = await errorOf(firstValueFrom(client.send('user.get', {})));
    expect(err).toEqual({ code: 4001, message: 'no such user' });
    expect(alarmCodeOf(err)).toBe(4001);
  });

  it('requestTimeout fails a call whose handler never answers, and stops the handler', async () => {
    const client = newClient({ requestTimeout: 300 });
    const started = Date.now();
    const err = await errorOf(firstValueFrom(client.send('hang', {})));
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    expect((err as SocketDError).message).toBe("requestTimeout 300 ms: no first answer to 'hang'");
    expect((err as SocketDError).details).toMatchObject({ timeout: 'requestTimeout', ms: 300, event: 'hang' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // The Subscribe was cancelled: the server unsubscribed the handler's Observable.
    await within(interopState.hangStopped.promise, 5_000, 'the handler to be unsubscribed');
  });

  it('requestTimeout per call, through the record builder (and in request mode)', async () => {
    const client = newClient();
    const sub = await errorOf(firstValueFrom(client.send('hang', new SocketDRecordBuilder({}).setRequestTimeout(200).build())));
    expect((sub as Error).message).toBe("requestTimeout 200 ms: no first answer to 'hang'");
    const req = await errorOf(firstValueFrom(client.send('hang', new SocketDRecordBuilder({}).setRequestTimeout(200).asRequest().build())));
    expect(isSocketDError(req, 'TIMEOUT')).toBe(true);
    expect((req as Error).message).toBe("requestTimeout 200 ms: no first answer to 'hang'");
  });

  it('requestTimeout bounds only the first answer; streamTimeout the whole stream', async () => {
    const client = newClient({ requestTimeout: 250 });
    // 5 values 100 ms apart: 500 ms in all, the first within 250 ms.
    expect(await lastValueFrom(client.send('slow-stream', 5).pipe(toArray()))).toEqual([0, 1, 2, 3, 4]);
    // A first value after 600 ms misses the 250 ms bound.
    expect(((await errorOf(firstValueFrom(client.send('late', 600)))) as Error).message).toBe("requestTimeout 250 ms: no first answer to 'late'");
    // One value, then no end: streamTimeout (per call) fails it after the value.
    const values: unknown[] = [];
    const err = await new Promise<unknown>((resolve) => {
      client
        .send('first-then-hang', new SocketDRecordBuilder({}).setStreamTimeout(300).build())
        .subscribe({ next: (v) => values.push(v), error: resolve, complete: () => resolve('NO ERROR') });
    });
    expect(values).toEqual([1]);
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    expect((err as SocketDError).message).toBe("streamTimeout 300 ms: 'first-then-hang' did not end");
    expect((err as SocketDError).details).toMatchObject({ timeout: 'streamTimeout', ms: 300 });
  });

  it('callMode request sends Requests even to a Nest server: one answer, or an error for a stream', async () => {
    const client = newClient({ callMode: 'request' });
    expect(await lastValueFrom(client.send('slow-stream', 1).pipe(toArray()))).toEqual([0]);
    const err = await errorOf(lastValueFrom(client.send('slow-stream', 3).pipe(toArray())));
    expect(JSON.stringify(err)).toMatch(/produces several values, but a Request has one answer/);
  });

  it('a server whose onHandshake removes X-Nest-Stream gets Requests from clients in auto mode', async () => {
    const server = new SocketDServer({
      url: `sd:${kind}://127.0.0.1:0`,
      onHandshake: (_handshake, outMetas) => {
        delete outMetas['X-Nest-Stream'];
      },
    });
    const plain = await NestFactory.createMicroservice(InteropAppModule, { strategy: server, logger: false });
    await plain.listen();
    const client = new SocketDClient({ url: `sd:${kind}://127.0.0.1:${server.address()!.port}` });
    try {
      // A Request: one value answers it; a stream fails with the fix, never its first value alone.
      expect(await lastValueFrom(client.send('slow-stream', 1).pipe(toArray()))).toEqual([0]);
      const err = await errorOf(lastValueFrom(client.send('slow-stream', 3).pipe(toArray())));
      expect(JSON.stringify(err)).toMatch(/produces several values, but a Request has one answer/);
      expect(client.session?.handshake.params['X-Nest-Stream']).toBeUndefined();
    } finally {
      await client.close();
      await plain.close();
    }
  });
});
