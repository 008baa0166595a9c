import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { isSocketDError } from '../../lib/protocol/errors.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { Clients, SCHEMAS, deferred, sha256, startServer, until } from '../support/engine.js';

/** A server speaking the routes most tests use. */
function echoServerOptions(inbox: string[]) {
  return {
    onOpen(session: Session) {
      session.send('/welcome', 'hi', { metas: { from: 'server' } });
    },
    onMessage(session: Session, m: ReceivedMessage) {
      switch (m.event) {
        case '/echo':
          session.replyEnd(m, m.data, { ...m.metas, echoed: '1' });
          return;
        case '/note':
          inbox.push(m.dataAsString());
          return;
        case '/notes':
          session.replyEnd(m, inbox.join(','));
          return;
        case '/count': {
          const n = Number(m.dataAsString());
          for (let i = 0; i < n; i++) session.reply(m, String(i));
          session.replyEnd(m);
          return;
        }
        case '/fail':
          session.alarm(m, 'fail requested', { code: '4001' });
          return;
        case '/hash':
          session.replyEnd(m, sha256(m.data));
          return;
        case '/big':
          session.replyEnd(m, randomBytesFrom(m.dataAsString()));
          return;
        case '/ask-client':
          session.request('/client-echo', m.data).then((r) => session.replyEnd(m, `client said ${r.dataAsString()}`));
          return;
        case '/never':
          return;
      }
    },
  };
}

