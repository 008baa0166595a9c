/**
 * Our engine without Nest: `listen(url, { onMessage })` and `connect(url)` from lib/index.ts,
 * over `sd:tcp` (kind `tcp`) or `sd:ws` (kind `ws`). JSON payloads are stringified/parsed by
 * the client (as an engine user would); the server echoes bytes as received.
 */
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { countEvent, eventCount } from '../server-state.js';
import { findPort, requireExports, type Lib } from './lib-loader.js';
import { benchServerOptions } from './index.js';

const HOST = '127.0.0.1';
const NEEDS = ['listen', 'connect'] as const;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

async function lib(): Promise<Lib> {
  const l = await requireExports(NEEDS);
  if (typeof l === 'string') throw new Error(l);
  return l;
}

async function sendStream(session: Any, msg: Any, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (msg.isDone) return; // cancelled or closed
    if (!session.reply(msg, String(i))) await session.drain();
  }
  session.replyEnd(msg);
}

export const transport: BenchTransportModule = {
  async available() {
    const l = await requireExports(NEEDS);
    return typeof l === 'string' ? l : true;
  },

  bufferNote() {
    return 'raw bytes';
  },

  async startServer(kind: string): Promise<BenchServerHandle> {
    const { listen } = await lib();
    const server: Any = await listen(`sd:${kind}://${HOST}:0`, {
      ...benchServerOptions(),
      onMessage(session: Any, msg: Any) {
        switch (msg.event) {
          case 'echo':
          case 'buf':
            session.replyEnd(msg, msg.data);
            break;
          case 'ev':
            countEvent();
            break;
          case 'put':
            session.replyEnd(msg, String(msg.data.length));
            break;
          case 'count':
            session.replyEnd(msg, String(eventCount()));
            break;
          case 'stream':
            void sendStream(session, msg, Number(msg.data.toString()));
            break;
          default:
            if (msg.isRequest || msg.isSubscribe) session.alarm(msg, `no handler for ${msg.event}`);
        }
      },
    });
    const port = findPort(server);
    if (!port) throw new Error('socketd-engine: cannot find the bound port (expected address()/unwrap())');
    return {
      port,
      async close() {
        await server.close?.();
      },
    };
  },

  async createClient(port: number, kind: string): Promise<BenchClient> {
    const { connect } = await lib();
    // connect() resolves with an SdClient (request/subscribe/send, reconnecting) holding the
    // open Session (sync send() returning false above the high-water mark, drain()).
    const c: Any = await connect(`sd:${kind}://${HOST}:${port}`);
    const session: Any = c.session ?? c;
    return {
      async echo(payload) {
        const r = await c.request('echo', JSON.stringify(payload));
        return JSON.parse(r.data.toString());
      },
      async echoBuffer(buf) {
        return (await c.request('buf', buf)).data.length;
      },
      async put(buf) {
        return Number((await c.request('put', buf)).data.toString());
      },
      emit(payload) {
        session.send('ev', JSON.stringify(payload));
      },
      async drain() {
        if (typeof session.drain === 'function') await session.drain();
      },
      stream(n, onItem) {
        let count = 0;
        return new Promise<number>((resolve, reject) => {
          void Promise.resolve(c.subscribe('stream', String(n), {
            next() {
              count++;
              if (onItem) onItem();
            },
            complete: () => resolve(count),
            error: reject,
          })).catch(reject);
        });
      },
      async close() {
        await c.close?.();
      },
    };
  },
};
