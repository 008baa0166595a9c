import net from 'node:net';
import { encodeFrame, Flags, FrameDecoder } from '../../lib/protocol/index.js';
import type { Frame } from '../../lib/protocol/index.js';
import type { EngineLogger } from '../../lib/session/index.js';
import { deferred } from '../support/engine.js';

/** A hand-driven TCP peer: writes raw bytes, collects the frames it receives. */
export class RawPeer {
  readonly frames: Frame[] = [];
  readonly closed = deferred();
  private waiters: { test: (f: Frame) => boolean; resolve(f: Frame): void }[] = [];

  private constructor(readonly socket: net.Socket) {
    const decoder = new FrameDecoder((f) => {
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => (w.test(f) ? (w.resolve(f), false) : true));
    });
    socket.on('data', (chunk) => decoder.push(chunk));
    socket.on('close', () => this.closed.resolve());
    socket.on('error', () => undefined);
  }

  /** Connects to 127.0.0.1:`port`; with `handshake`, sends a Connect and waits for the Connack. */
  static async open(port: number, handshake = true): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const peer = new RawPeer(socket);
    if (handshake) {
      const connack = peer.next((f) => f.flag === Flags.Connack);
      peer.write(connectFrame(port));
      await connack;
    }
    return peer;
  }

  write(...frames: Buffer[]): void {
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** The first frame (already received or coming) that passes `test`. */
  next(test: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  /** The Close frame's code, once the server closed the socket (undefined without a Close). */
  async closeCode(): Promise<string | undefined> {
    await this.closed.promise;
    const close = this.frames.find((f) => f.flag === Flags.Close);
    return close?.metaString;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function connectFrame(port: number): Buffer {
  const url = `tcp://127.0.0.1:${port}/raw`;
  return encodeFrame({ flag: Flags.Connect, sid: 'a'.repeat(32), event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) });
}

export function frameBytes(flag: Frame['flag'], sid: string, event: string, metaString = '', data: Buffer | string = ''): Buffer {
  return encodeFrame({ flag, sid, event, metaString, data: Buffer.isBuffer(data) ? data : Buffer.from(data) });
}

/** A logger that keeps what it is told (tests read it instead of stderr). */
export class MemoryLogger implements EngineLogger {
  readonly lines: string[] = [];
  log(m: string): void { this.lines.push(`log ${m}`); }
  warn(m: string): void { this.lines.push(`warn ${m}`); }
  error(m: string): void { this.lines.push(`error ${m}`); }
  debug(m: string): void { this.lines.push(`debug ${m}`); }
  has(level: string, pattern: RegExp): boolean {
    return this.lines.some((l) => l.startsWith(`${level} `) && pattern.test(l));
  }
}
