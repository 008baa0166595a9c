/**
 * A server, broker player or broker in a child process of its own, so a fault test can SIGKILL
 * it. Plain ESM over the BUILT library (dist/lib: `npm run build` first). Its stdin must be a
 * pipe: it exits when the parent goes away.
 *
 *   node test/broker/fault-process.mjs '{"role":"server","schema":"tcp"}'
 *   node test/broker/fault-process.mjs '{"role":"player","url":"sd:ws://127.0.0.1:PORT/","name":"svc"}'
 *   node test/broker/fault-process.mjs '{"role":"broker","schema":"ws"}'   (`"defaults":true`: default options)
 *   node test/broker/fault-process.mjs '{"role":"nest-player","url":"sd:tcp://127.0.0.1:PORT/","name":"svc"}'
 *
 * Prints `READY <port>` (a player: `READY 0`) once listening or connected. A Nest player (a
 * SocketDServer in player mode) serves `ticks`: the data's count of values, one every 20 ms.
 * What a server or an engine player answers:
 *   echo   ReplyEnd with the same data
 *   hold   never answered; prints `GOT hold` when it arrives
 *   items  Subscribe: one Reply (`0`, `1`, ...) every 2 ms, the data's count of them, then ReplyEnd;
 *          prints `GOT items`
 *   big    Reply `small`, then one Reply of 20 MiB (fragmented at 1 MiB), then ReplyEnd (a Request:
 *          one ReplyEnd of 20 MiB); prints `GOT big`
 */
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DIST = new URL('../../dist/lib/', import.meta.url);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const engine = await import(fileURLToPath(new URL('engine.js', DIST)));
const BIG = 20 * 1024 * 1024;
const say = (line) => writeSync(1, `${line}\n`);

function onMessage(session, m) {
  switch (m.event) {
    case 'echo':
      session.replyEnd(m, m.data);
      return;
    case 'hold':
      say('GOT hold');
      return;
    case 'items': {
      say('GOT items');
      const n = Number(m.dataAsString());
      let i = 0;
      const timer = setInterval(() => {
        if (m.isDone || !session.isOpen) return clearInterval(timer);
        if (i < n) session.reply(m, String(i++));
        else {
          clearInterval(timer);
          session.replyEnd(m);
        }
      }, 2);
      return;
    }
    case 'big':
      say('GOT big');
      if (m.isSubscribe) {
        session.reply(m, 'small');
        session.reply(m, Buffer.alloc(BIG, 7));
        session.replyEnd(m);
      } else {
        session.replyEnd(m, Buffer.alloc(BIG, 7));
      }
      return;
    default:
      if (m.isRequest || m.isSubscribe) session.alarm(m, `no handler for ${m.event}`);
  }
}

// A Nest SocketDServer in player mode: `ticks` streams the data's count of values, one every 20 ms.
async function nestPlayer() {
  await import('reflect-metadata');
  const { Controller, Module } = await import('@nestjs/common');
  const { MessagePattern } = await import('@nestjs/microservices');
  const { NestFactory } = await import('@nestjs/core');
  const { interval, take } = await import('rxjs');
  const { SocketDServer } = await import(fileURLToPath(new URL('index.js', DIST)));
  class TicksController {
    ticks(n) {
      say('GOT ticks');
      return interval(20).pipe(take(Number(n)));
    }
  }
  MessagePattern('ticks')(TicksController.prototype, 'ticks', Object.getOwnPropertyDescriptor(TicksController.prototype, 'ticks'));
  Controller()(TicksController);
  class TicksModule {}
  Module({ controllers: [TicksController] })(TicksModule);
  const strategy = new SocketDServer({ player: { urls: spec.url, name: spec.name } });
  const app = await NestFactory.createMicroservice(TicksModule, { strategy, logger: false });
  await app.listen();
}

const quiet = { logger: false, fragmentSize: 1024 * 1024 };
if (spec.role === 'nest-player') {
  await nestPlayer();
  say('READY 0');
} else if (spec.role === 'player') {
  const client = new engine.SdClient(`${spec.url}?@=${spec.name}`, { ...quiet, autoReconnect: false, onMessage });
  await client.connect();
  say('READY 0');
} else if (spec.role === 'broker') {
  // `defaults`: every option at its default (the attack tests), the logger aside.
  const broker = await engine.listenBroker(`sd:${spec.schema}://127.0.0.1:0`, spec.defaults ? { logger: false } : quiet);
  say(`READY ${broker.address().port}`);
} else {
  const server = new engine.SdServer(`sd:${spec.schema}://127.0.0.1:0`, { ...quiet, onMessage });
  await server.listen();
  say(`READY ${server.address().port}`);
}
