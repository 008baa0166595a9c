import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { lastValueFrom, take, toArray } from 'rxjs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { listenBroker, SdClient, SdServer, type ReceivedMessage, type SdBroker } from '../../lib/engine.js';
import { SocketDClient, SocketDRecordBuilder, SocketDServer } from '../../lib/nest/index.js';
import { ServerChild } from '../support/server-child.js';
import { KINDS, errorOf, waitFor } from '../nest/nest-test.helpers.js';
import { childOf, CLIENT, CONSUMER, idOf, inRootSpan, PRODUCER, registerTracing, SERVER } from './otel-setup.js';
import { activeSeen, InventoryModule, ordersModule } from './tracing.app.js';

const { exporter } = await registerTracing();

/** Waits until `count` spans named `name` have ended (servers end theirs after answering). */
async function ended(name: string, count: number): Promise<ReadableSpan[]> {
  await waitFor(() => exporter.getFinishedSpans().filter((s) => s.name === name).length >= count, 20_000, `${count} '${name}' spans`);
  return exporter.getFinishedSpans();
}

describe.each(KINDS)('tracing across a Nest client, our broker, a Nest player and its own call over %s', (kind) => {
  let broker: SdBroker;
  let inventory: INestMicroservice;
  let orders: INestMicroservice;
  let client: SocketDClient;

  beforeAll(async () => {
    broker = await listenBroker(`sd:${kind}://127.0.0.1:0`, { logger: false });
    const brokerUrl = `sd:${kind}://127.0.0.1:${broker.address()!.port}`;
    // Two players behind the broker: orders calls inventory through it too.
    inventory = await NestFactory.createMicroservice(InventoryModule, { strategy: new SocketDServer({ player: { urls: brokerUrl, name: 'inventory' } }), logger: false });
    await inventory.listen();
    orders = await NestFactory.createMicroservice(ordersModule(brokerUrl, 'inventory'), { strategy: new SocketDServer({ player: { urls: brokerUrl, name: 'orders' } }), logger: false });
    await orders.listen();
    await waitFor(() => broker.players.get('orders')?.length === 1 && broker.players.get('inventory')?.length === 1, 20_000, 'the players');
    client = new SocketDClient({ url: brokerUrl, target: 'orders' });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await orders?.close();
    await inventory?.close();
    await broker?.close();
  });

  afterEach(() => exporter.reset());

  it('one trace: client -> broker -> player -> its call through the broker to a second player', async () => {
    const answer = await inRootSpan('test-root', () => lastValueFrom(client.send('order', 7)));
    expect(answer).toEqual({ id: 7, stock: 70 });
    const spans = await ended('order', 4);
    await ended('stock', 4);
    const root = spans.find((s) => s.name === 'test-root')!;
    const call = childOf(spans, root, 'order', CLIENT);
    const atBroker = childOf(spans, call, 'order', SERVER);
    const forward = childOf(spans, atBroker, 'order', CLIENT);
    const atPlayer = childOf(spans, forward, 'order', SERVER);
    const stockCall = childOf(spans, atPlayer, 'stock', CLIENT);
    const stockAtBroker = childOf(spans, stockCall, 'stock', SERVER);
    const atInventory = childOf(spans, childOf(spans, stockAtBroker, 'stock', CLIENT), 'stock', SERVER);
    for (const span of [call, atBroker, forward, atPlayer, stockCall, stockAtBroker, atInventory]) {
      expect(span.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(span.attributes['rpc.system']).toBe('socketd');
      expect(span.attributes['socketd.transport']).toBe(kind);
      expect(span.attributes['network.peer.address']).toBe('127.0.0.1');
      expect(span.attributes['socketd.outcome']).toBe('ok');
      expect(span.status.code).toBe(0);
    }
    expect(call.attributes['rpc.method']).toBe('order');
    expect(call.attributes['socketd.request.bytes']).toBe(1);
    expect(call.attributes['socketd.fragments']).toBe(1);
    expect(call.attributes['socketd.stream.items']).toBe(1);
    expect(typeof call.attributes['network.peer.port']).toBe('number');
    // The handler ran inside the server span: its own call nested under it.
    expect(activeSeen).toEqual({ traceId: root.spanContext().traceId, spanId: idOf(atPlayer) });
  });

  it("a stream's spans end with the stream, with its item count", async () => {
    const values = await inRootSpan('stream-root', () => lastValueFrom(client.send('items', 5), { defaultValue: -1 }));
    expect(values).toBe(4);
    const spans = await ended('items', 4);
    const root = spans.find((s) => s.name === 'stream-root')!;
    const call = childOf(spans, root, 'items', CLIENT);
    const player = childOf(spans, childOf(spans, childOf(spans, call, 'items', SERVER), 'items', CLIENT), 'items', SERVER);
    expect(call.attributes['socketd.kind']).toBe('subscribe');
    expect(call.attributes['socketd.stream.items']).toBe(5);
    expect(player.attributes['socketd.stream.items']).toBe(5);
  });

  it('an RpcException with a code is recorded on the client and server spans', async () => {
    const err = await inRootSpan('refuse-root', () => errorOf(lastValueFrom(client.send('refuse', 1))));
    expect(err).toMatchObject({ code: 4001 });
    const spans = await ended('refuse', 4);
    const root = spans.find((s) => s.name === 'refuse-root')!;
    const call = childOf(spans, root, 'refuse', CLIENT);
    const player = childOf(spans, childOf(spans, childOf(spans, call, 'refuse', SERVER), 'refuse', CLIENT), 'refuse', SERVER);
    for (const span of [call, player]) {
      expect(span.status.code).toBe(2);
      expect(span.attributes['socketd.outcome']).toBe('alarm');
      expect(span.attributes['socketd.alarm.code']).toBe(4001);
      expect(span.attributes['error.type']).toBe('4001');
    }
  });

  it('unsubscribing cancels: every span of the call records the cancel', async () => {
    const two = await inRootSpan('cancel-root', () => lastValueFrom(client.send<number>('forever', 0).pipe(take(2), toArray())));
    expect(two).toEqual([0, 1]);
    const spans = await ended('forever', 4);
    const root = spans.find((s) => s.name === 'cancel-root')!;
    const call = childOf(spans, root, 'forever', CLIENT);
    const atBroker = childOf(spans, call, 'forever', SERVER);
    const player = childOf(spans, childOf(spans, atBroker, 'forever', CLIENT), 'forever', SERVER);
    for (const span of [call, atBroker, player]) {
      expect(span.attributes['socketd.outcome']).toBe('cancelled');
      expect(span.events.map((e) => e.name)).toContain('socketd.cancelled');
    }
    expect(call.attributes['socketd.stream.items']).toBe(2);
  });

  it('a call past its requestTimeout is recorded as timed out', async () => {
    const err = await inRootSpan('timeout-root', () => errorOf(lastValueFrom(client.send('slow', new SocketDRecordBuilder(2_000).setRequestTimeout(100).build()))));
    expect(err).toMatchObject({ code: 'SOCKETD_ERR_TIMEOUT' });
    const spans = await ended('slow', 1);
    const call = childOf(spans, spans.find((s) => s.name === 'timeout-root')!, 'slow', CLIENT);
    expect(call.attributes['socketd.outcome']).toBe('timeout');
    expect(call.events.map((e) => e.name)).toContain('socketd.timeout');
    expect(call.status.code).toBe(2);
  });

  it('emit() is a PRODUCER span, the handler a CONSUMER span under it', async () => {
    await inRootSpan('emit-root', () => lastValueFrom(client.emit('noted', { n: 1 })));
    const spans = await ended('noted', 4);
    const root = spans.find((s) => s.name === 'emit-root')!;
    const produced = childOf(spans, root, 'noted', PRODUCER);
    const relayed = childOf(spans, childOf(spans, produced, 'noted', CONSUMER), 'noted', PRODUCER);
    const consumed = childOf(spans, relayed, 'noted', CONSUMER);
    expect(consumed.attributes['messaging.system']).toBe('socketd');
    expect(consumed.attributes['messaging.destination.name']).toBe('noted');
  });
});

describe('tracing at the engine level (SdClient / SdServer)', () => {
  let server: SdServer;
  let client: SdClient;
  const seenMetas: Record<string, string | undefined>[] = [];

  beforeAll(async () => {
    server = new SdServer('sd:tcp://127.0.0.1:0', {
      logger: false,
      onMessage(session, m: ReceivedMessage) {
        seenMetas.push({ traceparent: m.meta('traceparent') });
        if (m.event === 'never') return; // answered by nobody: the caller times out or cancels
        for (let i = 0; i < 3; i++) session.reply(m, `v${i}`);
        session.replyEnd(m);
      },
    });
    await server.listen();
    client = new SdClient(`sd:tcp://127.0.0.1:${server.address()!.port}`, { logger: false });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await ServerChild.killAll();
  });

  afterEach(() => exporter.reset());

  it('a Subscribe: W3C traceparent in the metas, spans ended with 3 items', async () => {
    const session = await client.connect();
    await inRootSpan('sub-root', () => new Promise<void>((resolve, reject) => {
      session.subscribe('three', 'x', { next() {}, complete: () => resolve(), error: reject });
    }));
    const spans = await ended('three', 2);
    const call = childOf(spans, spans.find((s) => s.name === 'sub-root')!, 'three', CLIENT);
    const served = childOf(spans, call, 'three', SERVER);
    expect(seenMetas.at(-1)!.traceparent).toBe(`00-${call.spanContext().traceId}-${idOf(call)}-01`);
    expect(call.attributes['socketd.stream.items']).toBe(3);
    expect(served.attributes['socketd.stream.items']).toBe(3);
  });

  it('a cancelled call is recorded as such on both sides', async () => {
    const session = await client.connect();
    const handle = session.subscribe('never', undefined, { next() {}, complete() {}, error() {} });
    await waitFor(() => server.sessions.size > 0 && ([...server.sessions][0] as unknown as { inboundStreams: number }).inboundStreams === 1, 20_000, 'the stream at the server');
    handle.cancel();
    const spans = await ended('never', 2);
    for (const span of spans.filter((s) => s.name === 'never')) {
      expect(span.attributes['socketd.outcome']).toBe('cancelled');
      expect(span.events.map((e) => e.name)).toContain('socketd.cancelled');
    }
  });

  it('a timed-out call is recorded as such', async () => {
    const session = await client.connect();
    const err = await errorOf(session.request('never', undefined, { timeout: 100 }));
    expect(err).toMatchObject({ code: 'SOCKETD_ERR_TIMEOUT' });
    const spans = await ended('never', 2);
    const call = spans.find((s) => s.name === 'never' && s.kind === CLIENT)!;
    expect(call.attributes['socketd.outcome']).toBe('timeout');
    expect(call.events.map((e) => e.name)).toContain('socketd.timeout');
    expect(call.status.code).toBe(2);
    // The engine cancels a timed-out stream at the peer: its span ends cancelled.
    expect(spans.find((s) => s.name === 'never' && s.kind === SERVER)!.attributes['socketd.outcome']).toBe('cancelled');
  });

  it('a call that cannot be sent ends its span with the error', async () => {
    const small = new SdClient(`sd:tcp://127.0.0.1:${server.address()!.port}`, { logger: false, maxMessageSize: 1024 });
    try {
      const session = await small.connect();
      expect(await errorOf(session.request('big', Buffer.alloc(2048)))).toMatchObject({ code: 'SOCKETD_ERR_MESSAGE_TOO_LARGE' });
      const call = (await ended('big', 1)).find((s) => s.name === 'big')!;
      expect(call.kind).toBe(CLIENT);
      expect(call.attributes['socketd.outcome']).toBe('error');
      expect(call.status.code).toBe(2);
    } finally {
      await small.close();
    }
  });

  it('a peer without OpenTelemetry (child process) ignores the metas and answers as always', async () => {
    const child = await ServerChild.start('tcp', 'plain');
    const plain = new SdClient(`sd:tcp://127.0.0.1:${child.port}`, { logger: false });
    try {
      const reply = await inRootSpan('plain-root', async () => (await plain.connect()).request('who', undefined));
      expect(reply.dataAsString()).toBe('plain');
      const spans = await ended('who', 1);
      const call = childOf(spans, spans.find((s) => s.name === 'plain-root')!, 'who', CLIENT);
      expect(call.attributes['socketd.outcome']).toBe('ok');
      expect(spans.filter((s) => s.name === 'who')).toHaveLength(1); // no server span: the peer records nothing
    } finally {
      await plain.close();
    }
  });
});
