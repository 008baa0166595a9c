import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { listenBroker, SdClient, SdServer, type ReceivedMessage, type SdBroker, type Session } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { decodeCallError, SocketDClient, SocketDRecordBuilder, SocketDServer, type SocketDServerOptions } from '../../lib/nest/index.js';
import { playerModule, seen } from './broker-players.app.js';
import { errorOf, KINDS, waitFor, within } from './nest-test.helpers.js';

// Player mode and targets against a plain engine server standing in for a broker: it sees the
// player's handshake and starts Requests/Subscribes/Messages on the player's link itself.

const JSON_METAS = { 'Data-Type': 'application/json' };

async function startPeer(kind: string, options: ConstructorParameters<typeof SdServer>[1] = {}) {
  const sessions: Session[] = [];
  const peer = new SdServer(`sd:${kind}://127.0.0.1:0`, { logger: false, ...options, onOpen: (s) => sessions.push(s) });
  await peer.listen();
  return { peer, sessions, url: `sd:${kind}://127.0.0.1:${peer.address()!.port}` };
}

async function startPlayer(id: string, options: SocketDServerOptions): Promise<{ app: INestMicroservice; server: SocketDServer }> {
  const server = new SocketDServer(options);
  const app = await NestFactory.createMicroservice(playerModule(id), { strategy: server, logger: false });
  await app.listen();
  return { app, server };
}

function openSessions(sessions: Session[]): Session[] {
  return sessions.filter((s) => s.isOpen);
}

describe.each(KINDS)('SocketDServer as a broker player over %s', (kind) => {
  let peer: SdServer;
  let sessions: Session[];
  let url: string;
  let app: INestMicroservice;
  let server: SocketDServer;

  beforeAll(async () => {
    ({ peer, sessions, url } = await startPeer(kind));
    ({ app, server } = await startPlayer('p1', { player: { urls: url, name: 'orders', reconnectDelay: 50 } }));
  });

  afterAll(async () => {
    await app?.close();
    await peer?.close();
  });

  beforeEach(() => seen.reset());

  it('with only `player` it does not listen: it connects out, named by the Connect meta @', async () => {
    await waitFor(() => openSessions(sessions).length === 1, 10_000, 'the player link');
    expect(server.address()).toBeUndefined();
    expect(server.playerSessions).toHaveLength(1);
    expect(openSessions(sessions)[0]!.handshake.params['@']).toBe('orders');
  });

  it('serves a forwarded Request, Subscribe and Message with its handlers', async () => {
    const link = openSessions(sessions)[0]!;
    const reply = await link.request('sum', JSON.stringify([1, 2, 3]), { metas: { ...JSON_METAS, '@': 'orders' } });
    expect(reply.dataAsString()).toBe('6');

    const values: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      const complete = (end: ReceivedMessage | undefined): void => {
        // The handler's Observable ends with an empty ReplyEnd, relayed as it is.
        values.push(`end:${end?.data.length}`);
        resolve();
      };
      link.subscribe('range', '3', { next: (r) => values.push(r.dataAsString()), complete, error: reject }, { metas: JSON_METAS });
    });
    await within(ended, 10_000, 'the stream end');
    expect(values).toEqual(['0', '1', '2', 'end:0']);

    link.send('notify', JSON.stringify({ n: 1 }), { metas: JSON_METAS });
    await waitFor(() => seen.events.length === 1, 10_000, 'the event');
    expect(seen.events).toEqual([{ id: 'p1', data: { n: 1 } }]);
  });

  it('answers a handler error with the Nest error value, as when listening', async () => {
    const link = openSessions(sessions)[0]!;
    const err = await errorOf(link.request('fail', '{}', { metas: JSON_METAS }));
    expect(decodeCallError(err)).toEqual({ code: 42, message: 'nope' });
  });

  it('stops the handler when the broker cancels the stream', async () => {
    const link = openSessions(sessions)[0]!;
    let count = 0;
    const handle = link.subscribe('ticks', '{}', { next: () => count++, complete: () => undefined, error: () => undefined }, { metas: JSON_METAS });
    await waitFor(() => count >= 3, 10_000, 'three ticks');
    handle.cancel();
    await within(seen.stoppedOf('p1').promise, 10_000, 'the handler to stop');
  });

  it('reconnects when the broker drops the link', async () => {
    const before = openSessions(sessions)[0]!;
    before.close();
    await waitFor(() => openSessions(sessions).length === 1 && openSessions(sessions)[0] !== before, 15_000, 'the reconnect');
    const reply = await openSessions(sessions)[0]!.request('sum', '[2,3]', { metas: JSON_METAS });
    expect(reply.dataAsString()).toBe('5');
  });
});

