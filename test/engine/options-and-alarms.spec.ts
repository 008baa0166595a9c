import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Flags, isSocketDError } from '../../lib/protocol/index.js';
import { clusterUrls, hashIndex, SdBroker, SdClient, SdClusterClient, stringHash, type ReceivedMessage, type SdServer, type Session } from '../../lib/engine.js';
import { SocketDClient, SocketDServer } from '../../lib/nest/index.js';
import { Clients, deferred, startServer, until } from '../support/engine.js';
import { frameBytes, MemoryLogger, RawPeer } from './raw-peer.js';

describe('timeout options are integers in range (SOCKETD_ERR_INVALID_ARGUMENT otherwise)', () => {
  const bad: unknown[] = [Number.NaN, Infinity, 1.5, '100', -1];
  it.each(['requestTimeout', 'streamTimeout', 'connectTimeout', 'reconnectDelay', 'maxReconnectDelay', 'frameTimeout', 'idleTimeout', 'heartbeatInterval'])('client option %s', (name: string) => {
    for (const value of bad) {
      let thrown: unknown;
      try {
        new SdClient('sd:tcp://127.0.0.1:1', { [name]: value });
      } catch (err) {
        thrown = err;
      }
      expect(isSocketDError(thrown, 'INVALID_ARGUMENT')).toBe(true);
      expect((thrown as Error).message).toContain(name);
    }
  });

  it('idleTimeout and heartbeatInterval take 0 (off); the others need >= 1', () => {
    expect(() => new SdClient('sd:tcp://127.0.0.1:1', { idleTimeout: 0, heartbeatInterval: 0 })).not.toThrow();
    expect(() => new SdClient('sd:tcp://127.0.0.1:1', { requestTimeout: 0 })).toThrow(/requestTimeout/);
  });

  it('the broker checks forwardTimeout, ejectAfter and ejectionTime', () => {
    expect(() => new SdBroker('sd:tcp://127.0.0.1:0', { forwardTimeout: Number.NaN })).toThrow(/forwardTimeout must be an integer/);
    expect(() => new SdBroker('sd:tcp://127.0.0.1:0', { ejectAfter: -1 })).toThrow(/ejectAfter must be an integer/);
    expect(() => new SdBroker('sd:tcp://127.0.0.1:0', { ejectionTime: 0 })).toThrow(/ejectionTime must be an integer/);
    expect(() => new SdBroker('sd:tcp://127.0.0.1:0', { ejectAfter: 0, logger: false })).not.toThrow();
  });

  it('Nest: the strategy and the client check theirs when constructed (gracePeriod too)', () => {
    expect(() => new SocketDServer({ port: 0, requestTimeout: Number.NaN })).toThrow(/requestTimeout/);
    expect(() => new SocketDServer({ port: 0, gracePeriod: 1.5 })).toThrow(/gracePeriod/);
    expect(() => new SocketDClient({ port: 1, streamTimeout: Infinity })).toThrow(/streamTimeout/);
  });

  describe('per call', () => {
    const clients = new Clients();
    let server: SdServer;
    let url: string;
    beforeAll(async () => {
      ({ server, url } = await startServer('tcp', { onMessage: (s, m) => { if (m.isRequest) s.replyEnd(m, 'ok'); } }));
    });
    afterAll(async () => {
      await clients.closeAll();
      await server.close();
    });

    it('timeout NaN, Infinity, 1.5 or a string throws at once; no stream is left pending', async () => {
      const client = await clients.open(url);
      const session = client.session!;
      for (const timeout of [Number.NaN, Infinity, 1.5, '10'] as unknown as number[]) {
        await expect(session.request('/x', undefined, { timeout })).rejects.toThrow(/timeout must be an integer/);
        expect(() => session.subscribe('/x', undefined, { next() {}, complete() {}, error() {} }, { timeout })).toThrow(/timeout must be an integer/);
      }
      expect(() => session.subscribe('/x', undefined, { next() {}, complete() {}, error() {} }, { firstReplyTimeout: Number.NaN })).toThrow(/firstReplyTimeout/);
      expect((session as Session & { pendingStreams: number }).pendingStreams).toBe(0);
      // 0 and negative integers keep their documented meaning (the default, streamTimeout).
      expect((await session.request('/x', undefined, { timeout: 0 })).dataAsString()).toBe('ok');
      expect((await session.request('/x', undefined, { timeout: -1 })).dataAsString()).toBe('ok');
      expect((await client.request('/x', undefined, { timeout: 1000 })).dataAsString()).toBe('ok');
    });
  });
});