// Deterministic "random" payload so both ends can hash it.
function randomBytesFrom(spec: string): Buffer {
  const size = Number(spec);
  const out = Buffer.allocUnsafe(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe.each(SCHEMAS)('engine over sd:%s', (schema) => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it('delivers a push sent by the server on open, after the Connack', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const got = deferred<ReceivedMessage>();
    const client = await clients.open(url, { onMessage: (_s, m) => got.resolve(m) });
    const m = await got.promise;
    expect(m.event).toBe('/welcome');
    expect(m.dataAsString()).toBe('hi');
    expect(m.meta('from')).toBe('server');
    expect(client.session!.handshake.params['Socket.D']).toBe('1.0');
    await server.close();
  });

  it('answers a request with metas and exposes handshake params on both sides', async () => {
    const seen = deferred<Session>();
    const { server, url } = await startServer(schema, {
      ...echoServerOptions([]),
      onHandshake(hs, outMetas) { outMetas.srv = 'ts'; return hs.params.token === 'x1'; },
      onOpen: (s) => seen.resolve(s),
    });
    const client = await clients.open(url, { metas: { token: 'x1', u: 'fromMeta' } });
    const reply = await client.request('/echo', 'hello 世界', { metas: { a: '1', lang: '中文', k: 'two words' } });
    expect(reply.dataAsString()).toBe('hello 世界');
    expect(reply.metas).toEqual({ a: '1', lang: '中文', k: 'two words', echoed: '1' });
    const serverSide = await seen.promise;
    expect(serverSide.handshake.path).toBe('/path');
    // Connect metas override query params of the same name (spec 6.1).
    expect(serverSide.handshake.params).toEqual({ u: 'fromMeta', token: 'x1', 'Socket.D': '1.0' });
    expect(client.session!.handshake.params.srv).toBe('ts');
    await server.close();
  });

  it('streams 1000 replies of a subscribe in order, then its end', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const client = await clients.open(url);
    const items: string[] = [];
    const ended = deferred<ReceivedMessage | undefined>();
    await client.subscribe('/count', '1000', {
      next: (m) => items.push(m.dataAsString()),
      complete: ended.resolve,
      error: ended.reject,
    });
    const end = await ended.promise;
    expect(end?.data.length).toBe(0);
    expect(items).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
    await server.close();
  });

  it('delivers three messages before a request that reads them back', async () => {
    const inbox: string[] = [];
    const { server, url } = await startServer(schema, echoServerOptions(inbox));
    const client = await clients.open(url);
    for (const n of ['n1', 'n2', 'n3']) await client.send('/note', n);
    expect((await client.request('/notes')).dataAsString()).toBe('n1,n2,n3');
    await server.close();
  });

  it.each([undefined, 1024])('moves 20 MiB each way intact (fragmentSize %s)', async (fragmentSize) => {
    const { server, url } = await startServer(schema, { ...echoServerOptions([]), fragmentSize });
    const client = await clients.open(url, { fragmentSize, requestTimeout: 120_000 });
    const up = randomBytes(20 * 1024 * 1024);
    expect((await client.request('/hash', up)).dataAsString()).toBe(sha256(up));
    const down = await client.request('/big', String(20 * 1024 * 1024));
    expect(down.data.length).toBe(20 * 1024 * 1024);
    expect(sha256(down.data)).toBe(sha256(randomBytesFrom(String(20 * 1024 * 1024))));
    await server.close();
  }, 180_000);

  it('fails a request with the text of an Alarm', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const client = await clients.open(url);
    const err = await client.request('/fail', 'boom?', { metas: { q: '1' } }).catch((e) => e);
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect(err.message).toBe('fail requested');
    expect(err.details.alarmCode).toBe(4001);
    // The connection stays usable after an Alarm.
    expect((await client.request('/echo', 'still')).dataAsString()).toBe('still');
    await server.close();
  });

  it('lets the server request from the client over the same connection', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const client = await clients.open(url, {
      onMessage(session, m) {
        if (m.event === '/client-echo') session.replyEnd(m, `${m.dataAsString()}!`);
      },
    });
    expect((await client.request('/ask-client', 'ping')).dataAsString()).toBe('client said ping!');
    await server.close();
  });

  it('carries 200 concurrent requests on one connection', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const client = await clients.open(url);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request('/echo', `r${i}`)));
    expect(replies.map((r) => r.dataAsString())).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`));
    expect(client.session!.state).toBe('open');
    await server.close();
  });

  it('refuses a handshake with Close 1001 and a clear error', async () => {
    const { server, url } = await startServer(schema, { onHandshake: (hs) => hs.params.token === 'good' });
    const err = await clients.open(url, { metas: { token: 'bad' } }).catch((e) => e);
    expect(isSocketDError(err, 'HANDSHAKE_REJECTED')).toBe(true);
    expect(err.message).toMatch(/rejected/);
    // An async hook that throws refuses the same way.
    const { server: s2, url: u2 } = await startServer(schema, { async onHandshake() { throw new Error('no'); } });
    const err2 = await clients.open(u2).catch((e) => e);
    expect(isSocketDError(err2, 'HANDSHAKE_REJECTED')).toBe(true);
    await Promise.all([server.close(), s2.close()]);
  });

  it('keeps a client with heartbeats open while the idle timeout closes a silent one', async () => {
    const closed = deferred<number>();
    const { server, url } = await startServer(schema, { idleTimeout: 400 });
    const alive = await clients.open(url, { heartbeatInterval: 100, idleTimeout: 0 });
    const silent = await clients.open(url, { heartbeatInterval: 0, idleTimeout: 0 });
    const startedAt = Date.now();
    silent.session!.onClose((code) => closed.resolve(code));
    await closed.promise;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(390);
    expect(alive.session!.state).toBe('open');
    // Still served: a server without a handler answers requests with an Alarm.
    const err = await alive.request('/x').catch((e) => e);
    expect(isSocketDError(err, 'ALARM')).toBe(true);
    expect(err.message).toMatch(/no handler/);
    await server.close();
  });

  it('reconnects after the server restarts', async () => {
    const first = await startServer(schema, echoServerOptions([]));
    const client = clients.create(first.url, { reconnectDelay: 50, maxReconnectDelay: 200 });
    const statuses: string[] = [];
    client.onStatus((s) => statuses.push(s));
    await client.connect();
    const down = deferred();
    client.onStatus((s) => { if (s === 'disconnected') down.resolve(); });
    await first.server.close();
    await down.promise;
    const up = deferred();
    client.onStatus((s) => { if (s === 'connected') up.resolve(); });
    const second = await startServer(schema, echoServerOptions([]), first.port);
    await up.promise;
    expect((await client.request('/echo', 'again')).dataAsString()).toBe('again');
    expect(statuses.slice(0, 4)).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting']);
    expect(statuses.at(-1)).toBe('connected');
    await client.close();
    expect(client.status).toBe('closed');
    await second.server.close();
  });

  it('drains on Close 1000: a call in flight finishes on the closing session, a new one goes to a fresh connection, Close 1001 ends the old one', async () => {
    const serverSessions: Session[] = [];
    const release = deferred();
    const { server, url } = await startServer(schema, {
      onOpen: (s) => serverSessions.push(s),
      onMessage: (s, m) => {
        if (m.event === '/slow') void release.promise.then(() => s.replyEnd(m, 'slow done'));
        else if (m.isRequest) s.replyEnd(m, m.data);
      },
    });
    const closing = deferred();
    const closed = deferred<number>();
    const client = await clients.open(url, { onClosing: () => closing.resolve(), onClose: (_s, code) => closed.resolve(code) });
    const first = client.session!;
    const inFlight = client.request('/slow');
    await until(() => serverSessions.length === 1, 20_000, 'the server session');
    void serverSessions[0]!.preclose();
    await closing.promise;
    expect(first.state).toBe('closing');
    // The closing session starts nothing new (spec 6.2)...
    expect(() => first.send('/x')).toThrow(/closing/);
    // ...while a new call goes out on a fresh connection.
    expect((await client.request('/echo', 'late')).dataAsString()).toBe('late');
    expect(serverSessions).toHaveLength(2);
    expect(client.session).not.toBe(first);
    release.resolve();
    expect((await inFlight).dataAsString()).toBe('slow done');
    serverSessions[0]!.close();
    expect(await closed.promise).toBe(1001);
    expect(client.status).toBe('connected');
    expect((await client.request('/echo', 'after')).dataAsString()).toBe('after');
    await server.close();
  });

  it('tells the responder when a request times out or a subscribe is cancelled', async () => {
    const cancelled: string[] = [];
    const allCancelled = deferred();
    const { server, url } = await startServer(schema, {
      onMessage(_s, m) {
        m.onCancel(() => {
          cancelled.push(m.event);
          if (cancelled.length === 2) allCancelled.resolve();
        });
      },
    });
    const client = await clients.open(url);
    const err = await client.request('/slow', undefined, { timeout: 100 }).catch((e) => e);
    expect(isSocketDError(err, 'TIMEOUT')).toBe(true);
    const handle = await client.subscribe('/feed', undefined, { next() {}, complete() {}, error() {} });
    handle.cancel();
    await allCancelled.promise;
    expect(cancelled.sort()).toEqual(['/feed', '/slow']);
    await server.close();
  });

  it('sends a pre-serialised meta string as is', async () => {
    const { server, url } = await startServer(schema, {
      onMessage: (s, m) => s.replyEnd(m, 'ok', 'Data-Type=text/plain&x=1'),
    });
    const client = await clients.open(url);
    const reply = await client.request('/m', undefined, { metas: 'a=1&b=2' });
    expect(reply.metaString).toBe('Data-Type=text/plain&x=1');
    await server.close();
  });

  it('turns a throwing or rejecting handler into an Alarm and keeps serving', async () => {
    const { server, url } = await startServer(schema, {
      onMessage(session, m) {
        if (m.event === '/sync') throw new Error('sync boom');
        if (m.event === '/async') return Promise.resolve().then(() => { throw new Error('async boom'); });
        return session.replyEnd(m, 'fine');
      },
    });
    const client = await clients.open(url);
    const asyncErr = await client.request('/async').catch((e) => e);
    expect(isSocketDError(asyncErr, 'ALARM')).toBe(true);
    expect(asyncErr.message).toBe('async boom');
    const syncErr = await client.request('/sync').catch((e) => e);
    expect(isSocketDError(syncErr, 'ALARM')).toBe(true);
    expect(syncErr.message).toBe('sync boom');
    expect((await client.request('/ok')).dataAsString()).toBe('fine');
    await server.close();
  });

  it('fails pending requests at once when the connection drops', async () => {
    const { server, url } = await startServer(schema, echoServerOptions([]));
    const client = await clients.open(url, { requestTimeout: 60_000 });
    const started = Date.now();
    const pending = client.request('/never').catch((e) => e);
    const sub = deferred<Error>();
    await client.subscribe('/never', undefined, { next() {}, complete() {}, error: sub.resolve });
    await server.close();
    const err = await pending;
    expect(isSocketDError(err, 'CONNECTION_CLOSED')).toBe(true);
    expect(isSocketDError(await sub.promise, 'CONNECTION_CLOSED')).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
