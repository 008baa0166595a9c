import { afterEach, describe, expect, it } from '@jest/globals';
import { SdClient, SdServer, udpStats, type ClientOptions, type ServerOptions, type Session } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { Clients, deferred } from '../support/engine.js';
import {
  CLOSE_1001, closeRawSockets, connectFrame, messageFrame, PING, RawTokenClient, rawUdp, split, stable, startUdp as startUdpServer, stats, TOKEN_REQUEST_BYTES, waitFor,
} from './udp-helpers.js';

// sd:udp over real sockets on 127.0.0.1 (spec 3.3): one frame per datagram, sessions keyed
// by the remote ip:port, no fragmentation, heartbeat and idle timeout as the only liveness.

const clients = new Clients();
const servers: SdServer[] = [];

afterEach(async () => {
  await clients.closeAll();
  closeRawSockets();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const startUdp = (options: ServerOptions = {}): ReturnType<typeof startUdpServer> => startUdpServer(servers, options);

function open(url: string, options: ClientOptions = {}): Promise<SdClient> {
  return clients.open(url, { logger: false, ...options });
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
    await waitFor(() => stats(big.server).halfOpen === 0, 'the client\'s token echoed');
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
    await waitFor(() => stats(server).halfOpen === 0, 'the client\'s token echoed');
    const fromGood = stats(server).datagramsIn; // its Connect and the Ping carrying its token
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
    // UDP may still lose some: every one that arrived (all but the good client's) was dropped and counted.
    const arrived = await stable(() => stats(server).datagramsIn);
    const s = stats(server);
    expect(s.droppedGarbage + s.droppedStrangers + s.droppedOversize).toBe(arrived - fromGood);
    expect(s.droppedGarbage).toBeGreaterThanOrEqual(80); // of 100
    expect(s.droppedStrangers).toBeGreaterThanOrEqual(48); // of 60
    expect(s.droppedOversize).toBeGreaterThanOrEqual(16); // of 20
    expect(s.sessions).toBe(1);
    expect((await good.request('echo', 'fine')).dataAsString()).toBe('fine');
    await good.send('after', 'attack');
    await waitFor(() => messages.includes('after:attack'), 'the good Message');
    expect(messages).toEqual(['after:attack']);
  });

  it('tokenless peers (udpAllowTokenless): sessions keyed by ip:port, a new Connect replaces the session, a duplicated one is ignored', async () => {
    const { server, port } = await startUdp({ udpAllowTokenless: true });
    const peer = await rawUdp();
    const answers: Buffer[] = [];
    peer.on('message', (m) => answers.push(m));
    peer.send(connectFrame(port, 'sid-a'), port, '127.0.0.1');
    await waitFor(() => answers.length === 1, 'the first Connack');
    expect(answers[0]!.readInt32BE(4)).toBe(Flags.Connack);
    expect(answers[0]!.length).toBe(answers[0]!.readInt32BE(0)); // an upstream peer gets no token after the frame
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

  it('tokenless peers (udpAllowTokenless): maxConnections bounds the sessions under a flood of Connects', async () => {
    const { server, url, port } = await startUdp({ maxConnections: 20, udpAllowTokenless: true });
    const good = await open(url);
    await waitFor(() => stats(server).halfOpen === 0, 'the client\'s token echoed');
    const fromGood = stats(server).datagramsIn;
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
    expect(s.refusedConnects).toBe(arrived - fromGood - 19);
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
    const client = clients.create(`sd:udp://127.0.0.1:${port}`, { logger: false, autoReconnect: false, connectTimeout: 1500 });
    const err = await client.connect().then(() => undefined, (e: unknown) => e);
    expect(isSocketDError(err, 'TRANSPORT') || isSocketDError(err, 'CONNECT_TIMEOUT')).toBe(true);
  });
});

describe('sd:udp tokens (default options)', () => {
  it('our client asks for a token in its Connect, carries the Connack\'s token after every frame and drops datagrams without it', async () => {
    // A fake server sees what our client sends: the Connect, then the Connack's token back.
    const fake = await rawUdp();
    const seen: Buffer[] = [];
    let clientPort = 0;
    fake.on('message', (m, from) => {
      seen.push(m);
      if (seen.length > 1) return;
      clientPort = from.port;
      const { frame } = split(m);
      const connack = encodeFrame({ flag: Flags.Connack, sid: frame.sid, event: frame.event, metaString: 'Socket.D=1.0', data: frame.data });
      fake.send(Buffer.concat([connack, Buffer.from('12345678')]), from.port, from.address);
    });
    const pushed: string[] = [];
    const client = await open(`sd:udp://127.0.0.1:${fake.address().port}`, {
      heartbeatInterval: 0, onMessage: (_s, m) => pushed.push(m.dataAsString()),
    });
    await client.send('hello', 'x');
    await waitFor(() => seen.length === 3, 'Connect, Ping, Message');
    const [connect, ping, message] = seen.map(split);
    expect(connect!.frame.flag).toBe(Flags.Connect);
    expect(connect!.trailer).toEqual(TOKEN_REQUEST_BYTES);
    expect(ping!.frame.flag).toBe(Flags.Ping); // sent at once: it proves the client's address
    expect(ping!.trailer.toString()).toBe('12345678');
    expect(message!.frame.event).toBe('hello');
    expect(message!.trailer.toString()).toBe('12345678');

    // Forged Closes (no token, a wrong one) and a forged Message do nothing; the real token does.
    const closed = deferred<number>();
    client.session!.onClose((code) => closed.resolve(code));
    fake.send(CLOSE_1001, clientPort, '127.0.0.1');
    fake.send(Buffer.concat([CLOSE_1001, Buffer.from('87654321')]), clientPort, '127.0.0.1');
    fake.send(messageFrame(Flags.Message, 'm1', 'push', 'forged'), clientPort, '127.0.0.1');
    fake.send(Buffer.concat([messageFrame(Flags.Message, 'm2', 'push', 'real'), Buffer.from('12345678')]), clientPort, '127.0.0.1');
    await waitFor(() => pushed.length === 1, 'the real push');
    expect(pushed).toEqual(['real']);
    expect(client.session!.isOpen).toBe(true);
    fake.send(Buffer.concat([CLOSE_1001, Buffer.from('12345678')]), clientPort, '127.0.0.1');
    expect(await closed.promise).toBe(1001);
  });

  it('our client talks to a tokenless (upstream) server without a token: its Connack has no trailer', async () => {
    const fake = await rawUdp();
    const seen: Buffer[] = [];
    fake.on('message', (m, from) => {
      seen.push(m);
      const { frame } = split(m);
      if (frame.flag === Flags.Connect) {
        fake.send(encodeFrame({ flag: Flags.Connack, sid: frame.sid, event: frame.event, metaString: 'Socket.D=1.0', data: frame.data }), from.port, from.address);
      } else if (frame.flag === Flags.Request) {
        fake.send(encodeFrame({ flag: Flags.ReplyEnd, sid: frame.sid, event: frame.event, metaString: '', data: frame.data }), from.port, from.address);
      }
    });
    const client = await open(`sd:udp://127.0.0.1:${fake.address().port}`, { heartbeatInterval: 0 });
    expect((await client.request('echo', 'plain')).dataAsString()).toBe('plain');
    expect(seen.length).toBe(2); // Connect and Request: no Ping
    expect(split(seen[1]!).trailer.length).toBe(0);
  });

  it('refuses a Connect without the token request (Close 1001, counted, one log line) unless udpAllowTokenless', async () => {
    const lines: string[] = [];
    const logger = { log: () => undefined, warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const { server, port } = await startUdp({ logger });
    const peer = await rawUdp();
    const answers: Buffer[] = [];
    peer.on('message', (m) => answers.push(m));
    peer.send(connectFrame(port, 'upstream-1'), port, '127.0.0.1');
    peer.send(connectFrame(port, 'upstream-2'), port, '127.0.0.1');
    await waitFor(() => answers.length === 2, 'two answers');
    for (const a of answers) expect(a).toEqual(CLOSE_1001); // what an upstream client reads as "rejected"
    expect(stats(server)).toMatchObject({ refusedTokenless: 2, sessions: 0, refusedConnects: 0 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Socket\.D UDP server: ignored 1 Connect\(s\), the last from 127\.0\.0\.1:\d+: no udp token was asked for .*udpAllowTokenless/);
  });

  it('answers a token-carrying datagram from an address it has no session for with Close 1001 and that token', async () => {
    const { server, port } = await startUdp();
    const peer = await rawUdp();
    const answers: Buffer[] = [];
    peer.on('message', (m) => answers.push(m));
    peer.send(Buffer.concat([PING, Buffer.from('abcdefgh')]), port, '127.0.0.1'); // a session the server forgot
    peer.send(PING, port, '127.0.0.1'); // no token: a stranger, no answer
    await waitFor(() => answers.length === 1, 'the answer');
    expect(answers[0]).toEqual(Buffer.concat([CLOSE_1001, Buffer.from('abcdefgh')]));
    await waitFor(() => stats(server).droppedStrangers === 2, 'both counted');
    expect(answers).toHaveLength(1);
  });

  it('maxConnectionsPerAddress counts proven sessions only: half-open ones from the IP do not lock a client out', async () => {
    const { server, port, url } = await startUdp({ maxConnectionsPerAddress: 2 });
    // Ten Connects from 127.0.0.1 that never echo their token (forged sources would not).
    for (let i = 0; i < 10; i++) (await rawUdp()).send(Buffer.concat([connectFrame(port, `half-${i}`), TOKEN_REQUEST_BYTES]), port, '127.0.0.1');
    await waitFor(() => stats(server).halfOpen === 10, 'ten half-open sessions');
    const a = await open(url);
    const b = await open(url);
    expect((await a.request('echo', 'a')).dataAsString()).toBe('a');
    expect((await b.request('echo', 'b')).dataAsString()).toBe('b');
    // A third proven session from the IP is one too many: closed with a Close 1001 carrying its token.
    const third = new RawTokenClient(await rawUdp(), port);
    const token = await third.handshake('third');
    await waitFor(() => third.received.length === 2, 'the Close');
    expect(third.received[1]).toEqual(Buffer.concat([CLOSE_1001, token]));
    expect(stats(server)).toMatchObject({ refusedConnects: 1, halfOpen: 10, sessions: 12 });
  });
});