describe('SocketDServer player mode: start and stop', () => {
  afterEach(() => seen.reset());

  it('listens and plays at once; close() closes the broker links too (no reconnect)', async () => {
    const { peer, sessions, url } = await startPeer('tcp');
    const { app, server } = await startPlayer('p1', { url: 'sd:tcp://127.0.0.1:0', player: { urls: [url], name: 'orders', reconnectDelay: 20 } });
    try {
      expect(server.address()?.port).toBeGreaterThan(0);
      await waitFor(() => openSessions(sessions).length === 1, 10_000, 'the player link');
      const direct = new SocketDClient({ url: `sd:tcp://127.0.0.1:${server.address()!.port}` });
      expect(await firstValueFrom(direct.send('sum', [1, 1]))).toBe(2);
      await direct.close();
      const closed = new Promise<number>((resolve) => openSessions(sessions)[0]!.onClose((code) => resolve(code)));
      await app.close();
      await within(closed, 10_000, 'the link to close');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(openSessions(sessions)).toHaveLength(0);
      expect(server.playerSessions).toHaveLength(0);
    } finally {
      await app.close();
      await peer.close();
    }
  });

  it('lets a Request the broker forwarded finish before closing (graceful)', async () => {
    let peerClosing: () => void = () => undefined;
    const { peer, sessions, url } = await startPeer('tcp', { onClosing: () => peerClosing() });
    const { app, server } = await startPlayer('p1', { player: { urls: url, name: 'orders' }, gracePeriod: 10_000 });
    try {
      await waitFor(() => openSessions(sessions).length === 1, 10_000, 'the player link');
      const link = openSessions(sessions)[0]!;
      let closingSeen = false;
      peerClosing = () => (closingSeen = true);
      const answer = link.request('slow', '200', { metas: JSON_METAS });
      await waitFor(() => server.pendingHandlers === 1, 10_000, 'the handler to start');
      const stopped = app.close();
      expect((await answer).dataAsString()).toBe('done after 200 ms');
      await stopped;
      // The player said Close 1000 first (a broker takes it out of the rotation), then closed.
      expect(closingSeen).toBe(true);
      expect(openSessions(sessions)).toHaveLength(0);
    } finally {
      await peer.close();
    }
  });

  it('listen() fails when no broker can be reached; one broker down of two is retried in the background', async () => {
    const { peer, sessions, url } = await startPeer('tcp');
    const spare = await startPeer('tcp');
    const downUrl = spare.url;
    await spare.peer.close();
    await expect(startPlayer('p1', { player: { urls: downUrl, name: 'orders', connectTimeout: 2_000 } })).rejects.toBeDefined();

    // The same port comes back later: the player gets there on its own.
    const { app } = await startPlayer('p1', { player: { urls: `${url},${downUrl}`, name: 'orders', reconnectDelay: 50, maxReconnectDelay: 200 } });
    let revived: SdServer | undefined;
    try {
      await waitFor(() => openSessions(sessions).length === 1, 10_000, 'the first link');
      const revivedSessions: Session[] = [];
      revived = new SdServer(downUrl, { logger: false, onOpen: (s) => revivedSessions.push(s) });
      await revived.listen();
      await waitFor(() => openSessions(revivedSessions).length === 1, 15_000, 'the retried link');
      expect(openSessions(revivedSessions)[0]!.handshake.params['@']).toBe('orders');
    } finally {
      await app.close();
      await revived?.close();
      await peer.close();
    }
  });

  it('checks the player option', () => {
    const cases: [unknown, RegExp][] = [
      [{ urls: 'sd:tcp://127.0.0.1:1', name: 'orders*' }, /player\.name/],
      [{ urls: 'sd:tcp://127.0.0.1:1', name: '' }, /player\.name/],
      [{ urls: [], name: 'orders' }, /player\.urls/],
      [{ urls: 'sd:tcp://127.0.0.1:1', name: 'orders', autoReconnect: false }, /always reconnect/],
      [{ urls: 'sd:tcp://127.0.0.1:1', name: 'orders', heartbeatIntreval: 5 }, /did you mean 'heartbeatInterval'/],
      ['sd:tcp://127.0.0.1:1', /must be an object/],
    ];
    for (const [player, message] of cases) {
      let caught: unknown;
      try {
        new SocketDServer({ player: player as SocketDServerOptions['player'] });
      } catch (err) {
        caught = err;
      }
      expect(isSocketDError(caught, 'INVALID_ARGUMENT')).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
  });
});

describe.each(KINDS)('SocketDClient targets over %s', (kind) => {
  let peer: SdServer;
  let url: string;
  const received: ReceivedMessage[] = [];

  beforeAll(async () => {
    peer = new SdServer(`sd:${kind}://127.0.0.1:0`, {
      logger: false,
      onMessage: (session, message) => {
        received.push(message);
        if (message.isRequest) session.replyEnd(message, JSON.stringify(message.meta('@') ?? null), JSON_METAS);
      },
    });
    await peer.listen();
    url = `sd:${kind}://127.0.0.1:${peer.address()!.port}`;
  });

  afterAll(async () => {
    await peer?.close();
  });

  it('puts meta @ = target on every send() and eventTarget on every emit(); a record setTarget() wins', async () => {
    const client = new SocketDClient({ url, target: 'orders', eventTarget: 'orders*', callMode: 'request' });
    try {
      expect(await firstValueFrom(client.send('whoami', {}))).toBe('orders');
      expect(await firstValueFrom(client.send('whoami', new SocketDRecordBuilder({}).setTarget('billing!').setMeta('X-Hash', 'k').build()))).toBe('billing!');
      // An explicit @ meta wins over the client's default target, setTarget() over both.
      expect(await firstValueFrom(client.send('whoami', new SocketDRecordBuilder({}).setMeta('@', 'audit').build()))).toBe('audit');
      expect(await firstValueFrom(client.send('whoami', new SocketDRecordBuilder({}).setMeta('@', 'audit').setTarget('x').build()))).toBe('x');

      received.length = 0;
      await lastValueFrom(client.emit('notify', { n: 1 }), { defaultValue: undefined });
      await lastValueFrom(client.emit('notify', new SocketDRecordBuilder({ n: 2 }).setTarget('orders').build()), { defaultValue: undefined });
      await waitFor(() => received.length === 2, 10_000, 'both events');
      expect(received.map((m) => m.meta('@'))).toEqual(['orders*', 'orders']);
    } finally {
      await client.close();
    }
  });

  it('emit() uses target when no eventTarget is given; no target sends no @', async () => {
    const targeted = new SocketDClient({ url, target: 'orders' });
    const plain = new SocketDClient({ url, callMode: 'request' });
    try {
      received.length = 0;
      await lastValueFrom(targeted.emit('notify', 1), { defaultValue: undefined });
      await waitFor(() => received.length === 1, 10_000, 'the event');
      expect(received[0]!.meta('@')).toBe('orders');
      expect(await firstValueFrom(plain.send('whoami', {}))).toBeNull();
    } finally {
      await targeted.close();
      await plain.close();
    }
  });

  it('checks targets', () => {
    expect(() => new SocketDClient({ url, target: '' })).toThrow(/target must be a player name/);
    expect(() => new SocketDClient({ url, eventTarget: 'a&b' })).toThrow(/eventTarget must be a player name/);
    expect(() => new SocketDRecordBuilder({}).setTarget(5 as unknown as string)).toThrow(/target must be a player name/);
  });
});

// The real thing: two Nest player apps and a Nest client through the engine's broker.
describe.each(KINDS)('Nest players and a Nest client through SdBroker over %s', (kind) => {
  let broker: SdBroker;
  let brokerUrl: string;
  const players: { app: INestMicroservice; server: SocketDServer }[] = [];
  let client: SocketDClient;

  beforeAll(async () => {
    broker = await listenBroker(`sd:${kind}://127.0.0.1:0`, { logger: false });
    brokerUrl = `sd:${kind}://127.0.0.1:${broker.address()!.port}`;
    for (const id of ['p1', 'p2']) players.push(await startPlayer(id, { player: { urls: brokerUrl, name: 'orders', reconnectDelay: 50 } }));
    await waitFor(() => broker.players.get('orders')?.length === 2, 10_000, 'both players');
    // Default options: the broker announces X-Nest-Stream and X-Nest-Auto, so send() streams.
    client = new SocketDClient({ url: brokerUrl, target: 'orders', eventTarget: 'orders*' });
  });

  afterAll(async () => {
    await client?.close();
    for (const { app } of players) await app.close();
    await broker?.close();
  });

  beforeEach(() => seen.reset());

  it('round-robins send() over both instances; the handler sees the caller\'s @ meta', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await firstValueFrom(client.send('whoami', {})));
    expect(new Set(answers.map((a) => a.id))).toEqual(new Set(['p1', 'p2']));
    expect(answers.every((a) => a.target === 'orders')).toBe(true);
  });

  it('streams every value of a handler through the broker with default options (Subscribe: Reply... ReplyEnd)', async () => {
    expect(await lastValueFrom(client.send('range', 5).pipe(toArray()))).toEqual([0, 1, 2, 3, 4]);
    expect(await lastValueFrom(client.send('ticks', {}).pipe(take(5), toArray()))).toEqual([0, 1, 2, 3, 4]);
  });

  it('a Request through the broker (callMode request) gets the one answer; to a stream handler an error naming the fix', async () => {
    expect(await firstValueFrom(client.send('sum', new SocketDRecordBuilder([1, 2, 3]).asRequest().build()))).toBe(6);
    const err = await errorOf(lastValueFrom(client.send('range', new SocketDRecordBuilder(5).asRequest().build()).pipe(toArray())));
    expect(JSON.stringify(err)).toMatch(/produces several values, but a Request has one answer: call it with a Subscribe/);
  });

  it('an auto send() toward a player that does not announce streams goes on as a Request: its one Reply ends the call', async () => {
    // An upstream-style player: answers with one Reply (not ReplyEnd), as upstream handlers do for a Request.
    const kinds: string[] = [];
    const plain = new SdClient(`${brokerUrl}?@=plain`, {
      logger: false,
      onMessage: (session, m) => {
        kinds.push(m.isSubscribe ? 'subscribe' : m.isRequest ? 'request' : 'message');
        expect(m.meta('X-Nest-Auto')).toBeUndefined();
        session.reply(m, JSON.stringify({ got: m.dataAsString() }), JSON_METAS);
      },
    });
    await plain.connect();
    try {
      await waitFor(() => broker.players.get('plain')?.length === 1, 10_000, 'the plain player');
      const record = new SocketDRecordBuilder([1]).setTarget('plain').build();
      expect(await lastValueFrom(client.send('x', record).pipe(toArray()))).toEqual([{ got: '[1]' }]);
      expect(kinds).toEqual(['request']);
    } finally {
      await plain.close();
    }
  });

  it('an auto send() fanned out (`plain*`) to two players that do not announce streams: both answers, then the end', async () => {
    // Each player gets a Request (its one answer ends its part); the merged stream ends after both.
    const plains: SdClient[] = [];
    for (const id of ['a', 'b']) {
      const plain = new SdClient(`${brokerUrl}?@=plain`, {
        logger: false,
        onMessage: (session, m) => {
          expect(m.isSubscribe).toBe(false);
          // One answers as upstream handlers do (a Reply), the other with a ReplyEnd.
          if (id === 'a') session.reply(m, JSON.stringify({ id, got: m.dataAsString() }), JSON_METAS);
          else session.replyEnd(m, JSON.stringify({ id, got: m.dataAsString() }), JSON_METAS);
        },
      });
      await plain.connect();
      plains.push(plain);
    }
    try {
      await waitFor(() => broker.players.get('plain')?.length === 2, 10_000, 'both plain players');
      const record = new SocketDRecordBuilder([2]).setTarget('plain*').build();
      const values = await within(lastValueFrom(client.send('x', record).pipe(toArray())), 10_000, 'the fan-out stream');
      expect(values.map((v: { id: string }) => v.id).sort()).toEqual(['a', 'b']);
      expect(values.every((v: { got: string }) => v.got === '[2]')).toBe(true);
    } finally {
      for (const plain of plains) await plain.close();
    }
  });

  it('emit() with eventTarget orders* reaches every instance', async () => {
    await lastValueFrom(client.emit('notify', { n: 1 }), { defaultValue: undefined });
    await waitFor(() => seen.events.length === 2, 10_000, 'both instances to get the event');
    expect(seen.events.map((e) => e.id).sort()).toEqual(['p1', 'p2']);
  });

  it('a per-call setTarget() addresses another name', async () => {
    const audit = await startPlayer('a1', { player: { urls: brokerUrl, name: 'audit' } });
    try {
      await waitFor(() => broker.players.get('audit')?.length === 1, 10_000, 'the audit player');
      const answer = await firstValueFrom(client.send('whoami', new SocketDRecordBuilder({}).setTarget('audit').build()));
      expect(answer).toEqual({ id: 'a1', target: 'audit' });
    } finally {
      await audit.app.close();
    }
  });

  it('an RpcException reaches the caller through the broker', async () => {
    const err = await errorOf(firstValueFrom(client.send('fail', {})));
    // The exact Nest error value: the broker relays the player's Alarm metas (X-Nest-Err, code).
    expect(err).toEqual({ code: 42, message: 'nope' });
  });

  it('unsubscribing a stream stops the handler on the player that ran it', async () => {
    await lastValueFrom(client.send('ticks', {}).pipe(take(3)));
    const ran = [...seen.produced.keys()];
    expect(ran).toHaveLength(1);
    await within(seen.stoppedOf(ran[0]!).promise, 10_000, 'the handler to stop');
    const produced = seen.produced.get(ran[0]!)!;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.produced.get(ran[0]!)).toBe(produced);
  });

  it('an unknown target fails with the broker\'s Alarm', async () => {
    const err = await errorOf(firstValueFrom(client.send('whoami', new SocketDRecordBuilder({}).setTarget('nobody').build())));
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect((err as Error).message).toMatch(/don't have '@nobody'/);
  });
});

/** The Nest error value of a failed call through the broker (the exact value when the broker keeps X-Nest-Err). */
