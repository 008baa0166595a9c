import { afterEach, describe, expect, it } from '@jest/globals';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { SdServer, type EngineLogger } from '../../lib/engine.js';
import { Flags } from '../../lib/protocol/flags.js';
import { Clients } from '../support/engine.js';
import {
  CLOSE_1001, closeRawSockets, connectFrame, messageFrame, RawTokenClient, rawUdp, split, stable, startUdp, stats, TOKEN_REQUEST_BYTES, waitFor,
} from './udp-helpers.js';

// sd:udp against forged source addresses, on a server with DEFAULT options. A datagram "from"
// a victim is sent from a second socket bound to the victim's exact 127.0.0.1:port (both with
// SO_REUSEADDR; Linux then delivers what arrives at that address to the socket bound last, so
// the victim binds last and receives everything sent to its address).

const clients = new Clients();
const servers: SdServer[] = [];

afterEach(async () => {
  await clients.closeAll();
  closeRawSockets();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function recordingLogger(): EngineLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: () => undefined, warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

/** Bytes a raw socket sends and receives. */
function metered(socket: Socket): { sent: number; received: number; send(d: Buffer, port: number): void } {
  const m = {
    sent: 0,
    received: 0,
    send(d: Buffer, port: number) {
      m.sent += d.length;
      socket.send(d, port, '127.0.0.1');
    },
  };
  socket.on('message', (d: Buffer) => { m.received += d.length; });
  return m;
}

describe('sd:udp against forged sources (default options)', () => {
  it('forged Close and Request "from" a client\'s exact address are dropped and counted; its session carries on', async () => {
    const { server, port, url, messages } = await startUdp(servers);
    const bystander = await clients.open(url, { logger: false });
    const attacker = await rawUdp('127.0.0.1', 0, true);
    const victimSocket = await rawUdp('127.0.0.1', attacker.address().port, true); // the same address, bound last
    const victim = new RawTokenClient(victimSocket, port);
    const token = await victim.handshake('victim-connect');
    await waitFor(() => stats(server).halfOpen === 0, 'the victim proved its address');
    const session = [...server.sessions].find((s) => s.remoteAddress === `127.0.0.1:${victimSocket.address().port}`)!;
    expect(session).toBeDefined();
    const before = stats(server).droppedBadToken;

    // The attack of the issue: one Close "from" the victim; then Requests and Messages for its session.
    const wrong = Buffer.from(token.map((b) => b ^ 0xff));
    const forged = [
      CLOSE_1001,
      Buffer.concat([CLOSE_1001, TOKEN_REQUEST_BYTES]),
      Buffer.concat([CLOSE_1001, wrong]),
      messageFrame(Flags.Request, 'forged-1', 'echo', 'forged'),
      Buffer.concat([messageFrame(Flags.Request, 'forged-2', 'echo', 'forged'), wrong]),
      messageFrame(Flags.Message, 'forged-3', 'note', 'forged'),
      Buffer.concat([connectFrame(port, 'forged-connect'), TOKEN_REQUEST_BYTES]), // cannot take a proven address
      connectFrame(port, 'forged-connect-2'),
    ];
    for (const d of forged) attacker.send(d, port, '127.0.0.1');
    await waitFor(() => stats(server).droppedBadToken - before === forged.length, 'every forged datagram dropped');

    // The victim's own datagrams still work, in the same session.
    victim.sendWithToken(messageFrame(Flags.Request, 'real-1', 'echo', 'real'));
    victim.sendWithToken(messageFrame(Flags.Message, 'real-2', 'note', 'real'));
    await waitFor(() => victim.framesOf(Flags.ReplyEnd).length === 1, 'the real reply');
    await waitFor(() => messages.length === 1, 'the real Message');
    expect(victim.framesOf(Flags.ReplyEnd).map((f) => `${f.sid}:${f.data.toString()}`)).toEqual(['real-1:real']);
    expect(messages).toEqual(['note:real']);
    expect(victim.framesOf(Flags.Close)).toHaveLength(0);
    expect(session.isOpen).toBe(true);
    expect([...server.sessions]).toContain(session);
    expect(stats(server)).toMatchObject({ sessions: 2, replacedSessions: 0, droppedStrangers: 0 });
    expect((await bystander.request('echo', 'fine')).dataAsString()).toBe('fine');
  });

  it('a flood of 16 000 Connects from forged sources does not lock out new clients; only the half-open share churns', async () => {
    const logger = recordingLogger();
    const { server, port, url } = await startUdp(servers, { logger });
    const old = await clients.open(url, { logger: false });
    const flood = async (from: number, to: number): Promise<void> => {
      // Each Connect from its own source (an address that will never answer), spread over
      // 127.0.0.1-20 as spoofed sources would be. Paced by the server: the next 100 go once it
      // read most of the last ones (or after 500 ms), as fast as it takes them; a flood that
      // overruns its receive buffer would test UDP's loss, not the table (udp-retransmit.spec).
      for (let i = from; i < to; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => rawFloodSocket(`127.0.0.${1 + ((i + j) % 20)}`)));
        const before = stats(server).datagramsIn;
        batch.forEach((s, j) => s.send(Buffer.concat([connectFrame(port, `flood-${i + j}`), TOKEN_REQUEST_BYTES]), port, '127.0.0.1'));
        const until = Date.now() + 500;
        while (stats(server).datagramsIn - before < 90 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        for (const s of batch) s.close();
      }
    };
    await flood(0, 8000);
    // A new client in the middle of the flood: connects and is served.
    const during = flood(8000, 16_000);
    const mid = await clients.open(url, { logger: false });
    expect((await mid.request('echo', 'mid-flood')).dataAsString()).toBe('mid-flood');
    await during;
    const arrived = await stable(() => stats(server).datagramsIn);
    const late = await clients.open(url, { logger: false });
    expect((await late.request('echo', 'after')).dataAsString()).toBe('after');
    expect((await old.request('echo', 'old')).dataAsString()).toBe('old');

    const s = stats(server);
    expect(s.halfOpen).toBeLessThanOrEqual(1000); // a tenth of maxConnections (10 000)
    expect(s.sessions).toBeLessThanOrEqual(1000 + 3);
    // What arrived (the receive buffer may still have lost some) churned the share many times.
    expect(arrived).toBeGreaterThan(5000);
    // Every flood Connect that arrived opened a half-open session that is still there (at most
    // 1000), was evicted, or was replaced by a later Connect from the same (reused) port.
    expect(s.evictedHalfOpen + s.replacedSessions + s.halfOpen).toBeGreaterThanOrEqual(arrived - 30);
    expect(s.refusedConnects).toBe(0);
    expect(logger.lines.some((l) => /^Socket\.D UDP server: closed \d+ session\(s\), the last of 127\.0\.0\.\d+:\d+: a half-open session/.test(l))).toBe(true);
    expect(logger.lines.length).toBeLessThanOrEqual(5); // one line per 5 s, not one per Connect
  }, 120_000);

  it('sends an address that has not echoed its token at most 3x what it sent; after the echo, everything flows', async () => {
    const push = Buffer.alloc(100, 1);
    const { server, port } = await startUdp(servers, {
      // What an app may send at once to every new session: 30 messages, 3.6 KB.
      onOpen: (session) => { for (let i = 0; i < 30; i++) session.send('welcome', push); },
    });
    // The forged victim: receives (and counts) but never echoes the token.
    const victim = metered(await rawUdp('127.0.0.2'));
    victim.send(Buffer.concat([connectFrame(port, 'amp-1'), TOKEN_REQUEST_BYTES]), port);
    await waitFor(() => victim.received > 0, 'the Connack');
    // Subscribes to a 100 KB stream "from" the victim: without the token nothing runs.
    for (const trailer of [Buffer.alloc(0), TOKEN_REQUEST_BYTES, Buffer.from('guessed!')]) {
      victim.send(Buffer.concat([messageFrame(Flags.Subscribe, `s${trailer.length}`, 'stream', ''), trailer]), port);
    }
    await waitFor(() => stats(server).droppedBadToken === 3, 'the Subscribes dropped');
    await stable(() => victim.received);
    const factor = victim.received / victim.sent;
    expect(factor).toBeLessThanOrEqual(3);
    expect(factor).toBeGreaterThan(1); // the Connack and the first pushes used the allowance
    expect(stats(server).droppedUnvalidated).toBe(0); // the pushes wait for the proof (16 KiB at most)

    // A real client proves its address with the token: the held pushes, then the stream, flow.
    const real = new RawTokenClient(await rawUdp(), port);
    await real.handshake('amp-real', false);
    real.sendWithToken(messageFrame(Flags.Subscribe, 'real-stream', 'stream', ''));
    await waitFor(() => real.framesOf(Flags.ReplyEnd).length === 1, 'the whole stream', 15_000);
    expect(real.framesOf(Flags.Message).filter((f) => f.event === 'welcome')).toHaveLength(30);
    expect(real.framesOf(Flags.Reply)).toHaveLength(19);
    expect(split(real.received[1]!).frame.event).toBe('welcome'); // in order, after the Connack
    expect(stats(server).halfOpen).toBe(1); // the forged one, until it is evicted or idles out
  });
});

/** A socket for one forged Connect (closed by the caller). */
async function rawFloodSocket(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

