/**
 * Server child: `node dist-bench/bench/server.js <transport>`. Starts the transport's server,
 * sends `{ type: 'ready', port }` over IPC, then answers the parent's commands (event count,
 * RSS sampling, exit).
 */
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { findTransport, loadTransport } from './transports/index.js';
import { eventCount, resetEvents, whenEvents } from './server-state.js';
import { RssSampler } from './rss.js';
import type { BenchServerHandle, ParentToServer, ServerToParent } from './types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function send(m: ServerToParent): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  const entry = findTransport(name);
  if (!entry) throw new Error(`unknown transport ${name}`);
  const mod = await loadTransport(entry);
  const ok = await mod.available(entry.kind);
  if (ok !== true) throw new Error(ok);
  const handle: BenchServerHandle = await mod.startServer(entry.kind);
  const rss = new RssSampler();

  process.on('message', (m: ParentToServer) => {
    const reply = (value?: unknown) => send({ type: 'reply', id: m.id, value });
    switch (m.cmd) {
      case 'reset':
        resetEvents();
        reply();
        break;
      case 'count':
        reply(eventCount());
        break;
      case 'expect':
        whenEvents(m.n, () => reply(eventCount()));
        break;
      case 'rss-start':
        rss.start();
        reply();
        break;
      case 'rss-stop':
        reply(rss.stop());
        break;
      case 'usage': {
        if (m.gc) {
          gc();
          gc();
        }
        const cpu = process.cpuUsage();
        const mem = process.memoryUsage();
        reply({ rss: mem.rss, heapUsed: mem.heapUsed, cpuUs: cpu.user + cpu.system });
        break;
      }
      case 'exit':
        void handle
          .close()
          .catch(() => undefined)
          .finally(() => {
            reply();
            setTimeout(() => process.exit(0), 20);
          });
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: handle.port });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 50);
});
