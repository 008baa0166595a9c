/**
 * The browser client's API (lib/browser/browser-client.ts, rx.ts, codec.ts) in Node: its own
 * WebSocket transport over the `ws` package standing in for the browser's WebSocket, against
 * an engine server and a real Nest server. test/browser/browser-page.spec.ts runs the bundle
 * in Chromium.
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { lastValueFrom, map, toArray } from 'rxjs';
import WebSocket from 'ws';
import { listen, registerTransport, wsTransport, type SdServer } from '../../lib/engine.js';
import { InboundMessage } from '../../lib/session/received-message.js';
import { Flags } from '../../lib/protocol/flags.js';
import { SocketDBrowserClient, type BrowserMessage } from '../../lib/browser/browser-client.js';
import { ReceivedBrowserMessage } from '../../lib/browser/browser-message.js';
import { BrowserWsClientTransport } from '../../lib/browser/browser-transport.js';
import { decodeData, decodeJson } from '../../lib/browser/codec.js';
import { observeStream } from '../../lib/browser/rx.js';
import { SocketDServer } from '../../lib/nest/index.js';
import { TestAppModule } from '../nest/nest-test.app.js';
import { within } from '../nest/nest-test.helpers.js';

// The browser transport dials with the global WebSocket: `ws` plays the browser's here.
(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
registerTransport({ ...wsTransport, client: new BrowserWsClientTransport() }, { replace: true });

const bytes = (text: string) => new TextEncoder().encode(text);
const received = (data: string | Uint8Array, metaString = '') =>
  new ReceivedBrowserMessage(new InboundMessage({ flag: Flags.Reply, sid: 's', event: 'e', metaString, data: Buffer.from(data) }));

describe('decoding by Data-Type', () => {
  it('value: JSON for application/json, the string for text/*, bytes for other types', () => {
    expect(decodeData(bytes('{"a":[1]}'), 'application/json')).toEqual({ a: [1] });
    expect(decodeData(bytes('{"a":1}'), 'application/problem+json; charset=utf-8')).toEqual({ a: 1 });
    expect(decodeData(bytes(''), 'application/json')).toBeUndefined();
    expect(decodeData(bytes('Hello, web page'), 'text/plain')).toBe('Hello, web page');
    expect(decodeData(bytes('42'), 'text/plain')).toBe('42');
    expect(decodeData(bytes('{"a":1}'), 'application/octet-stream')).toEqual(bytes('{"a":1}'));
    expect(decodeData(new Uint8Array([0x81, 0xa1]), 'application/msgpack')).toEqual(new Uint8Array([0x81, 0xa1]));
  });

  it('value of unmarked data (upstream peers): JSON text parsed, other text as it is, non-UTF-8 bytes as bytes', () => {
    expect(decodeData(bytes('{"id":1}'), undefined)).toEqual({ id: 1 });
    expect(decodeData(bytes('hello'), undefined)).toBe('hello');
    expect(decodeData(bytes('-'), undefined)).toBe('-');
    expect(decodeData(new Uint8Array([0xff, 0x00]), undefined)).toEqual(new Uint8Array([0xff, 0x00]));
    expect(decodeData(new Uint8Array(0), undefined)).toBeUndefined();
  });

  it('json(): the string itself for text/*, parsed for JSON and unmarked data, an error for bytes', () => {
    expect(decodeJson(bytes('Hello, web page'), 'text/plain')).toBe('Hello, web page');
    expect(decodeJson(bytes('[1,2]'), 'application/json')).toEqual([1, 2]);
    expect(decodeJson(bytes('[1,2]'), undefined)).toEqual([1, 2]);
    expect(() => decodeJson(bytes('hello'), undefined)).toThrow(SyntaxError);
    expect(() => decodeJson(bytes('x'), 'application/octet-stream')).toThrow("the data is 'application/octet-stream', not JSON: read it with bytes() or value");
  });

  it('a message: text(), json(), bytes() and value agree with its Data-Type', () => {
    const text = received('Hello, web page', 'Data-Type=text/plain');
    expect([text.dataType, text.text(), text.json(), text.value]).toEqual(['text/plain', 'Hello, web page', 'Hello, web page', 'Hello, web page']);
    expect(text.bytes()).toEqual(bytes('Hello, web page'));
    const json = received('{"id":1}', 'Data-Type=application/json');
    expect([json.text(), json.json(), json.value]).toEqual(['{"id":1}', { id: 1 }, { id: 1 }]);
    expect(json.value).toBe(json.value);
    const raw = received(new Uint8Array([1, 2, 3]), 'Data-Type=application/octet-stream');
    expect([raw.value, raw.bytes()]).toEqual([new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])]);
    expect(() => raw.json()).toThrow(TypeError);
  });
});

describe('the browser client against an engine server streaming as upstream peers do', () => {
  let server: SdServer;
  let client: SocketDBrowserClient;

  beforeAll(async () => {
    server = await listen('sd:ws://127.0.0.1:0', {
      logger: false,
      onMessage(session, message) {
        if (message.event === '/typed') {
          const type = message.meta('as');
          session.replyEnd(message, message.data, type === undefined ? undefined : { 'Data-Type': type });
        } else if (message.event === '/upstream') {
          session.reply(message, '1');
          session.reply(message, '2');
          session.replyEnd(message, '3');
        } else if (message.event === '/end-metas') {
          session.reply(message, 'a');
          session.replyEnd(message, undefined, { note: 'bye' });
        }
      },
    });
    client = new SocketDBrowserClient(`sd:ws://127.0.0.1:${server.address()!.port}`);
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  const run = (event: string) => new Promise<{ values: string[]; end: BrowserMessage | undefined }>((resolve, reject) => {
    const values: string[] = [];
    client.subscribe(event, undefined, { next: (m) => values.push(m.text()), complete: (end) => resolve({ values, end }), error: reject }).catch(reject);
  });

  it('next sees every value, the ReplyEnd\'s data too; complete carries nothing', async () => {
    const upstream = await within(run('/upstream'), 20_000, '/upstream');
    expect(upstream).toEqual({ values: ['1', '2', '3'], end: undefined });
    const metasOnly = await within(run('/end-metas'), 20_000, '/end-metas');
    expect(metasOnly.values).toEqual(['a']);
    expect([metasOnly.end?.data.length, metasOnly.end?.metas['note']]).toEqual([0, 'bye']);
  });

  it('observeStream (rx) emits every value, then completes', async () => {
    const values = await within(lastValueFrom(observeStream(client, '/upstream').pipe(map((m) => m.value), toArray())), 20_000, 'rx');
    expect(values).toEqual([1, 2, 3]);
    const metasOnly = await within(lastValueFrom(observeStream(client, '/end-metas').pipe(map((m) => m.value), toArray())), 20_000, 'rx');
    expect(metasOnly).toEqual(['a']);
  });

  it('decodes replies by their Data-Type: value, json() and text()', async () => {
    const typed = (data: string, as?: string) => client.request('/typed', data, { metas: as === undefined ? {} : { as } });
    const greeting = await typed('Hello, web page', 'text/plain');
    expect([greeting.value, greeting.json(), greeting.text()]).toEqual(['Hello, web page', 'Hello, web page', 'Hello, web page']);
    expect((await typed('{"id":1}', 'application/json')).value).toEqual({ id: 1 });
    expect((await typed('{"id":1}', 'application/octet-stream')).value).toEqual(bytes('{"id":1}'));
    expect((await typed('{"id":1}')).value).toEqual({ id: 1 });
  });
});

describe('the browser client against a Nest server', () => {
  let app: INestMicroservice;
  let client: SocketDBrowserClient;

  beforeAll(async () => {
    const server = new SocketDServer({ url: 'sd:ws://127.0.0.1:0' });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    client = new SocketDBrowserClient(`sd:ws://127.0.0.1:${server.address()!.port}`);
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
  });

  it('a handler\'s Observable: every value to next (decoded as JSON), then complete without one', async () => {
    const got = await within(new Promise<{ values: unknown[]; end: BrowserMessage | undefined }>((resolve, reject) => {
      const values: unknown[] = [];
      client.subscribe('range', '5', { next: (m) => values.push(m.value), complete: (end) => resolve({ values, end }), error: reject }).catch(reject);
    }), 20_000, 'range');
    expect(got.values).toEqual([0, 1, 2, 3, 4]);
    expect(got.end?.data.length).toBe(0);
    expect(await within(lastValueFrom(observeStream(client, 'range', '3').pipe(map((m) => m.value), toArray())), 20_000, 'rx range')).toEqual([0, 1, 2]);
  });

  it('a handler\'s plain value: one value (the ReplyEnd\'s), in a Subscribe and a Request', async () => {
    expect(await within(lastValueFrom(observeStream(client, 'sum', '[1,2,3]').pipe(map((m) => m.value), toArray())), 20_000, 'rx sum')).toEqual([6]);
    const reply = await client.request('sum', '[1,2]');
    expect([reply.dataType, reply.value, reply.json()]).toEqual(['application/json', 3, 3]);
  });
});
