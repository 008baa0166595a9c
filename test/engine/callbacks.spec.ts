import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SILENT_LOGGER, STDERR_LOGGER } from '../../lib/session/engine-logger.js';
import { resolveSessionOptions } from '../../lib/session/options.js';
import type { ClientStatus, ReceivedMessage, Session } from '../../lib/session/index.js';
import { Clients, SCHEMAS, deferred, startServer, until } from '../support/engine.js';
import { MemoryLogger } from './raw-peer.js';

// Every test also asserts that nothing became an unhandled rejection.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
beforeAll(() => { process.on('unhandledRejection', onUnhandled); });
afterAll(() => { process.off('unhandledRejection', onUnhandled); });
/** Lets pending rejections surface (a macrotask after the microtasks settle). */
const settle = () => new Promise((r) => setTimeout(r, 50));

const echo = {
  onMessage(s: Session, m: ReceivedMessage) {
    if (m.event !== '/never') s.replyEnd(m, m.data);
  },
};

describe.each(SCHEMAS)('user callbacks cannot wedge a session (sd:%s)', (schema) => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());
  afterEach(() => { expect(unhandled).toEqual([]); });

  it('a stream observer whose error() throws while the session closes: the other streams settle, onClose runs, the client reconnects', async () => {
    const opened: Session[] = [];
    const { server, url } = await startServer(schema, { ...echo, logger: false, onOpen: (s) => { opened.push(s); } });
    const logger = new MemoryLogger();
    const clientClosed = deferred<number>();
    const client = clients.create(url, { logger, reconnectDelay: 50, onClose: (_s, code) => clientClosed.resolve(code) });
    await client.connect();
    const statuses: ClientStatus[] = [];
    client.onStatus((s) => statuses.push(s));
    await client.subscribe('/never', undefined, { next() {}, complete() {}, error() { throw new Error('observer boom'); } });
    const pending = client.request('/never', undefined, { timeout: 60_000 }).catch((e) => e);
    const second = deferred<Error>();
    await client.subscribe('/never', undefined, { next() {}, complete() {}, error: second.resolve });
    await until(() => opened.length === 1);
    opened[0]!.close();
    expect(isSocketDError(await pending, 'CONNECTION_CLOSED')).toBe(true);
    expect(isSocketDError(await second.promise, 'CONNECTION_CLOSED')).toBe(true);
    expect(await clientClosed.promise).toBe(1001);
    await until(() => client.status === 'connected' && opened.length === 2, 20_000, 'the reconnect');
    expect(statuses).toEqual(['disconnected', 'reconnecting', 'connected']);
    expect((await client.request('/echo', 'back')).dataAsString()).toBe('back');
    expect(logger.has('error', /observer\.error of '\/never' failed: observer boom/)).toBe(true);
    await settle();
    await server.close();
  });

  it('an async onHandshake then a throwing onOpen: logged, no unhandled rejection, the session serves the frames it held', async () => {
    const logger = new MemoryLogger();
    const { server, url } = await startServer(schema, {
      ...echo,
      logger,
      onHandshake: async () => { await new Promise((r) => setTimeout(r, 20)); return true; },
      onOpen() { throw new Error('open boom'); },
    });
    const client = await clients.open(url, { logger: false });
    // Sent at once after the Connack; the server held frames while its hook ran.
    const replies = await Promise.all([client.request('/a', '1'), client.request('/b', '2')]);
    expect(replies.map((r) => r.dataAsString())).toEqual(['1', '2']);
    expect(logger.has('error', /onOpen listener failed: open boom/)).toBe(true);
    await settle();
    await server.close();
  });

  it('every other listener or hook that throws or rejects is logged and the session carries on', async () => {
    const serverLog = new MemoryLogger();
    const boom = (what: string) => () => { throw new Error(`${what} boom`); };
    const serverSide = deferred<Session>();
    const cancelled = deferred();
    const { server, url } = await startServer(schema, {
      logger: serverLog,
      onOpen: (s) => serverSide.resolve(s),
      onMessage(s: Session, m: ReceivedMessage) {
        if (m.event === '/cancel-me') {
          m.onCancel(boom('onCancel'));
          m.onCancel(() => cancelled.resolve());
          return;
        }
        // Answering a Message: an orphan Reply at the client.
        s.replyEnd(m, m.isRequest ? 'ok' : 'orphan');
      },
      onClose: boom('server onClose'),
    });
    const clientLog = new MemoryLogger();
    const closedHookRan = deferred();
    const client = await clients.open(url, {
      logger: clientLog,
      onClosing: boom('onClosing'),
      onOrphanReply: async () => { throw new Error('onOrphanReply boom'); },
      onAlarm: boom('onAlarm'),
      onClose: boom('client onClose'),
    });
    client.onStatus(boom('status listener'));
    const session = client.session!;
    session.onClose(boom('onClose hook'));
    session.onClose(() => closedHookRan.resolve());
    expect((await client.request('/x')).dataAsString()).toBe('ok');
    await client.send('/orphan');
    const handle = await client.subscribe('/cancel-me', undefined, { next() {}, complete() {}, error() {} });
    handle.cancel();
    await cancelled.promise;
    const s = await serverSide.promise;
    s.alarm({ ...({} as ReceivedMessage), sid: '', event: '', metaString: '', isDone: false, flag: 31, isRequest: false } as ReceivedMessage, 'hello');
    s.preclose();
    await until(() => clientLog.has('error', /onClosing listener failed/) && clientLog.has('error', /onOrphanReply listener failed/) && clientLog.has('error', /onAlarm listener failed/), 20_000, 'the client listeners');
    // Close 1000: the closing session starts nothing new; the client's next call goes out on a fresh connection.
    expect(session.state).toBe('closing');
    await expect(session.request('/still')).rejects.toThrow(/closing/);
    expect((await client.request('/still')).dataAsString()).toBe('ok');
    expect(client.session).not.toBe(session);
    s.close();
    await closedHookRan.promise;
    await until(() => clientLog.has('error', /client onClose boom/) && clientLog.has('error', /onClose hook failed/), 20_000, 'the close listeners');
    await until(() => serverLog.has('error', /onCancel hook of '\/cancel-me' failed/) && serverLog.has('error', /server onClose boom/), 20_000, 'the server hooks');
    await client.close();
    expect(client.status).toBe('closed');
    expect(clientLog.has('error', /status listener failed/)).toBe(true);
    await settle();
    await server.close();
  });
});

