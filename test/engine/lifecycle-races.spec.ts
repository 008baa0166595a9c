import { afterEach, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { encodeFrame, Flags, FrameDecoder, type Frame } from '../../lib/protocol/index.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SdClient, type ClientStatus, type Session } from '../../lib/engine.js';
import { MemoryLogger, RawPeer, frameBytes } from './raw-peer.js';
import { startServer } from '../support/engine.js';
import { deferred, until } from '../support/engine.js';

/**
 * A hand-driven Socket.D server on a real socket: answers Connect as told (Connack, Connack
 * and Close in one write, or nothing), Pongs every Ping and counts them.
 */
class ScriptedServer {
  readonly sockets = new Set<net.Socket>();
  connects = 0;
  pings = 0;
  answer: 'connack' | 'connack+close' | 'silent' = 'connack';
  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(): Promise<ScriptedServer> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const scripted = new ScriptedServer(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => scripted.accept(socket));
    return scripted;
  }

  get url(): string {
    return `sd:tcp://127.0.0.1:${this.port}/scripted`;
  }

  /** Ends every connection without a Close frame (a dropped link). */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder((frame: Frame) => {
      if (frame.flag === Flags.Connect) {
        this.connects++;
        const connack = encodeFrame({ flag: Flags.Connack, sid: frame.sid, event: frame.event, metaString: 'Socket.D=1.0', data: frame.data });
        const close = encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: 'code=1001', data: Buffer.alloc(0) });
        if (this.answer === 'connack') socket.write(connack);
        else if (this.answer === 'connack+close') socket.end(Buffer.concat([connack, close])); // one read on the client
      } else if (frame.flag === Flags.Ping) {
        this.pings++;
        socket.write(encodeFrame({ flag: Flags.Pong, sid: '', event: '', metaString: '', data: Buffer.alloc(0) }));
      }
    });
    socket.on('data', (chunk) => decoder.push(chunk));
  }
}

const servers = new Set<ScriptedServer>();
const clients = new Set<SdClient>();
afterEach(async () => {
  await Promise.all([...clients].map((c) => c.close()));
  clients.clear();
  await Promise.all([...servers].map((s) => s.close()));
  servers.clear();
});

async function scripted(): Promise<ScriptedServer> {
  const server = await ScriptedServer.start();
  servers.add(server);
  return server;
}

function client(url: string, options: ConstructorParameters<typeof SdClient>[1] = {}): SdClient {
  const c = new SdClient(url, { logger: false, reconnectDelay: 50, maxReconnectDelay: 200, ...options });
  clients.add(c);
  return c;
}

describe('connection lifecycle races on real sockets', () => {
  it('Connack and Close in one read: connect() never resolves with the closed session, status never stays connected', async () => {
    const server = await scripted();
    server.answer = 'connack+close';
    const c = client(server.url);
    const err = await c.connect().catch((e: unknown) => e);
    expect(isSocketDError(err, 'CONNECTION_CLOSED')).toBe(true);
    expect((err as Error).message).toMatch(/right after the handshake/);
    expect(c.session).toBeUndefined();
    expect(c.status).not.toBe('connected');

    // The same race on a reconnect: the status ends at reconnecting (a retry is queued), not connected.
    server.answer = 'connack';
    const statuses: ClientStatus[] = [];
    c.onStatus((s) => statuses.push(s));
    await c.connect();
    server.answer = 'connack+close';
    const connectsBefore = server.connects;
    server.dropAll();
    await until(() => server.connects >= connectsBefore + 2, 20_000, 'two reconnect attempts');
    expect(c.session).toBeUndefined();
    expect(['reconnecting', 'disconnected']).toContain(c.status);
    expect(c.state).not.toBe('open');
    server.answer = 'connack';
    await until(() => c.status === 'connected', 20_000, 'reconnected');
    expect(c.session?.isOpen).toBe(true);
  });

  it('close() during connect: connect() fails with CONNECTION_CLOSED, status closed, no attempt afterwards', async () => {
    const server = await scripted();
    server.answer = 'silent';
    const c = client(server.url, { connectTimeout: 30_000 });
    const connecting = c.connect();
    await until(() => server.connects === 1, 20_000, 'the Connect');
    expect(c.state).toBe('handshaking');
    await c.close();
    const err = await connecting.catch((e: unknown) => e);
    expect(isSocketDError(err, 'CONNECTION_CLOSED')).toBe(true);
    expect(c.status).toBe('closed');
    await until(() => server.sockets.size === 0, 20_000, 'the socket closed');
    await new Promise((r) => setTimeout(r, 500));
    expect(server.connects).toBe(1);
  });

  it('close() while a reconnect is scheduled: it never runs', async () => {
    const server = await scripted();
    const c = client(server.url, { reconnectDelay: 300, maxReconnectDelay: 300 });
    await c.connect();
    const down = deferred();
    c.onStatus((s) => { if (s === 'reconnecting') down.resolve(); });
    server.dropAll();
    await down.promise;
    expect(c.state).toBe('backoff');
    await c.close();
    await new Promise((r) => setTimeout(r, 800));
    expect(server.connects).toBe(1);
    expect(c.status).toBe('closed');
  });

  it('one heartbeat timer after three reconnects: a 100 ms heartbeat sends ~10 Pings per second, not 40', async () => {
    const server = await scripted();
    const c = client(server.url, { heartbeatInterval: 100 });
    await c.connect();
    for (let i = 1; i <= 3; i++) {
      server.dropAll();
      await until(() => server.connects === i + 1 && c.status === 'connected', 20_000, `reconnect ${i}`);
    }
    const before = server.pings;
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 1_000));
    const perSecond = ((server.pings - before) * 1000) / (Date.now() - started);
    // One timer: 10/s (a loaded machine may skip some); four stacked timers would give ~40.
    expect(perSecond).toBeGreaterThan(3);
    expect(perSecond).toBeLessThan(15);
  });
});

describe('Close 1000 fence (server side)', () => {
  it('what the peer started before its Pong is served; what it starts after it read the Close gets an Alarm; preclose() resolves on the Pong', async () => {
    const logger = new MemoryLogger();
    const opened = deferred<Session>();
    const served: string[] = [];
    const { server, port } = await startServer('tcp', {
      logger,
      onOpen: (s) => opened.resolve(s),
      onMessage: (s, m) => { served.push(m.event); if (m.isRequest) s.replyEnd(m, 'ok'); },
    });
    const peer = await RawPeer.open(port);
    const session = await opened.promise;
    let fenced = false;
    const precloseDone = session.preclose().then(() => { fenced = true; });
    await peer.next((f) => f.flag === Flags.Close);
    await peer.next((f) => f.flag === Flags.Ping);
    expect(session.state).toBe('closing');
    // A Request in flight when the Close arrived (written before the Pong), then the Pong, then one that ignores the Close.
    peer.write(frameBytes(Flags.Request, 'before', '/before'), frameBytes(Flags.Pong, '', ''), frameBytes(Flags.Request, 'after', '/after'));
    await precloseDone;
    expect(fenced).toBe(true);
    const answer = await peer.next((f) => f.sid === 'before' && f.flag === Flags.ReplyEnd);
    expect(answer.data.toString()).toBe('ok');
    const refused = await peer.next((f) => f.sid === 'after');
    expect(refused.flag).toBe(Flags.Alarm);
    expect(refused.data.toString()).toMatch(/closing \(Close 1000 sent\)/);
    expect(served).toEqual(['/before']);
    expect(logger.has('warn', /after our Close 1000/)).toBe(true);
    expect(() => session.send('/x')).toThrow(/closing/);
    peer.destroy();
    await server.close();
  });
});
