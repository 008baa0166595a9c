import { afterEach, describe, expect, it } from '@jest/globals';
import type { SdServer } from '../../lib/engine.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { Clients } from '../support/engine.js';
import {
  closeRawSockets, connectFrame, PING, rawUdp, split, stable, startUdp, stats, TOKEN_REQUEST_BYTES, waitFor,
} from './udp-helpers.js';

// sd:udp loses datagrams: a lost Connect or Connack must not cost the connection. Our client
// resends its Connect until a Connack comes; our server answers a resent Connect of a
// half-open session with the same Connack (one session, one token). Real sockets, with a
// relay in between that drops chosen datagrams.

const clients = new Clients();
const servers: SdServer[] = [];

afterEach(async () => {
  await clients.closeAll();
  closeRawSockets();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * A udp relay for one client: what the client sends to `port` goes on to the server from the
 * relay's second socket, and back. The datagrams numbered (from 1) in `dropFromClient` /
 * `dropFromServer` are recorded but not forwarded.
 */
async function relay(serverPort: number, dropFromClient: number[], dropFromServer: number[]): Promise<{ port: number; fromClient: Buffer[]; fromServer: Buffer[] }> {
  const front = await rawUdp();
  const back = await rawUdp();
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  let client: { address: string; port: number } | undefined;
  front.on('message', (m, from) => {
    client = from;
    fromClient.push(m);
    if (!dropFromClient.includes(fromClient.length)) back.send(m, serverPort, '127.0.0.1');
  });
  back.on('message', (m) => {
    fromServer.push(m);
    if (!dropFromServer.includes(fromServer.length) && client !== undefined) front.send(m, client.port, client.address);
  });
  return { port: front.address().port, fromClient, fromServer };
}

const flagOf = (datagram: Buffer): number => datagram.readInt32BE(4);

describe('sd:udp: a lost Connect or Connack (default options)', () => {
  it('the client resends a lost Connect (the same datagram) and is served', async () => {
    const { server, port } = await startUdp(servers);
    const r = await relay(port, [1], []);
    const client = await clients.open(`sd:udp://127.0.0.1:${r.port}/path`, { logger: false });
    expect((await client.request('echo', 'after a lost Connect')).dataAsString()).toBe('after a lost Connect');
    const connects = r.fromClient.filter((d) => flagOf(d) === Flags.Connect);
    expect(connects.length).toBeGreaterThanOrEqual(2);
    for (const c of connects) expect(c).toEqual(connects[0]); // same bytes: same sid, same token request
    expect(split(connects[0]!).trailer).toEqual(TOKEN_REQUEST_BYTES);
    expect(stats(server)).toMatchObject({ sessions: 1, halfOpen: 0, replacedSessions: 0 });
    // Once the Connack came, the client stops resending.
    const sent = await stable(() => r.fromClient.filter((d) => flagOf(d) === Flags.Connect).length);
    await new Promise((res) => setTimeout(res, 600));
    expect(r.fromClient.filter((d) => flagOf(d) === Flags.Connect).length).toBe(sent);
  });

  it('a lost Connack: the server answers the resent Connect with the same Connack and keeps one session', async () => {
    const { server, port } = await startUdp(servers);
    const r = await relay(port, [], [1]);
    const client = await clients.open(`sd:udp://127.0.0.1:${r.port}/path`, { logger: false });
    expect((await client.request('echo', 'after a lost Connack')).dataAsString()).toBe('after a lost Connack');
    const connacks = r.fromServer.filter((d) => flagOf(d) === Flags.Connack);
    expect(connacks.length).toBeGreaterThanOrEqual(2);
    for (const c of connacks) expect(c).toEqual(connacks[0]); // the same bytes, the same token
    const s = stats(server);
    expect(s.duplicateConnects).toBeGreaterThanOrEqual(1);
    expect(s).toMatchObject({ sessions: 1, halfOpen: 0, replacedSessions: 0, evictedHalfOpen: 0 });
    expect(server.sessions.size).toBe(1);
  });

  it('a lost token Ping: the client resends it until a Pong, so its session does not stay half-open', async () => {
    const { server, port } = await startUdp(servers);
    const r = await relay(port, [2], []); // the Connect goes through, the Ping after the Connack does not
    const client = await clients.open(`sd:udp://127.0.0.1:${r.port}/path`, { logger: false, heartbeatInterval: 0 });
    await waitFor(() => stats(server).halfOpen === 0, 'the resent Ping proved the address');
    const pings = (): Buffer[] => r.fromClient.filter((d) => flagOf(d) === Flags.Ping);
    expect(pings().length).toBeGreaterThanOrEqual(2);
    for (const p of pings()) expect(p).toEqual(pings()[0]); // the frame and the session's token
    expect(split(pings()[0]!).trailer).toEqual(split(r.fromServer[0]!).trailer);
    // Once the Pong came, no more Pings (heartbeats are off).
    const sent = await stable(() => pings().length);
    await new Promise((res) => setTimeout(res, 600));
    expect(pings().length).toBe(sent);
    expect(client.session!.isOpen).toBe(true);
    expect(stats(server)).toMatchObject({ sessions: 1, evictedHalfOpen: 0 });
  });

  it('a repeated Connect of a half-open session gets the same Connack within 3x its bytes; of a proven one, nothing', async () => {
    const { server, port } = await startUdp(servers);
    const socket = await rawUdp();
    const received: Buffer[] = [];
    socket.on('message', (m) => received.push(m));
    const connect = Buffer.concat([connectFrame(port, 'resent-1'), TOKEN_REQUEST_BYTES]);
    let sent = 0;
    const send = (d: Buffer): void => {
      sent += d.length;
      socket.send(d, port, '127.0.0.1');
    };
    for (let i = 1; i <= 4; i++) {
      send(connect);
      await waitFor(() => received.length === i, `Connack ${i}`);
    }
    for (const d of received) expect(d).toEqual(received[0]);
    expect(split(received[0]!).frame.flag).toBe(Flags.Connack);
    expect(received.reduce((n, d) => n + d.length, 0)).toBeLessThanOrEqual(3 * sent);
    expect(stats(server)).toMatchObject({ duplicateConnects: 3, sessions: 1, halfOpen: 1, replacedSessions: 0 });

    // The client proves its address (Pong back); a late copy of its Connect then gets no answer.
    const token = split(received[0]!).trailer;
    send(Buffer.concat([PING, token]));
    await waitFor(() => received.length === 5, 'the Pong');
    send(connect);
    await waitFor(() => stats(server).duplicateConnects === 4, 'the late copy counted');
    expect(await stable(() => received.length)).toBe(5);
    expect(stats(server)).toMatchObject({ sessions: 1, halfOpen: 0, replacedSessions: 0 });

    // A Connect with another sid still replaces a half-open session (spec 3.3), as before.
    const other = await rawUdp();
    const answers: Buffer[] = [];
    other.on('message', (m) => answers.push(m));
    other.send(Buffer.concat([connectFrame(port, 'other-1'), TOKEN_REQUEST_BYTES]), port, '127.0.0.1');
    await waitFor(() => answers.length === 1, 'its Connack');
    other.send(Buffer.concat([connectFrame(port, 'other-2'), TOKEN_REQUEST_BYTES]), port, '127.0.0.1');
    await waitFor(() => answers.length === 2, 'the replacement Connack');
    expect(split(answers[1]!).trailer).not.toEqual(split(answers[0]!).trailer);
    expect(stats(server)).toMatchObject({ sessions: 2, replacedSessions: 1 });
  });

  it('an upstream server that replaces its session for the resent Connect: the extra Connack and early frames are ignored', async () => {
    // A tokenless (upstream) server: it misses the first Connect, then answers every Connect
    // with a Message pushed too early and a Connack, and answers Requests.
    const fake = await rawUdp();
    const connects: Buffer[] = [];
    fake.on('message', (m, from) => {
      const { frame } = split(m);
      const answer = (flag: number, sid: string, data: Buffer | string, event = frame.event): void => {
        fake.send(encodeFrame({ flag: flag as never, sid, event, metaString: '', data: Buffer.from(data) }), from.port, from.address);
      };
      if (frame.flag === Flags.Connect) {
        connects.push(m);
        if (connects.length === 1) return;
        answer(Flags.Message, `early-${connects.length}`, 'too early', 'early');
        answer(Flags.Connack, frame.sid, frame.data);
        if (connects.length === 2) setTimeout(() => answer(Flags.Connack, frame.sid, frame.data), 50); // as a replacement would
      } else if (frame.flag === Flags.Request) {
        answer(Flags.ReplyEnd, frame.sid, frame.data);
      }
    });
    const pushed: string[] = [];
    const client = await clients.open(`sd:udp://127.0.0.1:${fake.address().port}`, {
      logger: false, heartbeatInterval: 0, onMessage: (_s, m) => pushed.push(m.event),
    });
    await new Promise((res) => setTimeout(res, 200)); // the second Connack has arrived
    expect((await client.request('echo', 'upstream')).dataAsString()).toBe('upstream');
    expect(client.session!.isOpen).toBe(true);
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(connects[1]).toEqual(connects[0]);
    expect(pushed).toEqual([]); // the Message before the Connack was dropped, not a protocol error
  });

  it('a client that never gets a Connack stops resending at connectTimeout', async () => {
    const silent = await rawUdp();
    const seen: Buffer[] = [];
    silent.on('message', (m) => seen.push(m));
    const client = clients.create(`sd:udp://127.0.0.1:${silent.address().port}`, { logger: false, autoReconnect: false, connectTimeout: 1200 });
    const err = await client.connect().then(() => undefined, (e: unknown) => e);
    expect(String(err)).toMatch(/no Connack/);
    const total = await stable(() => seen.length);
    // Sent at 0, 250, 750 ms (the next, at 1750 ms, is past the timeout); a late timer may skip one.
    expect(total).toBeGreaterThanOrEqual(2);
    expect(total).toBeLessThanOrEqual(3);
    for (const d of seen) expect(d).toEqual(seen[0]);
  });
});