describe('answers to an ended stream', () => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it('reply, replyEnd and alarm return false (logged at debug) once a stream was answered to the end, cancelled, or its session closed', async () => {
    const logger = new MemoryLogger();
    const results: Record<string, boolean[]> = {};
    const cancelled = deferred<ReceivedMessage>();
    const waiting = deferred<ReceivedMessage>();
    const { server, url } = await startServer('tcp', {
      logger,
      onMessage(s: Session, m: ReceivedMessage) {
        if (m.event === '/done') {
          results.done = [s.replyEnd(m, 'end'), s.reply(m, 'late'), s.replyEnd(m), s.alarm(m, 'late')];
        } else if (m.event === '/cancel') {
          m.onCancel(() => cancelled.resolve(m));
        } else {
          waiting.resolve(m);
        }
      },
    });
    const client = await clients.open(url, { logger: false });
    await client.request('/done');
    expect(results.done).toEqual([true, false, false, false]);
    const handle = await client.subscribe('/cancel', undefined, { next() {}, complete() {}, error() {} });
    handle.cancel();
    const m = await cancelled.promise;
    const session = [...server.sessions][0]!;
    expect([session.reply(m, 'x'), session.replyEnd(m), session.alarm(m, 'x')]).toEqual([false, false, false]);
    void client.request('/wait').catch(() => undefined);
    const w = await waiting.promise;
    session.close();
    expect([session.reply(w, 'x'), session.replyEnd(w)]).toEqual([false, false]);
    expect(logger.has('debug', /Reply to '\/done' .* the stream has ended/)).toBe(true);
    await server.close();
  });
});

describe('the default engine logger', () => {
  it('writes warnings and errors to stderr, not debug; logger: false silences it', async () => {
    expect(resolveSessionOptions({}).logger).toBe(STDERR_LOGGER);
    expect(resolveSessionOptions({ logger: false }).logger).toBe(SILENT_LOGGER);
    expect(STDERR_LOGGER.debug).toBeUndefined();
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
    try {
      // A protocol violation on a server with the default logger is reported.
      const { server, port } = await startServer('tcp', {});
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined).resume();
      await new Promise((r) => socket.once('connect', r));
      socket.write(Buffer.from([0, 0, 0, 20, 0, 0, 0, 99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
      await new Promise((r) => socket.once('close', r));
      await server.close();
      const quiet = await startServer('tcp', { logger: false });
      const other = net.connect(quiet.port, '127.0.0.1');
      other.on('error', () => undefined).resume();
      await new Promise((r) => other.once('connect', r));
      const before = written.length;
      other.write(Buffer.from([0, 0, 0, 20, 0, 0, 0, 99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
      await new Promise((r) => other.once('close', r));
      await quiet.server.close();
      expect(written.length).toBe(before);
    } finally {
      process.stderr.write = original;
    }
    expect(written.some((line) => /\[Socket\.D\] WARN .*protocol violation/.test(line))).toBe(true);
  });
});
