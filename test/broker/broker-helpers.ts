/** Shared pieces of the broker tests: a broker on a free port, players, raw slow peers. */
import net from 'node:net';
import WebSocket from 'ws';
import '../../lib/engine.js';
import { SdBroker, type BrokerOptions } from '../../lib/broker/index.js';
import { SdClient } from '../../lib/session/client.js';
import type { ClientOptions, ReceivedMessage, Session } from '../../lib/session/types.js';
import { encodeFrame, Flags, FrameDecoder, type Frame } from '../../lib/protocol/index.js';

export type Schema = 'tcp' | 'ws';
export const SCHEMAS: Schema[] = ['tcp', 'ws'];
export const QUIET = { logger: false as const };

export async function startBroker(schema: Schema, options: BrokerOptions = {}): Promise<{ broker: SdBroker; url: string; port: number }> {
  const broker = await new SdBroker(`sd:${schema}://127.0.0.1:0`, { ...QUIET, ...options }).listen();
  const port = broker.address()!.port;
  return { broker, url: `sd:${schema}://127.0.0.1:${port}/`, port };
}

/** An in-process player `name#id`: echo (Reply with who/at), count N (Subscribe), fail, never. */
export async function player(url: string, name: string, id: string | number, extra: ClientOptions = {}): Promise<{ client: SdClient; got: ReceivedMessage[]; cancels: string[] }> {
  const got: ReceivedMessage[] = [];
  const cancels: string[] = [];
  const who = `${name}#${id}`;
  const client = new SdClient(`${url}?@=${name}&id=${id}`, {
    ...QUIET,
    autoReconnect: false,
    onMessage(session: Session, m: ReceivedMessage) {
      got.push(m);
      switch (m.event) {
        case '/echo':
          session.replyEnd(m, m.data, `who=${who}`);
          return;
        case '/count': {
          const n = Number(m.dataAsString());
          let i = 0;
          const pump = (): void => {
            while (i < n && !m.isDone && session.isOpen) {
              if (!session.reply(m, String(i++), `who=${who}`)) { void session.drain().then(pump); return; }
            }
            if (i >= n && !m.isDone && session.isOpen) session.replyEnd(m, '', `who=${who}`);
          };
          pump();
          return;
        }
        case '/fail':
          session.alarm(m, 'failed on purpose', 'code=4001');
          return;
        case '/never':
          m.onCancel(() => cancels.push(m.dataAsString()));
          return;
        default:
      }
    },
    ...extra,
  });
  await client.connect();
  return { client, got, cancels };
}

export async function requester(url: string, name = 'cli', extra: ClientOptions = {}): Promise<SdClient> {
  const client = new SdClient(name === '' ? url : `${url}?@=${name}`, { ...QUIET, autoReconnect: false, ...extra });
  await client.connect();
  return client;
}

export async function until(test: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A hand-driven peer over tcp or ws that handshakes, then can stop reading its socket. */
export class RawPeer {
  readonly frames: Frame[] = [];
  bytes = 0;
  private readonly decoder = new FrameDecoder((f) => this.frames.push(f));
  private constructor(private readonly pauseFn: (on: boolean) => void, readonly write: (b: Buffer) => void, readonly end: () => void) {}

  static async open(schema: Schema, port: number, query: string): Promise<RawPeer> {
    const link = `${schema}://127.0.0.1:${port}/${query}`;
    const connect = encodeFrame({ flag: Flags.Connect, sid: 'c0', event: link, metaString: 'Socket.D=1.0', data: Buffer.from(link) });
    let peer!: RawPeer;
    if (schema === 'tcp') {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      peer = new RawPeer((on) => (on ? socket.pause() : socket.resume()), (b) => socket.write(b), () => socket.destroy());
      socket.on('data', (chunk: Buffer) => peer.take(chunk));
      socket.write(connect);
    } else {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`, 'Socket.D');
      ws.on('error', () => undefined);
      await new Promise((r) => ws.once('open', r));
      const sock = (ws as unknown as { _socket: net.Socket })._socket;
      peer = new RawPeer((on) => (on ? sock.pause() : sock.resume()), (b) => ws.send(b), () => ws.terminate());
      ws.on('message', (data: Buffer) => peer.take(data));
      ws.send(connect);
    }
    await until(() => peer.frames.some((f) => f.flag === Flags.Connack), 5000, 'Connack');
    return peer;
  }

  private take(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.decoder.push(chunk);
  }

  pause(): void { this.pauseFn(true); }
  resume(): void { this.pauseFn(false); }
}