describe('only an X-Cancel Alarm cancels a stream we answer', () => {
  it('another Alarm is logged and handed to the stream\'s onAlarm hooks; the stream stays and is answered', async () => {
    const logger = new MemoryLogger();
    const received = deferred<ReceivedMessage>();
    const alarms: string[] = [];
    const cancelled = deferred();
    const { server, port } = await startServer('tcp', {
      logger,
      onMessage: (_s, m) => {
        m.onAlarm((alarm) => alarms.push(alarm.dataAsString()));
        m.onCancel(() => cancelled.resolve());
        received.resolve(m);
      },
    });
    const peer = await RawPeer.open(port);
    peer.write(frameBytes(Flags.Request, 'r1', '/slow'));
    const message = await received.promise;
    // An upstream-style Alarm (no X-Cancel): not a cancel.
    peer.write(frameBytes(Flags.Alarm, 'r1', '/slow', 'code=7', 'just so you know'));
    await until(() => alarms.length === 1, 20_000, 'the alarm hook');
    expect(alarms).toEqual(['just so you know']);
    expect(message.isDone).toBe(false);
    expect(logger.has('warn', /sent an Alarm: just so you know/)).toBe(true);
    const session = [...server.sessions][0] as Session & { inboundStreams: number };
    expect(session.inboundStreams).toBe(1);
    // The stream is still answered.
    session.replyEnd(message, 'late but here');
    const reply = await peer.next((f) => f.flag === Flags.ReplyEnd && f.sid === 'r1');
    expect(reply.data.toString()).toBe('late but here');

    // Our cancel (X-Cancel=1) ends the next one.
    peer.write(frameBytes(Flags.Subscribe, 's2', '/slow'));
    await until(() => session.inboundStreams === 1, 20_000, 'the Subscribe');
    peer.write(frameBytes(Flags.Alarm, 's2', '/slow', 'X-Cancel=1', 'stream cancelled by the requester'));
    await cancelled.promise;
    expect(session.inboundStreams).toBe(0);
    peer.destroy();
    await server.close();
  });
});

describe('one URL-list parser and one string hash', () => {
  it('a comma in a query stays in its URL (the player used to split it)', () => {
    expect(clusterUrls('sd:tcp://a:1/p?tags=a,b')).toEqual(['sd:tcp://a:1/p?tags=a,b']);
    expect(clusterUrls('sd:tcp://a:1?tags=a,b, sd:ws://b:2')).toEqual(['sd:tcp://a:1?tags=a,b', 'sd:ws://b:2']);
  });

  it("Java's String.hashCode", () => {
    // Values of "hello".hashCode() and "Socket.D".hashCode() in Java.
    expect(stringHash('hello')).toBe(99162322);
    expect(stringHash('')).toBe(0);
    expect(stringHash('polygenelubricants')).toBe(-2147483648);
    expect(hashIndex('hello', 7)).toBe(99162322 % 7);
  });
});

describe('a cluster client with autoReconnect off', () => {
  it('connects lazily on its first call; once its servers are gone, calls fail at once', async () => {
    const { server, url } = await startServer('tcp', { logger: false, onMessage: (s, m) => { if (m.isRequest) s.replyEnd(m, 'ok'); } });
    const cluster = new SdClusterClient([url], { autoReconnect: false, logger: false, requestTimeout: 5_000 });
    try {
      expect((await cluster.request('/x')).dataAsString()).toBe('ok');
      await server.close();
      await until(() => cluster.up === 0, 20_000, 'the server gone');
      const started = Date.now();
      const err = await cluster.request('/x').catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(isSocketDError(err, 'UNREACHABLE')).toBe(true);
      expect((err as Error).message).toMatch(/No session is available! \(0 of 1 up: .*connection closed/);
    } finally {
      await cluster.close();
    }
  });
});
