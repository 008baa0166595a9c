/**
 * A server for the cluster client tests, in a child process of its own so a test can SIGKILL it
 * (no Close, no FIN from the engine: the kernel resets its sockets) and start it again on the
 * same port. Plain ESM over the BUILT library (dist/lib: run `npm run build` first).
 *
 *   node test/engine/cluster-server.mjs '{"schema":"tcp","port":0,"name":"a"}'
 *
 * Prints `READY <port>` once listening; exits when its stdin ends (the parent died). Events:
 *   who    Request → ReplyEnd with the server's `name`
 *   never  Request/Subscribe that is never answered (a call in flight when the server dies)
 *   note   Message → counted;  notes  Request → ReplyEnd with the count
 */
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DIST = new URL('../../dist/lib/', import.meta.url);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const { SdServer } = await import(fileURLToPath(new URL('engine.js', DIST)));
let notes = 0;
const server = new SdServer(`sd:${spec.schema ?? 'tcp'}://127.0.0.1:${spec.port ?? 0}`, {
  logger: false,
  onMessage(session, m) {
    if (m.event === 'who') session.replyEnd(m, String(spec.name));
    else if (m.event === 'note') notes++;
    else if (m.event === 'notes') session.replyEnd(m, String(notes));
    else if (m.event !== 'never' && (m.isRequest || m.isSubscribe)) session.alarm(m, `no handler for ${m.event}`);
  },
});
await server.listen();
process.stdout.write(`READY ${server.address().port}\n`);
