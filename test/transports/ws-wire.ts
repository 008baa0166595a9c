// Hand-made WebSocket frames (RFC 6455 5.2) and a parser of what comes back, for the
// conformance tests: no WebSocket library on the test side.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { cleanups, Queue, rawSocket } from './helpers.js';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export interface FrameSpec {
  fin?: boolean;
  /** RSV1-3 bits (0x40, 0x20, 0x10). */
  rsv?: number;
  /** A 4-byte mask key, or 'random', or undefined for an unmasked frame. */
  mask?: Buffer | 'random';
  /** Force the length form: 7-bit (when it fits), 16-bit or 64-bit. */
  lengthForm?: 7 | 16 | 64;
  /** Write this 64-bit length instead of the payload's (top bit tests). */
  length64High?: number;
}

/** One frame's bytes. */
export function wsFrame(opcode: number, payload: Buffer = Buffer.alloc(0), spec: FrameSpec = {}): Buffer {
  const n = payload.length;
  const form = spec.lengthForm ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const key = spec.mask === 'random' ? randomBytes(4) : spec.mask;
  const header: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv ?? 0) | opcode];
  const maskBit = key === undefined ? 0 : 0x80;
  if (form === 7) header.push(maskBit | n);
  else if (form === 16) header.push(maskBit | 126, n >>> 8, n & 0xff);
  else {
    const high = spec.length64High ?? Math.floor(n / 0x1_0000_0000);
    header.push(maskBit | 127, (high >>> 24) & 0xff, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff,
      (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  if (key === undefined) return Buffer.concat([Buffer.from(header), payload]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(header), key, masked]);
}

/** A Close frame's payload. */
export function closeBody(code: number, reason: Buffer | string = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** One frame as read off the wire (payload unmasked). */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  /** The mask key, when masked. */
  key: Buffer | undefined;
  /** Header bytes (2, 4 or 10, plus 4 when masked). */
  headerBytes: number;
  payload: Buffer;
}

/** Parses the frames a peer sends on `socket` (after `rest`, the bytes that followed the HTTP head). */
export class WireReader {
  readonly frames = new Queue<WireFrame>();
  readonly all: WireFrame[] = [];
  private pending: Buffer = Buffer.alloc(0);
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;
  /** True once the peer sent its FIN. */
  ended = false;

  constructor(readonly socket: Socket, rest: Buffer) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('data', (b: Buffer) => this.push(b));
    this.push(rest);
  }

  /** The next frame received. */
  async next(): Promise<WireFrame> {
    return this.frames.next();
  }

  private push(b: Buffer): void {
    this.pending = this.pending.length === 0 ? b : Buffer.concat([this.pending, b]);
    for (;;) {
      const p = this.pending;
      if (p.length < 2) return;
      const masked = (p[1]! & 0x80) !== 0;
      let length = p[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (p.length < 4) return;
        length = p.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (p.length < 10) return;
        length = p.readUInt32BE(2) * 0x1_0000_0000 + p.readUInt32BE(6);
        at = 10;
      }
      const key = masked ? p.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (p.length < at + length) return;
      const payload = Buffer.from(p.subarray(at, at + length));
      if (key !== undefined) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]!;
      const frame = { fin: (p[0]! & 0x80) !== 0, rsv: p[0]! & 0x70, opcode: p[0]! & 0x0f, key: key && Buffer.from(key), headerBytes: at, payload };
      this.all.push(frame);
      this.frames.push(frame);
      this.pending = p.subarray(at + length);
    }
  }
}

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** Reads an HTTP head off `socket`; returns it and the bytes after it. */
async function readHead(socket: Socket): Promise<{ head: string; rest: Buffer }> {
  let got = Buffer.alloc(0);
  while (got.indexOf('\r\n\r\n') === -1) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  const end = got.indexOf('\r\n\r\n') + 4;
  socket.pause();
  return { head: got.subarray(0, end).toString('latin1'), rest: got.subarray(end) };
}

/** A raw client that upgraded by hand to our server. */
export async function rawClient(port: number, protocol = 'Socket.D'): Promise<WireReader> {
  const s = await rawSocket(port);
  s.setNoDelay(true);
  const key = randomBytes(16).toString('base64');
  s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n` +
    `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`);
  const { head, rest } = await readHead(s);
  if (!head.startsWith('HTTP/1.1 101') || !head.includes(`Sec-WebSocket-Accept: ${acceptFor(key)}`)) throw new Error(`upgrade refused: ${head}`);
  if (/Sec-WebSocket-Extensions/i.test(head)) throw new Error('an extension was accepted');
  const reader = new WireReader(s, rest);
  s.resume();
  return reader;
}

/** A raw server speaking hand-made frames: each accepted client upgraded, with its request head. */
export interface RawServer {
  port: number;
  peers: Queue<{ reader: WireReader; request: string }>;
}

/** Options of `rawServer`: what the 101 answer says. */
export interface RawServerAnswer {
  /** The subprotocol answered (default Socket.D; null: none). */
  protocol?: string | null;
  /** A wrong Sec-WebSocket-Accept. */
  badAccept?: boolean;
  /** Extra header lines (each ending \r\n). */
  extra?: string;
}

export async function rawServer(answer: RawServerAnswer = {}): Promise<RawServer> {
  const peers = new Queue<{ reader: WireReader; request: string }>();
  const server: Server = createServer((s) => {
    cleanups.push(() => s.destroy());
    s.setNoDelay(true);
    void readHead(s).then(({ head, rest }) => {
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(head)?.[1] ?? '';
      const protocol = answer.protocol === undefined ? 'Socket.D' : answer.protocol;
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Accept: ${answer.badAccept === true ? acceptFor('x') : acceptFor(key)}\r\n` +
        `${protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`}${answer.extra ?? ''}\r\n`);
      const reader = new WireReader(s, rest);
      s.resume();
      peers.push({ reader, request: head });
    }, () => s.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { port: (server.address() as { port: number }).port, peers };
}
