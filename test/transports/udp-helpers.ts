import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { SdServer, type ServerOptions } from '../../lib/engine.js';
import { decodeFrameAt, encodeFrame } from '../../lib/protocol/frame-codec.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { Flags } from '../../lib/protocol/flags.js';

// Raw udp peers for the sd:udp tests: they write the datagrams by hand, so what the server
// accepts from a (forged) source address can be checked byte for byte.

/** The trailer of a Connect asking for a udp token (README: "8 bytes `SdToken?`"). */
export const TOKEN_REQUEST_BYTES = Buffer.from('SdToken?', 'latin1');

export const rawSockets: Socket[] = [];

/** Closes every raw socket opened since the last call. */
export function closeRawSockets(): void {
  for (const socket of rawSockets.splice(0)) {
    try { socket.close(); } catch { /* already closed */ }
  }
}

/** A udp4 socket bound to `address` (port 0: a free one), closed by `closeRawSockets()`. */
export async function rawUdp(address = '127.0.0.1', port = 0, reuseAddr = false): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr });
  rawSockets.push(socket);
  socket.bind(port, address);
  await once(socket, 'listening');
  return socket;
}

/** An upstream-style Connect frame (no trailer). */
export function connectFrame(port: number, sid: string): Buffer {
  const url = `udp://127.0.0.1:${port}/`;
  return encodeFrame({ flag: Flags.Connect, sid, event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
}

/** A message frame (`flag` Message, Request, Subscribe, ...) of `event` with `data`. */
export function messageFrame(flag: number, sid: string, event: string, data: string | Buffer): Buffer {
  return encodeFrame({ flag: flag as Frame['flag'], sid, event, metaString: '', data: Buffer.from(data) });
}

export const CLOSE_1001 = encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: 'code=1001', data: Buffer.alloc(0) });
export const PING = encodeFrame({ flag: Flags.Ping, sid: '', event: '', metaString: '', data: Buffer.alloc(0) });

/** The frame of a datagram and what follows it (the udp token, if any). */
export function split(datagram: Buffer): { frame: Frame; trailer: Buffer } {
  const len = datagram.readInt32BE(0);
  return { frame: decodeFrameAt(datagram, 0, len), trailer: datagram.subarray(len) };
}

export async function waitFor(pred: () => boolean, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with `read()` once it stopped changing for 300 ms. */
export async function stable(read: () => number): Promise<number> {
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

export function stats(server: SdServer): Record<string, number> {
  return server.transportStats() as Record<string, number>;
}

/** An echoing udp server: `echo` Requests are answered with their data, Messages recorded. */
export async function startUdp(servers: SdServer[], options: ServerOptions = {}): Promise<{ server: SdServer; url: string; port: number; messages: string[] }> {
  const messages: string[] = [];
  const server = await new SdServer('sd:udp://127.0.0.1:0', {
    logger: false,
    onMessage: (session, message) => {
      if (message.isSubscribe && message.event === 'stream') {
        // 20 KB for a Subscribe of ~30 bytes: what a reflection attack looks for.
        for (let i = 0; i < 19; i++) session.reply(message, Buffer.alloc(1000, i));
        session.replyEnd(message, 'end');
      } else if (message.isRequest) {
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

/**
 * A client written by hand that speaks the udp token: Connect + `SdToken?`, the token from the
 * Connack's trailer, then every datagram with the token after its frame. It receives on
 * `receiver` (by default the socket it sends from).
 */
export class RawTokenClient {
  readonly received: Buffer[] = [];
  token: Buffer | undefined;

  constructor(readonly socket: Socket, readonly serverPort: number, receiver: Socket = socket) {
    receiver.on('message', (m: Buffer) => this.received.push(m));
  }

  /** Sends the Connect and waits for the Connack; `validate` then sends a Ping with the token. */
  async handshake(sid: string, validate = true): Promise<Buffer> {
    this.send(Buffer.concat([connectFrame(this.serverPort, sid), TOKEN_REQUEST_BYTES]));
    await waitFor(() => this.received.length > 0, 'the Connack');
    const { frame, trailer } = split(this.received[0]!);
    if (frame.flag !== Flags.Connack) throw new Error(`expected a Connack, got flag ${frame.flag}`);
    this.token = Buffer.from(trailer);
    if (validate) this.sendWithToken(PING);
    return this.token;
  }

  send(datagram: Buffer): void {
    this.socket.send(datagram, this.serverPort, '127.0.0.1');
  }

  sendWithToken(frame: Buffer): void {
    this.send(Buffer.concat([frame, this.token!]));
  }

  /** Frames received with flag `flag` (each checked to carry the token). */
  framesOf(flag: number): Frame[] {
    return this.received.map(split).filter((d) => d.frame.flag === flag).map((d) => {
      if (!d.trailer.equals(this.token!)) throw new Error('a datagram without the token');
      return d.frame;
    });
  }
}
