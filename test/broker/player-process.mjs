/**
 * A broker player in a child process of its own (so a test can SIGKILL it), over the BUILT
 * library (dist/lib: `npm run build` first). Its stdin must be a pipe: it exits when the parent
 * goes away.
 *
 *   node test/broker/player-process.mjs '{"url":"sd:tcp://127.0.0.1:PORT/","name":"svc","id":1}'
 *
 * Prints `READY` once its session is open. Events: /echo (ReplyEnd with the data and
 * `who=name#id`), /never (never answered).
 */
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DIST = new URL('../../dist/lib/', import.meta.url);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const { SdClient } = await import(fileURLToPath(new URL('engine.js', DIST)));
const who = `${spec.name}#${spec.id}`;
const client = new SdClient(`${spec.url}?@=${spec.name}&id=${spec.id}`, {
  logger: false,
  autoReconnect: false,
  onMessage(session, m) {
    if (m.event === '/echo') session.replyEnd(m, m.data, `who=${who}`);
  },
});
await client.connect();
process.stdout.write('READY\n');
