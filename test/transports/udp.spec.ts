import { afterEach, describe, expect, it } from '@jest/globals';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { SdClient, SdServer, udpStats, type ClientOptions, type ServerOptions, type Session } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { Clients, deferred } from '../support/engine.js';

// sd:udp over real sockets on 127.0.0.1 (spec 3.3): one frame per datagram, sessions keyed
// by the remote ip:port, no fragmentation, heartbeat and idle timeout as the only liveness.

const clients = new Clients();
const servers: SdServer[] = [];
const raw: Socket[] = [];

afterEach(async () => {
  await clients.closeAll();
  for (const socket of raw.splice(0)) socket.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** An echoing udp server: `echo` Requests are answered with their data, Messages recorded. */
async function startUdp(options: ServerOptions = {}): Promise<{ server: SdServer; url: string; port: number; messages: string[] }> {
  const messages: string[] = [];
  const server = await new SdServer('sd:udp://127.0.0.1:0', {
    logger: false,
    onMessage: (session, message) => {
      if (message.isRequest) {
        if (message.event === 'echo') session.replyEnd(message, message.data);
        // 'drop' is never answered: the requester's timeout is all it gets.
      } else {
        messages.push(`${message.event}:${message.dataAsString()}`);
      }
    },
    ...options,
  }).listen();
  servers.push(server);
  const port = server.address()!.port;
  return { server, url: `sd:udp://127.0.0.1:${port}/path?u=a`, port, messages };
}

function open(url: string, options: ClientOptions = {}): Promise<SdClient> {
  return clients.open(url, { logger: false, ...options });
}

async function waitFor(pred: () => boolean, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with `read()` once it stopped changing for 300 ms. */
async function stable(read: () => number): Promise<number> {
  let last = read();
  let since = Date.now();
  while (Date.now() - since < 300) {
    await new Promise((r) => setTimeout(r, 20));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return last;
}

async function rawUdp(): Promise<Socket> {
  const socket = createSocket('udp4');
  raw.push(socket);
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

function connectFrame(port: number, sid: string): Buffer {
  const url = `udp://127.0.0.1:${port}/`;
  return encodeFrame({ flag: Flags.Connect, sid, event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
}

function stats(server: SdServer): Record<string, number> {
  return server.transportStats() as Record<string, number>;
}

describe('sd:udp engine', () => {
  it('handshakes, carries Messages and Request/Reply, and names the udp-java alias', async () => {
    const onOpen = deferred<Session>();
    const { server, url, port, messages } = await startUdp({ onOpen: (s) => onOpen.resolve(s) });
    const client = await open(url, { metas: { token: 't1' } });
    const serverSession = await onOpen.promise;
    expect(serverSession.handshake.params).toMatchObject({ u: 'a', token: 't1' });
    expect(serverSession.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(client.session!.handshake.url).toBe(`udp://127.0.0.1:${port}/path?u=a`);

    expect(await client.send('hello', 'world')).toBe(true);
    const reply = await client.request('echo', 'ping-1');
    expect(reply.dataAsString()).toBe('ping-1');
    await waitFor(() => messages.length === 1, 'the Message');
    expect(messages).toEqual(['hello:world']);

    // The server side can start exchanges too.
    const fromServer = deferred<string>();
    const c2 = await open(`sd:udp-java://127.0.0.1:${port}/`, {
      onMessage: (_s, m) => fromServer.resolve(m.dataAsString()),
    });
    await waitFor(() => server.sessions.size === 2, 'two sessions');
    for (const s of server.sessions) if (s.remoteAddress !== serverSession.remoteAddress) s.send('push', 'to-c2');
    expect(await fromServer.promise).toBe('to-c2');
    expect(c2.session!.isOpen).toBe(true);
    // udpStats() of the native socket is the server's live counter object (not a copy, not undefined).
    const live = udpStats(server.unwrap());
    expect(live).toBeDefined();
    expect(stats(server)).toMatchObject(live!); // transportStats() = these counters plus the session count
    expect(udpStats({})).toBeUndefined();
    expect(stats(server)).toMatchObject({ sessions: 2, droppedGarbage: 0, droppedStrangers: 0 });
  });

  it('heartbeats keep a session open while the idle timeout closes a silent one (with a Close frame)', async () => {
    const { server, url } = await startUdp({ idleTimeout: 600 });
    const alive = await open(url, { heartbeatInterval: 150, idleTimeout: 0 });
    const silent = await open(url, { heartbeatInterval: 0, idleTimeout: 0 });
    const silentClosed = deferred<number>();
    silent.session!.onClose((code) => silentClosed.resolve(code));
    await waitFor(() => server.sessions.size === 2, 'two sessions');
    // The server's idle close sends Close 1001: the silent client hears it (its own idle watch is off).
    expect(await silentClosed.promise).toBe(1001);
    await waitFor(() => server.sessions.size === 1, 'the silent session closed');
    await new Promise((r) => setTimeout(r, 900)); // well past idleTimeout: the pinging one stays
    expect(server.sessions.size).toBe(1);
    expect(alive.session!.isOpen).toBe(true);
    expect((await alive.request('echo', 'still here')).dataAsString()).toBe('still here');
  });

  it('refuses a frame over maxDatagramSize with DATAGRAM_TOO_LARGE (that call alone; never fragments)', async () => {
    const { server, url } = await startUdp();
    const client = await open(url);
    const session = client.session!;
    let err: unknown;
    try { session.send('big', Buffer.alloc(3000)); } catch (e) { err = e; }
    expect(isSocketDError(err, 'DATAGRAM_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toMatch(/frame of \d+ bytes does not fit in one datagram of maxDatagramSize 2048; nothing was sent/);
    await expect(session.request('echo', Buffer.alloc(2100))).rejects.toMatchObject({ code: 'SOCKETD_ERR_DATAGRAM_TOO_LARGE' });
    expect((session as unknown as { pendingStreams: number }).pendingStreams).toBe(0);
    // The session carries on.
    expect((await client.request('echo', Buffer.alloc(1900, 7))).data).toEqual(Buffer.alloc(1900, 7));

    // A bigger cap on both ends, and fragmentSize does not apply over udp: one datagram each way.
    const big = await startUdp({ maxDatagramSize: 8192, fragmentSize: 1024 });
    const c2 = await open(big.url, { maxDatagramSize: 8192, fragmentSize: 1024 });
    const before = stats(big.server).datagramsIn;
    expect((await c2.request('echo', Buffer.alloc(5000, 1))).data.length).toBe(5000);
    expect(stats(big.server).datagramsIn - before).toBe(1);
    // A datagram over the receiver's cap is dropped there and counted: the request times out.
    const c3 = await open(url, { maxDatagramSize: 8192 });
    await expect(c3.request('echo', Buffer.alloc(3000), { timeout: 300 })).rejects.toMatchObject({ code: 'SOCKETD_ERR_TIMEOUT' });
    expect(stats(server).droppedOversize).toBe(1);
  });

  it('drops garbage and frames from strangers (counted) while a good client keeps working', async () => {
    const { server, url, port, messages } = await startUdp();
    const good = await open(url);
    const attacker = await rawUdp();
    const garbage = [
      Buffer.from([1, 2]), // shorter than a length
      Buffer.from('GET / HTTP/1.1\r\n\r\n'), // wrong protocol
      Buffer.from([0, 0, 0, 200, 0, 0, 0, 0x10]), // len longer than the datagram
      Buffer.from([0, 0, 0, 8, 0x7f, 0, 0, 0]), // unknown flag
      Buffer.from([0, 0, 0, 20, 0, 0, 0, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), // no terminators
    ];
    const stranger = [
      encodeFrame({ flag: Flags.Message, sid: 's1', event: 'hello', metaString: '', data: Buffer.from('x') }),
      encodeFrame({ flag: Flags.Ping, sid: '', event: '', metaString: '', data: Buffer.alloc(0) }),
      encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: 'code=1001', data: Buffer.alloc(0) }),
    ];
    for (let round = 0; round < 20; round++) {
      for (const d of [...garbage, ...stranger]) attacker.send(d, port, '127.0.0.1');
      attacker.send(Buffer.alloc(3000), port, '127.0.0.1'); // over maxDatagramSize
      await new Promise((r) => setTimeout(r, 5)); // paced: a burst can overflow even a loopback receive buffer
    }
    // UDP may still lose some: every one that arrived (all but the good Connect) was dropped and counted.
    const arrived = await stable(() => stats(server).datagramsIn);
    const s = stats(server);
    expect(s.droppedGarbage + s.droppedStrangers + s.droppedOversize).toBe(arrived - 1);
    expect(s.droppedGarbage).toBeGreaterThanOrEqual(80); // of 100
    expect(s.droppedStrangers).toBeGreaterThanOrEqual(48); // of 60
    expect(s.droppedOversize).toBeGreaterThanOrEqual(16); // of 20
    expect(s.sessions).toBe(1);
    expect((await good.request('echo', 'fine')).dataAsString()).toBe('fine');
    await good.send('after', 'attack');
    await waitFor(() => messages.includes('after:attack'), 'the good Message');
    expect(messages).toEqual(['after:attack']);
  });

  it('keys sessions by ip:port: a new Connect replaces the session, a duplicated one is ignored', async () => {
    const { server, port } = await startUdp();
    const peer = await rawUdp();
    const answers: Buffer[] = [];
    peer.on('message', (m) => answers.push(m));
    peer.send(connectFrame(port, 'sid-a'), port, '127.0.0.1');
    await waitFor(() => answers.length === 1, 'the first Connack');
    expect(answers[0]!.readInt32BE(4)).toBe(Flags.Connack);
    const first = [...server.sessions][0]!;
    const firstClosed = deferred<number>();
    first.onClose((code) => firstClosed.resolve(code));
    peer.send(connectFrame(port, 'sid-a'), port, '127.0.0.1'); // the same datagram again
    await waitFor(() => stats(server).duplicateConnects === 1, 'the duplicate counted');
    peer.send(connectFrame(port, 'sid-b'), port, '127.0.0.1');
    await firstClosed.promise;
    await waitFor(() => answers.length === 2, 'the second Connack');
    expect(server.sessions.size).toBe(1);
    expect([...server.sessions][0]).not.toBe(first);
    expect(stats(server)).toMatchObject({ replacedSessions: 1, sessions: 1 });
  });

  it('bounds the sessions under a flood of Connects from many source ports (maxConnections)', async () => {
    const { server, url, port } = await startUdp({ maxConnections: 20 });
    const good = await open(url);
    const flooders = await Promise.all(Array.from({ length: 80 }, () => rawUdp()));
    for (const [i, s] of flooders.entries()) {
      s.send(connectFrame(port, `flood-${i}`), port, '127.0.0.1');
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5)); // paced: loopback may drop a burst
    }
    const arrived = await stable(() => stats(server).datagramsIn);
    const s = stats(server);
    expect(s.sessions).toBe(20);
    expect(server.sessions.size).toBe(20);
    // Every flood Connect that arrived either took one of the 19 free slots or was refused.
    expect(s.refusedConnects).toBe(arrived - 1 - 19); // all but the good client's Connect and 19 slots
    expect(s.refusedConnects).toBeGreaterThanOrEqual(48); // of 61
    expect((await good.request('echo', 'served')).dataAsString()).toBe('served');
  });

  it('sends Close frames both ways; a lost answer fails the request by its timeout', async () => {
    const { server, url } = await startUdp();
    const client = await open(url);
    await expect(client.request('drop', 'x', { timeout: 200 })).rejects.toMatchObject({ code: 'SOCKETD_ERR_TIMEOUT' });
    await client.close();
    await waitFor(() => server.sessions.size === 0 && stats(server).sessions === 0, 'the server session closed by the client\'s Close');

    const other = await open(url);
    const closed = deferred<number>();
    other.session!.onClose((code) => closed.resolve(code));
    await server.close();
    expect(await closed.promise).toBe(1001);
    expect(server.address()).toBeUndefined(); // the socket closed after its last session
  });

  it('a client dialling a port with no server fails (ICMP refusal or connect timeout)', async () => {
    const probe = await rawUdp();
    const port = probe.address().port;
    probe.close();
    raw.splice(raw.indexOf(probe), 1);
    const client = clients.create(`sd:udp://127.0.0.1:${port}`, { logger: false, autoReconnect: false, connectTimeout: 1500 });
    const err = await client.connect().then(() => undefined, (e: unknown) => e);
    expect(isSocketDError(err, 'TRANSPORT') || isSocketDError(err, 'CONNECT_TIMEOUT')).toBe(true);
  });
});
