import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Frame } from '../../lib/protocol/frame.js';
import type { SocketDError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { TcpClientTransport, TcpServerTransport, type TcpServerOptions } from '../../lib/transports/tcp-transport.js';
import { parseUrl } from '../../lib/engine.js';
import { WsClientTransport, WsServerTransport, type WsServerOptions } from '../../lib/transports/ws-transport.js';
import type { Connection, ConnectionHandlers, ServerTransport } from '../../lib/session/connection.js';

/** A Message frame with sid = its index, so order can be checked. */
export function messageFrame(i: number, data: Buffer = Buffer.from(`payload-${i}`)): Buffer {
  return encodeFrame({ flag: Flags.Message, sid: String(i), event: '/e', metaString: 'k=v', data });
}

/** Records what a connection reports and lets a test await it. */
export class Recorder implements ConnectionHandlers {
  readonly frames: Frame[] = [];
  readonly protocolErrors: SocketDError[] = [];
  drains = 0;
  closes: (Error | undefined)[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(readonly connection?: Connection) {
    connection?.setHandlers(this);
  }

  onFrame(frame: Frame): void {
    // Copy: data may be a view into a receive buffer.
    this.frames.push({ ...frame, data: Buffer.from(frame.data) });
    this.check();
  }
  onProtocolError(err: SocketDError): void {
    this.protocolErrors.push(err);
    this.check();
  }
  onDrain(): void {
    this.drains++;
    this.check();
  }
  onClose(err?: Error): void {
    this.closes.push(err);
    this.check();
  }

  /** Resolves once `pred` holds (checked on every event). */
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }
}

/** A queue of values pushed by callbacks, awaited one by one. */
export class Queue<T> {
  private items: T[] = [];
  private takers: ((v: T) => void)[] = [];
  push = (v: T): void => {
    const t = this.takers.shift();
    if (t) t(v);
    else this.items.push(v);
  };
  next(): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve) => this.takers.push(resolve));
  }
}

/** What a test opened; a spec file runs them with `afterEach(runCleanups)` (module state is per test file). */
export const cleanups: (() => unknown)[] = [];
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!();
}

export interface Started<S extends ServerTransport> {
  server: S;
  port: number;
  /** The connections the server accepted, in order. */
  accepted: Queue<Connection>;
}

async function listen<S extends ServerTransport>(server: S, port: () => number): Promise<Started<S>> {
  const accepted = new Queue<Connection>();
  await server.listen((c) => {
    cleanups.push(() => c.destroy());
    accepted.push(c);
  });
  cleanups.push(() => server.close());
  return { server, port: port(), accepted };
}

/** A TCP server on 127.0.0.1, port 0. */
export function startTcpServer(options: TcpServerOptions = {}): Promise<Started<TcpServerTransport>> {
  const server = new TcpServerTransport('127.0.0.1', 0, options);
  return listen(server, () => server.address()!.port);
}

/** A WebSocket server on 127.0.0.1, port 0, or attached to `options.httpServer`. */
export function startWsServer(options: WsServerOptions = {}): Promise<Started<WsServerTransport>> {
  const server = new WsServerTransport('127.0.0.1', 0, options);
  const http = options.httpServer;
  return listen(server, () => (http ? (http.address() as { port: number }).port : server.address()!.port));
}

export async function dialTcp(port: number, options = {}): Promise<Connection> {
  const c = await new TcpClientTransport().connect(parseUrl(`sd:tcp://127.0.0.1:${port}`), { connectTimeout: 5000, ...options });
  cleanups.push(() => c.destroy());
  return c;
}

export async function dialWs(url: string, options = {}): Promise<Connection> {
  const c = await new WsClientTransport().connect(parseUrl(url), { connectTimeout: 5000, ...options });
  cleanups.push(() => c.destroy());
  return c;
}

/** A plain TCP socket; resolves once connected. */
export async function rawSocket(port: number): Promise<Socket> {
  const s = netConnect({ host: '127.0.0.1', port });
  cleanups.push(() => s.destroy());
  await once(s, 'connect');
  return s;
}

/** A plain ws client; resolves once open. */
export async function rawWs(port: number, protocols: string[] = ['Socket.D']): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
  cleanups.push(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

/** The HTTP status of a refused upgrade. */
export async function upgradeStatus(port: number, path: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
  ws.on('error', () => {}); // terminate() while connecting emits one
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  res.destroy();
  ws.terminate();
  return res.statusCode;
}

/** Counts the writes (writev calls and single writes) of a connection's socket and their chunks (the socket is private: test-only access). */
export function spyWrites(c: Connection): { calls: number; chunks: number } {
  type Writes = { _writev(chunks: unknown[], cb: unknown): void; _write(chunk: unknown, enc: unknown, cb: unknown): void };
  const socket = (c as unknown as { socket: Writes }).socket;
  const stats = { calls: 0, chunks: 0 };
  const origWritev = socket._writev.bind(socket);
  socket._writev = (chunks, cb) => {
    stats.calls++;
    stats.chunks += chunks.length;
    origWritev(chunks, cb);
  };
  const origWrite = socket._write.bind(socket);
  socket._write = (chunk, enc, cb) => {
    stats.calls++;
    stats.chunks++;
    origWrite(chunk, enc, cb);
  };
  return stats;
}

/**
 * An https.Server on 127.0.0.1 with the self-signed test certificate of `fixtures/` (for
 * 127.0.0.1/localhost, valid 100 years), closed by `runCleanups`; `cert` is the CA to trust.
 */
export async function listenHttpsWithTestCert(): Promise<{ https: HttpsServer; cert: Buffer }> {
  const cert = readFileSync(new URL('./fixtures/tls-cert.pem', import.meta.url));
  const key = readFileSync(new URL('./fixtures/tls-key.pem', import.meta.url));
  const https = createHttpsServer({ cert, key });
  cleanups.push(() => https.close());
  https.listen(0, '127.0.0.1');
  await once(https, 'listening');
  return { https, cert };
}
