/**
 * Raw `net` ceilings: no framework, no JSON, length-prefixed binary frames
 * `[u32 length][u8 type][u32 id][payload]` (length counts type + id + payload).
 *
 * kind `single`: one `socket.write()` per frame on both ends (what Nest TCP does).
 * kind `corked` (opt-in): one write per frame inside a per-tick cork (what our connections do).
 * kind `batched`: frames produced in the same tick / from the same received chunk leave in
 * one write (the best a transport can hope for).
 *
 * `bulk` opens a second connection and pipes raw bytes (no framing) to measure the loopback
 * byte ceiling.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { countEvent } from '../server-state.js';

const HOST = '127.0.0.1';
const T_ECHO = 1;
const T_ECHO_REPLY = 2;
const T_EVENT = 3;
const T_STREAM = 4;
const T_ITEM = 5;
const T_END = 6;
const T_PUT = 7;
const T_PUT_REPLY = 8;
const T_BULK = 9;
const T_BULK_DONE = 10;
const HEADER = 9;

function frame(type: number, id: number, payload?: Buffer | null): Buffer {
  const plen = payload ? payload.length : 0;
  const b = Buffer.allocUnsafe(HEADER + plen);
  b.writeUInt32BE(5 + plen, 0);
  b[4] = type;
  b.writeUInt32BE(id >>> 0, 5);
  if (payload) payload.copy(b, HEADER);
  return b;
}

/** Splits a byte stream into frame bodies (type + id + payload), copying only partial frames. */
class Decoder {
  private chunks: Buffer[] = [];
  private have = 0;
  private need = 0;
  constructor(private readonly onFrame: (type: number, id: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf: Buffer;
    if (this.have === 0) {
      buf = chunk;
    } else {
      this.chunks.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return;
      buf = Buffer.concat(this.chunks, this.have);
      this.chunks = [];
      this.have = 0;
    }
    let off = 0;
    const end = buf.length;
    while (end - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (end - off - 4 < len) break;
      const body = off + 4;
      this.onFrame(buf[body]!, buf.readUInt32BE(body + 1), buf.subarray(body + 5, body + len));
      off = body + len;
    }
    if (off < end) {
      const rest = buf.subarray(off);
      this.chunks = [rest];
      this.have = rest.length;
      this.need = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4;
    }
  }
}

/**
 * Writes frames: one write each (`single`), coalesced per tick into one Buffer and one write
 * (`batched`), or one `socket.write()` each inside a per-tick cork (`corked`: what the engine's
 * connections do; Node's stream then flushes them with one writev).
 */
class Writer {
  private queue: Buffer[] = [];
  private queued = 0;
  private scheduled = false;
  private readonly batched: boolean;
  private readonly corked: boolean;
  constructor(
    private readonly socket: net.Socket,
    kind: string,
  ) {
    this.batched = kind === 'batched';
    this.corked = kind === 'corked';
  }

  private readonly uncork = (): void => {
    this.scheduled = false;
    this.socket.uncork();
  };

  write(b: Buffer): void {
    if (this.corked) {
      if (!this.scheduled) {
        this.scheduled = true;
        this.socket.cork();
        process.nextTick(this.uncork);
      }
      this.socket.write(b);
      return;
    }
    if (!this.batched) {
      this.socket.write(b);
      return;
    }
    this.queue.push(b);
    this.queued += b.length;
    if (this.queued >= 256 * 1024) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushCb);
    }
  }

  private readonly flushCb = (): void => {
    this.scheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.queue.length === 0) return;
    const out = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queued);
    this.queue = [];
    this.queued = 0;
    this.socket.write(out);
  }

  async drain(): Promise<void> {
    if (this.corked && this.scheduled) this.uncork();
    this.flush();
    if (this.socket.writableNeedDrain) await once(this.socket, 'drain');
  }
}

