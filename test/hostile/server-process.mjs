/**
 * The server a hostile test attacks, in a child process of its own (so its RSS is its own and
 * a crash does not take the test runner down). Plain ESM over the BUILT library (dist/lib:
 * run `npm run build` first), since a child process cannot use jest's TypeScript transform.
 *
 *   node test/hostile/server-process.mjs '{"kind":"engine","schema":"tcp","options":{...}}'
 *
 * kind `engine`: an `SdServer`; kind `nest`: a Nest microservice on `SocketDServer`; kind
 * `broker`: an `SdBroker` with one player `echo` (an `SdClient` in this process answering `echo`).
 * Prints `READY <port>` on stdout once listening. Events both kinds serve:
 *   echo   Request → ReplyEnd with the same data (the well-behaved client's call)
 *   never  Request/Subscribe that is never answered (open streams)
 *   huge   Subscribe → a stream of 1e6 Replies (Nest: `range(0, 1e6)`; `huge-interval`: `interval(0)`)
 *   big    Subscribe → Nest only: a stream of 10 000 values of 100 KB each (`range` mapped), produced at once
 * It samples its memory budget (`server.memory`) every 5 ms: a line `MEM` on stdin is answered
 * with `MEM <peak bytes charged> <peak bytes charged to 127.0.0.2, the attackers' address>`
 * on stdout, and the peaks start over.
 * An uncaught exception or unhandled rejection is written to stderr as one line starting with
 * `HOSTILE-UNCAUGHT` and the process carries on, so a fuzz run can count them (the suite asserts none).
 */
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const kind = spec.kind ?? 'engine';
const schema = spec.schema ?? 'tcp';
const options = spec.options ?? {};
const DIST = new URL('../../dist/lib/', import.meta.url);

function report(what, err) {
  const text = err instanceof Error ? `${err.stack ?? err.message}` : String(err);
  process.stderr.write(`HOSTILE-UNCAUGHT ${what} ${text.replace(/\n/g, '\\n')}\n`);
}
process.on('uncaughtException', (err) => report('uncaughtException', err));
process.on('unhandledRejection', (err) => report('unhandledRejection', err));
process.on('SIGTERM', () => process.exit(0));
// The parent's end of stdin closes when it dies: do not outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

// The attackers connect from this address (test/hostile/harness.ts ATTACKER_ADDRESS).
const ATTACKER_IP = '127.0.0.2';
let memory;
let peakUsed = 0;
let peakAttacker = 0;
function sampleMemory() {
  if (memory === undefined) return;
  peakUsed = Math.max(peakUsed, memory.used);
  peakAttacker = Math.max(peakAttacker, memory.usedBy(ATTACKER_IP), memory.usedBy(`::ffff:${ATTACKER_IP}`));
}
setInterval(sampleMemory, 5).unref();
let input = '';
process.stdin.on('data', (chunk) => {
  input += chunk.toString();
  let nl;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    if (line === 'MEM') {
      sampleMemory();
      process.stdout.write(`MEM ${peakUsed} ${peakAttacker}\n`);
      peakUsed = peakAttacker = 0;
    }
  }
});

const url = `sd:${schema}://127.0.0.1:0`;

async function startEngine() {
  const { SdServer } = await import(fileURLToPath(new URL('engine.js', DIST)));
  const streams = Number(options.hugeCount ?? 1e6);
  const server = new SdServer(url, {
    ...options,
    onMessage(session, m) {
      switch (m.event) {
        case 'echo':
          session.replyEnd(m, m.data);
          return;
        case 'never':
          return; // left open on purpose
        case 'huge': {
          // Replies until the transport pushes back, then on drain (a well-behaved producer).
          let i = 0;
          const pump = () => {
            while (i < streams && !m.isDone && session.isOpen) {
              if (!session.reply(m, String(i++))) {
                session.drain().then(pump, () => undefined);
                return;
              }
            }
            if (i >= streams && !m.isDone && session.isOpen) session.replyEnd(m, '');
          };
          pump();
          return;
        }
        default:
          if (m.isRequest || m.isSubscribe) session.alarm(m, `no handler for ${m.event.slice(0, 64)}`);
      }
    },
  });
  await server.listen();
  memory = server.memory;
  return server.address().port;
}

async function startNest() {
  await import('reflect-metadata');
  const { Controller, Module } = await import('@nestjs/common');
  const { MessagePattern, EventPattern } = await import('@nestjs/microservices');
  const { NestFactory } = await import('@nestjs/core');
  const { NEVER, interval, range, map } = await import('rxjs');
  const PAD = 'x'.repeat(100_000);
  const { SocketDServer } = await import(fileURLToPath(new URL('index.js', DIST)));

  class HostileController {
    echo(data) {
      return data;
    }
    huge() {
      return range(0, 1e6);
    }
    hugeInterval() {
      return interval(0);
    }
    big() {
      // Each value is its own 100 KB once serialized (JSON.stringify copies the pad).
      return range(0, 10_000).pipe(map((i) => ({ i, pad: PAD })));
    }
    never() {
      return NEVER;
    }
    notify() {}
  }
  const decorate = (pattern, method, decorator = MessagePattern) =>
    decorator(pattern)(HostileController.prototype, method, Object.getOwnPropertyDescriptor(HostileController.prototype, method));
  decorate('echo', 'echo');
  decorate('huge', 'huge');
  decorate('huge-interval', 'hugeInterval');
  decorate('big', 'big');
  decorate('never', 'never');
  decorate('notify', 'notify', EventPattern);
  Controller()(HostileController);
  class HostileModule {}
  Module({ controllers: [HostileController] })(HostileModule);

  const strategy = new SocketDServer({ ...options, url });
  const app = await NestFactory.createMicroservice(HostileModule, { strategy, logger: false });
  await app.listen();
  memory = strategy.engine.memory; // the strategy's SdServer (a protected field, read here only)
  return strategy.address().port;
}

async function startBroker() {
  const { SdBroker, SdClient } = await import(fileURLToPath(new URL('engine.js', DIST)));
  const broker = await new SdBroker(url, options).listen();
  memory = broker.unwrap().memory;
  const port = broker.address().port;
  const player = new SdClient(`sd:${schema}://127.0.0.1:${port}/?@=echo`, {
    heartbeatInterval: 0,
    onMessage(session, m) {
      if (m.event === 'echo') session.replyEnd(m, m.data);
    },
  });
  await player.connect();
  return port;
}

const port = kind === 'nest' ? await startNest() : kind === 'broker' ? await startBroker() : await startEngine();
process.stdout.write(`READY ${port}\n`);