function serveConnection(socket: net.Socket, kind: string): void {
  socket.setNoDelay(true);
  const w = new Writer(socket, kind);
  let bulkLeft = -1;
  let bulkId = 0;
  const dec = new Decoder((type, id, payload) => {
    switch (type) {
      case T_ECHO:
        w.write(frame(T_ECHO_REPLY, id, payload));
        break;
      case T_EVENT:
        countEvent();
        break;
      case T_PUT: {
        const r = Buffer.allocUnsafe(4);
        r.writeUInt32BE(payload.length, 0);
        w.write(frame(T_PUT_REPLY, id, r));
        break;
      }
      case T_STREAM:
        void sendStream(w, id, payload.readUInt32BE(0));
        break;
      case T_BULK:
        // switch this connection to a raw byte sink; the client starts after the ack
        bulkLeft = Number(payload.readBigUInt64BE(0));
        bulkId = id;
        socket.write(frame(T_BULK, id));
        break;
      default:
        socket.destroy(new Error(`raw-net: bad frame type ${type}`));
    }
  });
  socket.on('data', (chunk: Buffer) => {
    if (bulkLeft >= 0) {
      // bulk mode: count raw bytes, no framing
      bulkLeft -= chunk.length;
      if (bulkLeft <= 0) {
        bulkLeft = -1;
        socket.write(frame(T_BULK_DONE, bulkId));
      }
      return;
    }
    dec.push(chunk);
  });
  socket.on('error', () => socket.destroy());
}

async function sendStream(w: Writer, id: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    w.write(frame(T_ITEM, id, Buffer.from(String(i))));
    if ((i & 1023) === 1023) await w.drain();
  }
  w.write(frame(T_END, id));
}

export const transport: BenchTransportModule = {
  async available() {
    return true;
  },

  bufferNote() {
    return 'raw bytes';
  },

  async startServer(kind: string): Promise<BenchServerHandle> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      serveConnection(s, kind);
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    return {
      port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  },

  async createClient(port: number, kind: string): Promise<BenchClient> {
    const socket = net.connect(port, HOST);
    await once(socket, 'connect');
    socket.setNoDelay(true);
    const w = new Writer(socket, kind);
    let nextId = 1;
    type Pending = { onFrame(type: number, payload: Buffer): void };
    const pending = new Map<number, Pending>();
    const dec = new Decoder((type, id, payload) => {
      const p = pending.get(id);
      if (p) p.onFrame(type, payload);
    });
    socket.on('data', (c: Buffer) => dec.push(c));
    socket.on('error', () => undefined);

    function request(type: number, payload: Buffer): Promise<Buffer> {
      const id = nextId++;
      return new Promise<Buffer>((resolve) => {
        pending.set(id, {
          onFrame(_t, p) {
            pending.delete(id);
            resolve(p);
          },
        });
        w.write(frame(type, id, payload));
      });
    }

    return {
      async echo(payload) {
        // JSON both ways, like every other row (the contract: resolves with the echoed value);
        // before 2026-12 this row returned the reply's bytes undecoded, a lighter client than any RPC row
        const r = await request(T_ECHO, Buffer.from(JSON.stringify(payload)));
        return JSON.parse(r.toString()) as unknown;
      },
      async echoBuffer(buf) {
        return (await request(T_ECHO, buf)).length;
      },
      async put(buf) {
        return (await request(T_PUT, buf)).readUInt32BE(0);
      },
      emit(payload) {
        const b = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
        w.write(frame(T_EVENT, 0, b));
      },
      drain: () => w.drain(),
      stream(n, onItem) {
        const id = nextId++;
        let count = 0;
        return new Promise<number>((resolve) => {
          pending.set(id, {
            onFrame(type) {
              if (type === T_ITEM) {
                count++;
                if (onItem) onItem();
              } else {
                pending.delete(id);
                resolve(count);
              }
            },
          });
          const nb = Buffer.allocUnsafe(4);
          nb.writeUInt32BE(n, 0);
          w.write(frame(T_STREAM, id, nb));
        });
      },
      async bulk(bytes, chunk) {
        const s = net.connect(port, HOST);
        await once(s, 'connect');
        const hdr = Buffer.allocUnsafe(8);
        hdr.writeBigUInt64BE(BigInt(bytes), 0);
        s.write(frame(T_BULK, 1, hdr));
        await once(s, 'data'); // ack: the server now counts raw bytes
        const done = new Promise<void>((resolve) => s.once('data', () => resolve()));
        let left = bytes;
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!s.write(c)) await once(s, 'drain');
        }
        await done;
        s.destroy();
      },
      async close() {
        socket.destroy();
      },
    };
  },
};
